"""Property: a batch books exactly what post_booking books for each of its bookings, or refuses exactly
the bookings post_booking refuses, with the same codes, and writes nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_mcp.ledger import bulk, chain, posting
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import BatchRefused, LedgerError
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import CLI, fresh_database_url

ACCOUNTS = ["1000", "1200", "1400", "4930", "4900", "8400", "0800", "4931"]  # 4931 is not in SKR03
TAX_CODES = [None, "VSt19", "VSt7", "USt19", "RC19", "EXEMPT", "VSt99"]  # VSt99 does not exist

amounts = st.integers(min_value=1, max_value=10**8).map(lambda c: f"{c // 100}.{c % 100:02d}")
lines = st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), amounts, st.sampled_from(TAX_CODES)
                  ).filter(lambda t: t[0] != t[1]).map(
    lambda t: BookingLine(debit_account=t[0], credit_account=t[1], amount=t[2], tax_code=t[3]))
bookings = st.builds(
    lambda lines, day, control: BookingRequest(
        booking_date=f"2026-0{day % 9 + 1}-1{day % 10}", description="p", lines=lines, skip_duplicate_check=True,
        control_account_reason="property test" if control else None),
    st.lists(lines, min_size=1, max_size=3), st.integers(0, 100), st.booleans())


def _shape(result: posting.PostingResult) -> list[tuple[object, ...]]:
    return [(x.debit_account, x.credit_account, x.amount, x.tax_code, x.line_role) for x in result.lines]


async def _check(batch: list[BookingRequest]) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database_url(Path(tmp)) as url:
        db = Database(url)
        try:
            await prepare_ledger(db, "skr03")
            try:
                outcome = await db.write(bulk.post_many, batch, CLI)
                refused: dict[int, str] = {}
            except BatchRefused as exc:
                outcome = None
                refused = {e["index"]: e["code"] for e in exc.details["errors"]}
            assert (await db.read(chain.verify_chain)).lines_checked == (outcome.lines if outcome else 0)
            alone: dict[int, str] = {}
            for i, request in enumerate(batch, start=1):
                try:
                    single = await db.write(posting.post_booking, request, CLI)
                except LedgerError as exc:
                    alone[i] = exc.code
                    continue
                if outcome:
                    assert _shape(single) == _shape(outcome.results[i - 1])
            assert refused == alone
            assert (await db.read(chain.verify_chain)).ok
        finally:
            await db.dispose()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bookings, min_size=1, max_size=6))
def test_a_batch_books_or_refuses_exactly_what_post_booking_does(batch: list[BookingRequest]) -> None:
    anyio.run(_check, batch)
