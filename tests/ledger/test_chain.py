"""The hash chain detects any change to any stored field of any line or intent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, posting
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import Document, Intent, JournalLine
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, ReversalRequest
from tests.conftest import CLI

pytestmark = pytest.mark.anyio

LINE_COLUMNS = [c.name for c in SQLModel.metadata.tables["journal_line"].columns]
INTENT_COLUMNS = [c.name for c in SQLModel.metadata.tables["intent"].columns]
# Lookup helpers that are derived from covered fields and deliberately not hashed themselves.
UNHASHED_INTENT_COLUMNS = {"request_hash", "fingerprint"}


async def _documents(session: AsyncSession, ids: list[str]) -> None:
    session.add_all(Document(id=i, original_name=f"{i}.pdf", mime="application/pdf", size=1, storage_path=i,
                             status="extracted", created_at="2026-03-01T00:00:00Z", created_by="tester") for i in ids)


async def _ledger(db: Database) -> list[str]:
    await db.write(_documents, [f"d-{i}" for i in range(3)])
    ids = []
    for i, (debit, credit, amount, code) in enumerate([("4930", "1200", "119.00", "VSt19"),
                                                       ("1400", "8400", "238.00", "USt19"),
                                                       ("4900", "1600", "1000.00", "RC19")]):
        request = BookingRequest(booking_date=f"2026-03-0{i + 1}", description=f"Buchung {i}",
                                 external_reference=f"R-{i}", idempotency_key=f"k-{i}", document_id=f"d-{i}",
                                 custom_metadata={"i": i}, control_account_reason="chain test",
                                 lines=[BookingLine(debit_account=debit, credit_account=credit, amount=amount,
                                                    tax_code=code)])
        ids.append((await db.write(posting.post_booking, request, CLI)).intent_id)
    await db.write(posting.reverse_intent, ReversalRequest(intent_id=ids[1], reason="falsch"), CLI)
    report = await db.read(chain.verify_chain)
    assert report.ok and report.lines_checked == 8 and report.intents_checked == 4
    return ids


def _changed(value: object) -> object:
    """A different value that the column still accepts (same length: PostgreSQL enforces VARCHAR(n))."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, date):
        return value + timedelta(days=1)
    if value is None:
        return "X"
    assert isinstance(value, str) and value
    # On SQLite a date comes back as its text: "2026-03-0X" is also a date that no longer parses.
    return value[:-1] + ("X" if value[-1] != "X" else "Y")


async def _tamper(db: Database, table: str, column: str, where: str) -> None:
    """Edit the database the way someone with raw access would: plain SQL on a connection of its own,
    without the ledger's code and without foreign key checks."""
    engine = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if not db.is_sqlite:  # a superuser can switch off foreign key triggers (SQLite has them off)
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            value = (await conn.execute(text(f"SELECT {column} FROM {table} WHERE {where}"))).scalar_one()
            # A renumbered line moves far away rather than onto its neighbour's (unique) number.
            new = value + 1000 if column == "journal_number" else _changed(value)
            await conn.execute(text(f"UPDATE {table} SET {column} = :new WHERE {where}"), {"new": new})
    finally:
        await engine.dispose()


@pytest.mark.parametrize("column", LINE_COLUMNS)
async def test_changing_any_line_field_is_detected(db: Database, column: str) -> None:
    await _ledger(db)
    await _tamper(db, "journal_line", column, "journal_number = 5")
    report = await db.read(chain.verify_chain)
    assert not report.ok
    assert report.first_break is not None
    expected = 6 if column == "journal_number" else 5  # a renumbered line leaves a gap at 5
    assert report.first_break["journal_number"] in (5, expected), report.first_break
    assert report.lines_checked == 4


@pytest.mark.parametrize("column", [c for c in INTENT_COLUMNS if c not in UNHASHED_INTENT_COLUMNS and c != "id"])
async def test_changing_any_intent_field_is_detected(db: Database, column: str) -> None:
    ids = await _ledger(db)
    await _tamper(db, "intent", column, f"id = '{ids[2]}'")
    report = await db.read(chain.verify_chain)
    assert not report.ok
    assert report.first_break is not None and report.first_break["intent_id"] == ids[2]


async def test_deleted_line_and_deleted_tail_are_detected(db: Database) -> None:
    ids = await _ledger(db)
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM journal_line WHERE journal_number = 8"))
    tail = await db.read(chain.verify_chain)
    assert not tail.ok and tail.first_break and "1 of its 2 journal lines" in tail.first_break["problem"]
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM journal_line WHERE journal_number = 3"))
    gap = await db.read(chain.verify_chain)
    assert not gap.ok and gap.first_break and gap.first_break["journal_number"] == 4
    assert ids


async def test_rehashing_a_changed_line_still_breaks_the_link(db: Database) -> None:
    """An attacker who recomputes content_hash and audit_hash of one line breaks the next line's prev_hash."""
    await _ledger(db)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE journal_line SET amount = amount + 100 WHERE journal_number = 3"))

    async def rehash(session: AsyncSession) -> None:
        line = await session.get(JournalLine, 3)
        assert line is not None
        intent = await session.get(Intent, line.intent_id)
        line.content_hash = chain.line_content_hash(line, chain.intent_hash(intent))
        line.audit_hash = chain.audit_hash(line.prev_hash, line.content_hash)

    await db.write(rehash)
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break and report.first_break["journal_number"] == 4
    assert "prev_hash" in report.first_break["problem"]


async def _rehash_as_version_2(session: AsyncSession) -> None:
    """Turn the books into what a ledger written before hash version 3 holds: sorted-key JSON payloads."""
    prev = chain.GENESIS_HASH
    intents = {i.id: i for i in (await session.exec(select(Intent))).all()}
    for intent in intents.values():
        intent.content_hash = chain.intent_hash(intent, version=2)
    for line in (await session.exec(select(JournalLine).order_by(col(JournalLine.journal_number)))).all():
        line.hash_version = 2
        line.content_hash = chain.line_content_hash(line, intents[line.intent_id].content_hash)
        line.prev_hash, line.audit_hash = prev, chain.audit_hash(prev, line.content_hash)
        prev = line.audit_hash


async def test_lines_of_an_earlier_hash_version_keep_verifying_and_changes_to_them_are_detected(db: Database) -> None:
    ids = await _ledger(db)
    await db.write(_rehash_as_version_2)
    report = await db.read(chain.verify_chain)
    assert report.ok and report.lines_checked == 8, report.first_break
    await db.write(posting.post_booking, BookingRequest(
        booking_date="2026-03-05", description="nach Version 2", lines=[
            BookingLine(debit_account="4930", credit_account="1200", amount="10.00")]), CLI)
    report = await db.read(chain.verify_chain)
    assert report.ok and report.lines_checked == 9  # a version 3 line after version 2 lines
    await _tamper(db, "intent", "description", f"id = '{ids[1]}'")
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break and report.first_break["intent_id"] == ids[1]


async def test_an_intent_booked_over_a_duplicate_warning_verifies(db: Database) -> None:
    """duplicate_override is a boolean in the model and 0/1 in SQLite: both read as the same payload."""
    request = BookingRequest(booking_date="2026-03-02", description="Doppelt", external_reference="D-1",
                             lines=[BookingLine(debit_account="4930", credit_account="1200", amount="5.00")])
    await db.write(posting.post_booking, request, CLI)
    again = request.model_copy(update={"skip_duplicate_check": True})
    second = await db.write(posting.post_booking, again, CLI)
    intent = await db.read(lambda s: s.get(Intent, second.intent_id))
    assert intent is not None and intent.duplicate_override is True
    assert (await db.read(chain.verify_chain)).ok
