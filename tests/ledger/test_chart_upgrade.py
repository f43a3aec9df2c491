"""A ledger created by an earlier version gains the accounts and tax codes the shipped chart has since
gained when the server starts, and keeps what its user changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Boolean, Connection, String, column, insert, table
from sqlmodel import select

from ledger_mcp import migrations
from ledger_mcp.ledger import records
from ledger_mcp.ledger.accounts import TaxCodeChanges, chart_additions, save_tax_code
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.models import Account, TaxCode
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings

pytestmark = pytest.mark.anyio

_CREATED = "2026-11-22T03:44:23.924952Z"
_TAX = {"description": "", "self_assess_account": None, "datev_bu_key": None, "is_active": True}
# What an earlier version wrote: part of SKR03, the four codes it knew, and the user's own changes:
# VSt19 relabelled, a code EU7 of the user's own, and 1588 used for something else than import VAT.
OLD_LEDGER: dict[str, list[dict[str, Any]]] = {
    "ledger_meta": [{"key": "chart", "value": "skr03"}, {"key": "base_currency", "value": "EUR"},
                    {"key": "created_at", "value": _CREATED}],
    "account": [{"number": n, "name": name, "type": t, "category": c, "report_group": g, "is_system": s,
                 "is_active": True, "created_at": _CREATED} for n, name, t, c, g, s in [
        ("1200", "Bank", "asset", "bank", "bs.current_assets.cash", True),
        ("1571", "Abziehbare Vorsteuer 7 %", "asset", "input_vat", "bs.current_assets.other", True),
        ("1576", "Abziehbare Vorsteuer 19 %", "asset", "input_vat", "bs.current_assets.other", True),
        ("1776", "Umsatzsteuer 19 %", "liability", "output_vat", "bs.liabilities.tax", True),
        ("1588", "Kaution Lager", "asset", "other_receivables", "bs.current_assets.other", False)]],
    "tax_code": [
        {**_TAX, "code": "VSt19", "label": "Vorsteuer 19 % (our label)", "rate": "19", "kind": "input",
         "vat_account": "1576", "datev_bu_key": "9", "is_system": True},
        {**_TAX, "code": "USt19", "label": "Output VAT 19 %", "rate": "19", "kind": "output",
         "vat_account": "1776", "datev_bu_key": "3", "is_system": True},
        {**_TAX, "code": "EXEMPT", "label": "VAT exempt 0 %", "rate": "0", "kind": "exempt", "vat_account": None,
         "is_system": True},
        {**_TAX, "code": "EU7", "label": "our own 7 % code", "rate": "7", "kind": "input", "vat_account": "1571",
         "is_system": False}],
}


def _insert_old_ledger(connection: Connection) -> None:
    for name, rows in OLD_LEDGER.items():
        columns = [column(key, Boolean() if isinstance(value, bool) else String()) for key, value in rows[0].items()]
        connection.execute(insert(table(name, *columns)), rows)


async def _codes(db: Database) -> dict[str, TaxCode]:
    async def read(session: Any) -> dict[str, TaxCode]:
        return {t.code: t for t in (await session.exec(select(TaxCode))).all()}
    return await db.read(read)


async def test_an_old_ledger_gains_the_new_accounts_and_tax_codes_and_keeps_its_own(settings: Settings) -> None:
    settings.prepare()
    db = Database(settings.database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrations.upgrade, migrations.BASELINE)
            await conn.run_sync(_insert_old_ledger)
        await prepare_ledger(db, "skr03")
        codes = await _codes(db)
        assert {"IGL", "RC19", "EU19", "RC19B2", "USt16", "EUSL", "IGLFZ", "VSt7", "USt7"} <= set(codes)
        assert codes["RC19B2"].vat_account == "1577" and codes["RC19B2"].self_assess_account == "1787"
        assert codes["IGL"].is_system and codes["USt16"].vat_account == "1775"
        # The user's changes stand: their label, their own EU7, their 1588 (so no import VAT code on it).
        assert codes["VSt19"].label == "Vorsteuer 19 % (our label)"
        assert (codes["EU7"].label, codes["EU7"].is_system, codes["EU7"].vat_account) == ("our own 7 % code",
                                                                                             False, "1571")
        assert "EUSt" not in codes
        account = await db.read(lambda s: s.get(Account, "1588"))
        assert account is not None and (account.name, account.category) == ("Kaution Lager", "other_receivables")
        added = await db.read(lambda s: s.get(Account, "1772"))
        assert added is not None and added.is_system and added.category == "output_vat"
        # Added through the ledger: the record history covers the new rows.
        check = await db.read(records.verify)
        assert check.problem is None, check.problem
        # Nothing left to add: the next start writes nothing.
        assert await db.read(chart_additions) == ([], [])
        head = check.head
        await prepare_ledger(db, "skr03")
        assert (await db.read(records.verify)).head == head
    finally:
        await db.dispose()


async def test_a_new_ledger_has_every_shipped_code(db: Database) -> None:
    codes = await _codes(db)
    assert {"EU7", "EUSt", "RC19B2", "USt16", "EUSL", "IGLFZ", "IGL"} <= set(codes)
    assert codes["EUSt"].vat_account == "1588" and codes["EU7"].vat_account == "1572"
    assert await db.read(chart_additions) == ([], [])


async def test_the_import_vat_code_takes_a_new_label_like_any_system_code(db: Database) -> None:
    info, created = await db.write(save_tax_code, TaxCodeChanges(code="EUSt", label="Einfuhrumsatzsteuer"))
    assert not created and (info.label, info.rate, info.kind) == ("Einfuhrumsatzsteuer", "0", "input")
    with pytest.raises(ValidationFailed):  # a code of the user's own still needs a rate to split by
        await db.write(save_tax_code, TaxCodeChanges(code="VSt0", label="x", rate="0", kind="input",
                                                     vat_account="1576"))
