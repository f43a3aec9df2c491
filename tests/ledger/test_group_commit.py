"""Group commit: writes that arrive while one commits share the next transaction, each in a savepoint
of its own. A call that fails rolls back only itself, every result is handed back only once its group
is committed, and the chain verifies after many concurrent writers on one Database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import accounts, chain, posting
from ledger_mcp.ledger.accounts import NewAccount
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import LedgerError, UnknownAccount
from ledger_mcp.ledger.models import Intent, JournalLine, OutboxEvent, RecordEvent
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, PostingResult
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings
from tests.conftest import CLI

pytestmark = pytest.mark.anyio


def _booking(n: int, debit: str = "4930") -> BookingRequest:
    return BookingRequest(booking_date="2026-03-02", description=f"group {n}", idempotency_key=f"g-{n}",
                          external_reference=f"G-{n}",
                          lines=[BookingLine(debit_account=debit, credit_account="1200", amount=f"{n + 1}.00",
                                             tax_code="VSt19")])


async def _intent_ids(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(Intent.id))).all())


async def _keys(session: AsyncSession) -> set[str | None]:
    return set((await session.exec(select(Intent.idempotency_key))).all())


async def _line_count(session: AsyncSession) -> int:
    return len((await session.exec(select(JournalLine.journal_number).order_by(col(JournalLine.journal_number))))
               .all())


async def _ledger(settings: Settings, anchor: Path) -> tuple[Database, Database]:
    """The writer (anchored: one anchor line per committed group) and an observer on its own connections."""
    settings.prepare()
    writer = Database(settings.database_url, anchor_log=anchor)
    await prepare_ledger(writer, "skr03")
    return writer, Database(settings.database_url)


async def test_a_failing_call_in_a_group_rolls_back_only_itself(settings: Settings, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.log"
    db, observer = await _ledger(settings, anchor)
    release = asyncio.Event()

    async def hold(session: AsyncSession) -> PostingResult:
        await release.wait()  # keeps the first group open while the others queue up
        return await posting.post_booking(session, _booking(0), CLI)

    try:
        anchored_before = len(anchor.read_text().splitlines()) if anchor.exists() else 0
        first = asyncio.create_task(db.write(hold))
        await asyncio.sleep(0.05)
        # 1-3 and 5-7 are fine; 4 names an account that does not exist.
        queued = [asyncio.create_task(db.write(posting.post_booking, _booking(n, "9999" if n == 4 else "4930"), CLI))
                  for n in range(1, 8)]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in queued)
        release.set()
        outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
        assert isinstance(outcomes[4], UnknownAccount)
        written = [o for o in outcomes if isinstance(o, PostingResult)]
        assert len(written) == 7 and not any(isinstance(o, BaseException) and not isinstance(o, LedgerError)
                                              for o in outcomes)
        assert await observer.read(_keys) == {f"g-{n}" for n in range(8) if n != 4}
        # Gapless: the refused call left no hole in the journal numbers.
        runs = sorted((r.journal_number_first, r.journal_number_last) for r in written)
        assert runs == [(2 * i + 1, 2 * i + 2) for i in range(7)]
        # Two groups committed: the held one, then the seven that queued behind it.
        assert len(anchor.read_text().splitlines()) - anchored_before == 2
        report = await observer.read(chain.verify_chain)
        assert report.ok and report.lines_checked == 14, report.first_break
    finally:
        release.set()
        await db.dispose()
        await observer.dispose()


async def test_results_are_handed_back_only_after_the_commit(settings: Settings, tmp_path: Path) -> None:
    db, observer = await _ledger(settings, tmp_path / "anchor.log")
    seen_committed: list[bool] = []

    async def book_and_look(n: int) -> None:
        result = await db.write(posting.post_booking, _booking(n), CLI)
        # Another connection sees the intent the moment its result arrives.
        seen_committed.append(result.intent_id in await observer.read(_intent_ids))

    try:
        await asyncio.gather(*(book_and_look(n) for n in range(24)))
        assert seen_committed == [True] * 24
    finally:
        await db.dispose()
        await observer.dispose()


async def test_many_writers_on_one_database_keep_the_chain(settings: Settings, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.log"
    db, observer = await _ledger(settings, anchor)

    async def writer(w: int) -> list[PostingResult]:
        return [await db.write(posting.post_booking, _booking(100 * w + n), CLI) for n in range(15)]

    try:
        anchored_before = len(anchor.read_text().splitlines()) if anchor.exists() else 0
        results = [r for rs in await asyncio.gather(*(writer(w) for w in range(8))) for r in rs]
        assert len({r.intent_id for r in results}) == 120
        assert await observer.read(_line_count) == 240
        report = await observer.read(chain.verify_chain)
        assert report.ok and report.intents_checked == 120, report.first_break
        assert report.head_hash == max(results, key=lambda r: r.journal_number_last).audit_hash
        # Writers waiting on one commit shared the next: fewer commits than bookings.
        assert len(anchor.read_text().splitlines()) - anchored_before < 120
    finally:
        await db.dispose()
        await observer.dispose()


async def test_a_rehearsal_in_a_group_keeps_nothing(settings: Settings, tmp_path: Path) -> None:
    db, observer = await _ledger(settings, tmp_path / "anchor.log")
    try:
        rehearsed, booked = await asyncio.gather(db.rehearse(posting.post_booking, _booking(1), CLI),
                                                 db.write(posting.post_booking, _booking(2), CLI))
        assert await observer.read(_keys) == {"g-2"}
        assert rehearsed.intent_id != booked.intent_id
        report = await observer.read(chain.verify_chain)
        assert report.ok, report.first_break
    finally:
        await db.dispose()
        await observer.dispose()


async def test_the_cached_chart_follows_accounts_created_elsewhere_and_forgets_rolled_back_ones(
        settings: Settings, tmp_path: Path) -> None:
    db, other = await _ledger(settings, tmp_path / "anchor.log")
    try:
        await db.write(posting.post_booking, _booking(1), CLI)  # the chart is cached now
        # Rehearsed (rolled back) in the same group as a booking on it: the booking is refused.
        _, refused = await asyncio.gather(
            db.rehearse(accounts.create_account, NewAccount(number="4931", name="Rehearsed", type="expense")),
            db.write(posting.post_booking, _booking(2, "4931"), CLI), return_exceptions=True)
        assert isinstance(refused, UnknownAccount)
        # Another server creates it: this one books on it without restarting.
        await other.write(accounts.create_account, NewAccount(number="4931", name="Created", type="expense"))
        booked = await db.write(posting.post_booking, _booking(3, "4931"), CLI)
        assert booked.lines[0].debit_account == "4931"
    finally:
        await db.dispose()
        await other.dispose()


async def test_a_call_cancelled_while_it_waits_for_its_group_writes_nothing(settings: Settings,
                                                                          tmp_path: Path) -> None:
    db, observer = await _ledger(settings, tmp_path / "anchor.log")
    release = asyncio.Event()

    async def hold(session: AsyncSession) -> PostingResult:
        await release.wait()
        return await posting.post_booking(session, _booking(0), CLI)

    try:
        first = asyncio.create_task(db.write(hold))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(db.write(posting.post_booking, _booking(1), CLI))
        kept = asyncio.create_task(db.write(posting.post_booking, _booking(2), CLI))
        await asyncio.sleep(0.05)
        waiting.cancel()
        release.set()
        await asyncio.gather(first, kept)
        assert waiting.cancelled()
        assert await observer.read(_keys) == {"g-0", "g-2"}
    finally:
        release.set()
        await db.dispose()
        await observer.dispose()


async def test_a_call_alone_in_its_group_that_fails_after_writing_leaves_nothing(settings: Settings,
                                                                                  tmp_path: Path) -> None:
    # Alone in its group a call runs without a savepoint: its rollback must take back the whole transaction,
    # inserts run on the driver's connection included (journal, record history, outbox).
    db, observer = await _ledger(settings, tmp_path / "anchor.log")

    async def rows(session: AsyncSession) -> tuple[int, int, int, int]:
        return tuple([len((await session.exec(select(model))).all())  # type: ignore[return-value]
                      for model in (Intent, JournalLine, RecordEvent, OutboxEvent)])

    async def book_then_fail(session: AsyncSession) -> None:
        await posting.post_booking(session, _booking(1), CLI)
        await session.flush()
        raise RuntimeError("refused after the inserts")

    try:
        before = await observer.read(rows)
        with pytest.raises(RuntimeError):
            await db.write(book_then_fail)
        await db.rehearse(posting.post_booking, _booking(2), CLI)
        assert await observer.read(rows) == before
        booked = await db.write(posting.post_booking, _booking(3), CLI)
        assert await observer.read(_keys) == {"g-3"}
        assert (booked.journal_number_first, booked.journal_number_last) == (1, 2)
        report = await observer.read(chain.verify_chain)
        assert report.ok and report.lines_checked == 2, report.first_break
    finally:
        await db.dispose()
        await observer.dispose()
