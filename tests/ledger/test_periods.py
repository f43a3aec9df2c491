"""Periods in the domain: closing hashes under tampering, the lock racing a booking, the year-end close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, periods, posting, reports, year_end
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import (
    LedgerError,
    LockRequestStale,
    PeriodLocked,
    PeriodStateConflict,
    YearAlreadyClosed,
)
from ledger_mcp.ledger.fiscal import fiscal_year_bounds, next_period, parse_period, period_bounds, periods_between
from ledger_mcp.ledger.models import Intent, JournalLine, PeriodEvent
from ledger_mcp.ledger.periods import PeriodRequest
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.ledger.year_end import YearEndRequest
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import CLI, fresh_database_url

pytestmark = pytest.mark.anyio

ALICE = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="alice")
BOB = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bob")


def _booking(day: str, debit: str, credit: str, amount: str, key: str | None = None) -> BookingRequest:
    return BookingRequest(booking_date=day, description=f"{debit}/{credit}", idempotency_key=key,
                          lines=[BookingLine(debit_account=debit, credit_account=credit, amount=amount)])


async def _lock(db: Database, period: str) -> periods.PeriodAnswer:
    requested = await db.write(periods.change_period, PeriodRequest(action="request_lock", period=period), ALICE)
    return await db.write(periods.change_period, PeriodRequest(action="approve_lock", period=period,
                                                               request_id=requested.request_id), BOB)


async def _raw(db: Database, *statements: str, params: dict[str, object] | None = None) -> None:
    """Plain SQL on a connection of its own, the way someone with raw database access would edit it
    (foreign key triggers off on PostgreSQL; SQLite checks none on such a connection)."""
    engine = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if not db.is_sqlite:
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for sql in statements:
                await conn.execute(text(sql), params or {})
    finally:
        await engine.dispose()


async def _scalar(db: Database, sql: str) -> object:
    async with db.engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


def test_actor_id_prefers_the_api_key() -> None:
    assert ALICE.actor_id == "user:alice"
    keyed = Provenance(surface="mcp", channel=Channel.API, actor_type="api_key", actor_label="ci",
                       actor_key_prefix="lk_7f")
    assert keyed.actor_id == "api_key:lk_7f"


def test_period_helpers() -> None:
    assert period_bounds("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert next_period("2025-12") == "2026-01"
    assert periods_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert fiscal_year_bounds(2026) == (date(2026, 1, 1), date(2026, 12, 31))
    assert parse_period(" 2026-03 ") == "2026-03"
    with pytest.raises(LedgerError):
        parse_period("2026-00")


async def test_resealed_tampering_in_a_locked_period_breaks_its_closing_hash(db: Database) -> None:
    """Someone who rewrites an amount and recomputes every line hash after it keeps the line chain
    intact but moves the sealed head; one who also rewrites the lock history to the new head still
    cannot make the period's totals match its closing hash."""
    await db.write(posting.post_booking, _booking("2026-01-05", "4930", "1200", "10.00"), CLI)
    await db.write(posting.post_booking, _booking("2026-02-05", "4930", "1200", "20.00"), CLI)
    await _lock(db, "2026-01")

    async def reseal(session: AsyncSession) -> None:
        lines = (await session.exec(select(JournalLine).order_by(col(JournalLine.journal_number)))).all()
        prev = chain.GENESIS_HASH
        for line in lines:
            if line.journal_number == 1:
                line.amount = 100
            intent = await session.get(Intent, line.intent_id)
            assert intent is not None
            chain.seal_line(line, intent.content_hash, prev)
            prev = line.audit_hash
            session.add(line)

    await db.write(reseal)
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.lines_checked == 2
    assert report.first_break is not None and report.first_break["period"] == "2026-01"
    assert "chain head sealed at locking (#2) is missing or changed" in report.first_break["problem"]

    async def rewrite_history(session: AsyncSession) -> None:
        _, head_hash = await chain.head(session)
        prev = chain.GENESIS_HASH
        for event in (await session.exec(select(PeriodEvent).order_by(col(PeriodEvent.seq)))).all():
            if event.action == "approve_lock":
                event.head_hash = head_hash
            event.prev_hash = prev
            event.event_hash = chain.period_event_hash(event)
            prev = event.event_hash
            session.add(event)

    await db.write(rewrite_history)
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None and report.first_break["period"] == "2026-01"
    assert "totals no longer match the closing hash" in report.first_break["problem"]


async def test_removing_the_last_locked_intent_is_detected(db: Database) -> None:
    await db.write(posting.post_booking, _booking("2026-01-05", "4930", "1200", "10.00"), CLI)
    last = await db.write(posting.post_booking, _booking("2026-01-06", "4930", "1200", "20.00"), CLI)
    await _lock(db, "2026-01")
    assert (await db.read(chain.verify_chain)).ok
    await _raw(db, "DELETE FROM journal_line WHERE intent_id = :id", "DELETE FROM intent WHERE id = :id",
               params={"id": last.intent_id})
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None
    assert report.first_break["period"] == "2026-01" and report.first_break["journal_number"] == 2
    assert "missing" in report.first_break["problem"]


EVENT_COLUMNS = [c.name for c in SQLModel.metadata.tables["period_event"].columns]


@pytest.mark.parametrize("column", EVENT_COLUMNS)
async def test_changing_any_lock_event_field_is_detected(db: Database, column: str) -> None:
    await db.write(posting.post_booking, _booking("2026-01-05", "4930", "1200", "10.00"), CLI)
    await _lock(db, "2026-01")
    value = await _scalar(db, f"SELECT {column} FROM period_event WHERE seq = 1")
    numeric = SQLModel.metadata.tables["period_event"].columns[column].type.python_type is int
    if numeric:
        new: object = (value if isinstance(value, int) else 0) + 1000
    else:  # same length: PostgreSQL enforces the column's VARCHAR size
        new = "X" if value is None else f"{value}"[:-1] + ("X" if f"{value}"[-1] != "X" else "Y")
    await _raw(db, f"UPDATE period_event SET {column} = :new WHERE seq = 1", params={"new": new})
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None, column
    assert "lock history" in report.first_break["problem"] or "closing hash" in report.first_break["problem"]


@pytest.mark.parametrize("sql", [
    "UPDATE period_event SET closing_hash = '0000' WHERE action = 'approve_lock'",
    "UPDATE period_event SET actor_id = 'user:alice' WHERE action = 'approve_lock'",
    "DELETE FROM period_event WHERE action = 'request_lock'",
])
async def test_changing_the_lock_history_is_detected(db: Database, sql: str) -> None:
    await db.write(posting.post_booking, _booking("2026-01-05", "4930", "1200", "10.00"), CLI)
    await _lock(db, "2026-01")
    await _raw(db, sql)
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None and report.first_break["period"] == "2026-01"


async def test_a_lock_racing_a_booking_never_lets_the_booking_in_unsealed(db: Database) -> None:
    await db.write(posting.post_booking, _booking("2026-01-05", "4930", "1200", "10.00"), CLI)
    requested = await db.write(periods.change_period, PeriodRequest(action="request_lock", period="2026-01"), ALICE)
    approve = db.write(periods.change_period, PeriodRequest(action="approve_lock", period="2026-01",
                                                            request_id=requested.request_id), BOB)
    late = db.write(posting.post_booking, _booking("2026-01-31", "4930", "1200", "5.00"), CLI)
    outcome = await asyncio.gather(approve, late, return_exceptions=True)
    errors = [o for o in outcome if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], LockRequestStale | PeriodLocked), outcome
    report = await db.read(chain.verify_chain)
    assert report.ok and report.locked_periods_checked == (1 if isinstance(errors[0], PeriodLocked) else 0)


async def test_guard_covers_intents_posted_by_any_path(db: Database) -> None:
    await _lock(db, "2026-01")
    with pytest.raises(PeriodLocked) as raised:
        await db.write(posting.post_legs, category="import", booking_date=date(2026, 1, 2), description="x",
                       legs=[posting.Leg("4930", "1200", 100, None, "amount", None)], provenance=CLI)
    assert raised.value.details["next_open_period"] == "2026-02"


async def _balances(db: Database, end: str) -> dict[str, str]:
    tb = await db.read(reports.trial_balance, None, end)
    assert tb.balanced
    return {row.account: row.closing_balance for row in tb.rows}


async def test_year_end_close_moves_the_result_and_carries_balances(db: Database) -> None:
    await db.write(posting.post_opening_balances, posting.OpeningBalancesRequest(
        booking_date="2025-01-01", balances=[posting.OpeningBalance(account="1200", amount="1000.00", side="debit"),
                                             posting.OpeningBalance(account="0800", amount="1000.00", side="credit")]),
                   CLI)
    await db.write(posting.post_booking, _booking("2025-03-01", "1200", "8400", "500.00"), CLI)
    await db.write(posting.post_booking, _booking("2025-04-01", "4930", "1200", "120.00"), CLI)
    before = await _balances(db, "2025-12-30")

    closed = await db.write(year_end.close_fiscal_year, YearEndRequest(year=2025), ALICE)
    assert closed.result_account == "0869" and closed.result == "380.00"
    assert closed.accounts_closed == 2 and closed.accounts_carried_forward == 3
    after = await _balances(db, "2025-12-31")
    assert after["8400"] == after["4930"] == "0.00" and after["0869"] == "-380.00"
    assert after["1200"] == before["1200"] == "1380.00" and after["9000"] == "0.00"
    carried = await _balances(db, "2026-01-01")
    assert carried == after
    statement = await db.read(reports.account_statement, "1200", "2026-01-01", "2026-01-01")
    assert [line.description for line in statement.lines] == ["Saldenvortrag 1200 aus 2025",
                                                              "Saldenvortrag 1200 nach 2026"]

    with pytest.raises(YearAlreadyClosed):
        await db.write(year_end.close_fiscal_year, YearEndRequest(year=2025), BOB)
    reversed_ = await db.write(year_end.close_fiscal_year, YearEndRequest(year=2025, action="reverse"), BOB)
    assert len(reversed_.reversal_intent_ids) == 2
    assert await _balances(db, "2025-12-31") == before | {"0869": "0.00"}
    again = await db.write(year_end.close_fiscal_year, YearEndRequest(year=2025), ALICE)
    assert again.close_intent_id != closed.close_intent_id
    assert (await db.read(chain.verify_chain)).ok


async def test_year_end_close_is_refused_once_the_year_is_locked(db: Database) -> None:
    await db.write(posting.post_booking, _booking("2025-12-01", "1200", "8400", "500.00"), CLI)
    await db.write(year_end.close_fiscal_year, YearEndRequest(year=2025), ALICE)
    await _lock(db, "2025-12")
    with pytest.raises(PeriodLocked):
        await db.write(year_end.close_fiscal_year, YearEndRequest(year=2025, action="reverse"), ALICE)
    with pytest.raises(PeriodStateConflict):
        await db.write(year_end.close_fiscal_year, YearEndRequest(year=2024, action="reverse"), ALICE)


@pytest.fixture
async def skr04(tmp_path: Path) -> AsyncIterator[Database]:
    with fresh_database_url(tmp_path) as url:
        database = Database(url)
        await prepare_ledger(database, "skr04")
        yield database
        await database.dispose()


async def test_year_end_close_uses_the_skr04_result_account(skr04: Database) -> None:
    await skr04.write(posting.post_booking, _booking("2025-05-01", "6300", "1800", "80.00"), CLI)
    closed = await skr04.write(year_end.close_fiscal_year, YearEndRequest(year=2025), ALICE)
    assert closed.result_account == "2979" and closed.result == "-80.00"
    assert (await _balances(skr04, "2025-12-31"))["2979"] == "80.00"
