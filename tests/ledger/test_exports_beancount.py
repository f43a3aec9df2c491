"""The Beancount export on the domain: names Beancount accepts, keyset pages that do not change the
file, end_date, and bean-check on the result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.exports import pages
from ledger_mcp.ledger.exports.beancount import account_name, beancount_export
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, ReversalRequest, post_booking, reverse_intent
from tests.conftest import CLI

pytestmark = pytest.mark.anyio


def test_account_names_are_beancount_names() -> None:
    assert account_name("4930", "Bürobedarf", "expense") == "Expenses:4930-Buerobedarf"
    assert account_name("1776", "Umsatzsteuer 19 %", "liability") == "Liabilities:1776-Umsatzsteuer19"
    assert account_name("0800", "Gezeichnetes Kapital (GmbH)", "equity") == "Equity:0800-GezeichnetesKapitalGmbH"
    assert account_name("8400", "", "revenue") == "Income:8400"


async def export_text(db: Database, end_date: str | None = None) -> str:
    exported = await db.read(beancount_export, end_date)
    try:
        return exported.read_bytes().decode()
    finally:
        exported.discard()


async def test_pages_end_date_and_bean_check(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = None
    for day in ("2026-01-15", "2026-02-15", "2026-03-15"):
        posted = await db.write(post_booking, BookingRequest(
            booking_date=day, description=f'Miete "{day}"', skip_duplicate_check=True,
            lines=[BookingLine(debit_account="4210", credit_account="1200", amount="1190.00", tax_code="VSt19"),
                   BookingLine(debit_account="4930", credit_account="1000", amount="10.70", tax_code="VSt7")]), CLI)
        first = first or posted
    assert first is not None
    storno = await db.write(reverse_intent, ReversalRequest(intent_id=first.intent_id, reason="wrong"), CLI)
    whole = await export_text(db)
    monkeypatch.setattr(pages, "PAGE", 3)
    assert await export_text(db) == whole
    assert whole.count(" * ") == 4 and f"#reversal ^intent-{storno.intent_id} ^intent-{first.intent_id}" in whole
    assert '"Miete \\"2026-01-15\\""' in whole
    assert "2026-03-16 balance Assets:1200-Bank  -2380.00 EUR" in whole  # the first month reversed

    february = await export_text(db, "2026-02-28")
    assert february.count(" * ") == 3 and "2026-02-16 balance Assets:1200-Bank  -1190.00 EUR" in february
    path = tmp_path / "ledger.beancount"
    for text in (whole, february):
        path.write_text(text)
        check = subprocess.run([str(Path(sys.executable).parent / "bean-check"), str(path)], capture_output=True,
                               text=True, env={"BEANCOUNT_DISABLE_LOAD_CACHE": "1", "PATH": ""})
        assert check.returncode == 0, check.stderr
    path.write_text(whole.replace("balance Assets:1200-Bank  -2380.00", "balance Assets:1200-Bank  -2381.00"))
    check = subprocess.run([str(Path(sys.executable).parent / "bean-check"), str(path)], capture_output=True,
                           text=True, env={"BEANCOUNT_DISABLE_LOAD_CACHE": "1", "PATH": ""})
    assert check.returncode != 0 and "Balance failed" in check.stderr
