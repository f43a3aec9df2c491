"""Invariants under any sequence of valid postings and reversals."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_mcp.ledger import chain, posting, reports
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import AlreadyReversed
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, ReversalRequest
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import CLI, fresh_database_url

ACCOUNTS = ["1000", "1200", "1400", "1600", "4930", "4900", "8400", "8300", "0800"]
TAX_CODES = [None, "VSt19", "VSt7", "USt19", "USt7", "RC19", "EXEMPT"]

amounts = st.integers(min_value=1, max_value=10**9).map(lambda c: f"{c // 100}.{c % 100:02d}")
two_sided = st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), amounts, st.sampled_from(TAX_CODES)
                      ).filter(lambda t: t[0] != t[1]).map(
    lambda t: BookingLine(debit_account=t[0], credit_account=t[1], amount=t[2], tax_code=t[3]))
booking = st.builds(
    lambda lines, day: ("book", BookingRequest(booking_date=f"2026-0{day % 9 + 1}-1{day % 10}", description="p",
                                               lines=lines, skip_duplicate_check=True,
                                               control_account_reason="property test")),
    st.lists(two_sided, min_size=1, max_size=4), st.integers(0, 100))
reversal = st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=50))
operations = st.lists(st.one_of(booking, booking, reversal), min_size=1, max_size=12)


async def _run(ops: list[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database_url(Path(tmp)) as url:
        await _check(Database(url), ops)


async def _check(db: Database, ops: list[tuple[str, object]]) -> None:
    try:
        await prepare_ledger(db, "skr03")
        posted: list[str] = []
        for kind, arg in ops:
            if kind == "book":
                assert isinstance(arg, BookingRequest)
                posted.append((await db.write(posting.post_booking, arg, CLI)).intent_id)
            elif posted:
                assert isinstance(arg, int)
                try:
                    result = await db.write(posting.reverse_intent, ReversalRequest(
                        intent_id=posted[arg % len(posted)], reason="p"), CLI)
                    posted.append(result.intent_id)
                except AlreadyReversed:
                    pass
        tb = await db.read(reports.trial_balance)
        assert tb.balanced and tb.total_closing_balance == "0.00" and tb.total_debit == tb.total_credit
        report = await db.read(chain.verify_chain)
        assert report.ok, report.first_break
        lines = 0
        for intent_id in posted:
            lines += len(await db.read(posting.intent_lines, intent_id))
        assert report.lines_checked == lines and report.head_journal_number == lines
    finally:
        await db.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_trial_balance_nets_to_zero_and_chain_verifies(ops: list[tuple[str, object]]) -> None:
    anyio.run(_run, ops)
