"""Many writers, each with its own engine and connections (as separate server processes would have),
posting at the same time: every acknowledged booking is stored exactly once, the journal stays
gapless and the chain verifies, also for readers verifying while the writers post."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import pairwise

import pytest
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, posting, reports
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import WriteConflict
from ledger_mcp.ledger.models import Intent, JournalLine
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, PostingResult
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings
from tests.conftest import CLI

pytestmark = pytest.mark.anyio

WRITERS = 8
BOOKINGS = 50


def _booking(writer: int, n: int) -> BookingRequest:
    # Gross with VSt19: two journal lines per booking, so intents interleaving mid-write would show.
    return BookingRequest(booking_date=f"2026-03-{n % 28 + 1:02d}", description=f"writer {writer} booking {n}",
                          idempotency_key=f"w{writer}-b{n}", external_reference=f"RE-{writer}-{n}",
                          lines=[BookingLine(debit_account="4930", credit_account="1200",
                                             amount=f"{writer + 1}.{n:02d}", tax_code="VSt19")])


async def _journal_numbers(session: AsyncSession) -> list[int]:
    return list((await session.exec(select(JournalLine.journal_number).order_by(col(JournalLine.journal_number)))
                 ).all())


async def _keys(session: AsyncSession) -> list[tuple[str | None, int]]:
    rows = await session.exec(select(Intent.idempotency_key, func.count()).group_by(Intent.idempotency_key))
    return [(key, int(count)) for key, count in rows.all()]


async def test_concurrent_writers_lose_nothing_and_keep_the_chain_gapless(settings: Settings) -> None:
    settings.prepare()
    setup = Database(settings.database_url)
    await prepare_ledger(setup, "skr03")
    writers = [Database(settings.database_url) for _ in range(WRITERS)]
    acknowledged: dict[str, PostingResult] = {}
    verified_during_writes = 0

    async def write(writer: int, db: Database) -> None:
        for n in range(BOOKINGS):
            request = _booking(writer, n)
            assert request.idempotency_key
            acknowledged[request.idempotency_key] = await db.write(posting.post_booking, request, CLI)

    async def verify_while_writing(done: Callable[[], bool]) -> None:
        nonlocal verified_during_writes
        while not done():
            report = await setup.read(chain.verify_chain)
            assert report.ok, report.first_break
            verified_during_writes += 1
            await asyncio.sleep(0.05)

    try:
        tasks = [asyncio.create_task(write(w, db)) for w, db in enumerate(writers)]
        checker = asyncio.create_task(verify_while_writing(lambda: all(t.done() for t in tasks)))
        await asyncio.gather(*tasks)
        await checker

        assert len(acknowledged) == WRITERS * BOOKINGS
        assert not any(r.replayed for r in acknowledged.values())
        lines = sum(r.event_count for r in acknowledged.values())
        assert lines == 2 * WRITERS * BOOKINGS
        # Gapless 1..n, each acknowledged booking owning its own contiguous run of numbers.
        assert await setup.read(_journal_numbers) == list(range(1, lines + 1))
        runs = sorted((r.journal_number_first, r.journal_number_last) for r in acknowledged.values())
        assert all(last - first == 1 for first, last in runs)
        assert all(a[1] + 1 == b[0] for a, b in pairwise(runs))
        # Every acknowledged booking stored exactly once, nothing else stored.
        assert sorted(await setup.read(_keys)) == sorted((key, 1) for key in acknowledged)
        report = await setup.read(chain.verify_chain)
        assert report.ok and report.lines_checked == lines and report.intents_checked == WRITERS * BOOKINGS
        assert report.head_hash == max(acknowledged.values(), key=lambda r: r.journal_number_last).audit_hash
        assert (await setup.read(reports.trial_balance)).balanced
        assert verified_during_writes > 0
    finally:
        for db in [setup, *writers]:
            await db.dispose()


async def test_a_writer_kept_from_the_chain_head_gets_a_retryable_conflict_and_writes_nothing(
        settings: Settings) -> None:
    settings.prepare()
    holder = Database(settings.database_url)
    await prepare_ledger(holder, "skr03")
    blocked = Database(settings.database_url, lock_timeout=0.05)
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold_chain_head(_session: AsyncSession) -> None:
        holding.set()
        await release.wait()

    try:
        held = asyncio.create_task(holder.write(hold_chain_head))
        await holding.wait()
        with pytest.raises(WriteConflict) as conflict:
            await blocked.write(posting.post_booking, _booking(0, 0), CLI)
        assert conflict.value.retryable
        release.set()
        await held
        assert await blocked.read(_keys) == []
        # Once the head is free the same call succeeds.
        assert not (await blocked.write(posting.post_booking, _booking(0, 0), CLI)).replayed
        assert await blocked.read(_keys) == [("w0-b0", 1)]
    finally:
        release.set()
        await holder.dispose()
        await blocked.dispose()
