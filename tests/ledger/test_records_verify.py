"""`records.verify` merges each table, read in row_key order, with the history's latest snapshots in the same
order: a row is matched wherever its key falls, before the first, between, or after the last recorded key."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger_mcp.ledger import chain, records
from ledger_mcp.ledger.db import Database

pytestmark = pytest.mark.anyio


async def _insert_account(db: Database, number: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO account (number, name, type, category, report_group, is_system, is_active, created_at) "
            "VALUES (:n, 'Beside the ledger', 'expense', 'office', 'pl.other', :f, :t, '2026-01-01T00:00:00Z')"),
            {"n": number, "f": False, "t": True})


@pytest.mark.parametrize("number", ["0", "1200a", "4931", "ZZZZ", "\u00e4", "12\n00"])
async def test_a_row_without_history_is_named_wherever_its_key_sorts(db: Database, number: str) -> None:
    assert (await db.read(records.verify)).problem is None
    await _insert_account(db, number)
    check = await db.read(records.verify)
    assert check.problem is not None and check.problem["table"] == "account", check.problem
    assert check.problem["row"] == records.canonical([number])
    assert "no recorded history" in check.problem["problem"]


@pytest.mark.parametrize("where", ["number = (SELECT min(number) FROM account)",
                                   "number = (SELECT max(number) FROM account)", "number = '1600'"])
async def test_a_changed_row_is_named_at_either_end_of_the_key_order(db: Database, where: str) -> None:
    async with db.engine.begin() as conn:
        number = (await conn.execute(text(f"SELECT number FROM account WHERE {where}"))).scalar_one()
        await conn.execute(text("UPDATE account SET name = name || '!' WHERE number = :n"), {"n": number})
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None
    assert (report.first_break["table"], report.first_break["row"], report.first_break["column"]) == (
        "account", records.canonical([number]), "name")


async def test_every_row_is_checked(db: Database) -> None:
    async with db.engine.begin() as conn:
        accounts = (await conn.execute(text("SELECT count(*) FROM account"))).scalar_one()
    check = await db.read(records.verify)
    assert check.problem is None and check.coverage["account"] == accounts > 100
