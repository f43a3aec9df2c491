"""reverse_intent: Storno with links both ways, once only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mcp import Client

from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio


async def test_reversal_swaps_every_line_and_links_both_ways(client: Client) -> None:
    original = await book(client, line("4930", "1200", "119.00", "VSt19"), external_reference="RE-7")
    reversal = await call(client, "reverse_intent", intent_id=original["intent_id"], reason="Rechnung storniert")
    assert reversal["category"] == "reversal"
    assert reversal["reverses_intent_id"] == original["intent_id"]
    assert reversal["booking_date"] == "2026-03-02"
    assert [(x["debit_account"], x["credit_account"], x["amount"]) for x in reversal["lines"]] == [
        ("1200", "4930", "100.00"), ("1200", "1576", "19.00")]
    assert reversal["journal_number_first"] == 3

    view = await call(client, "get_intent", intent_id=original["intent_id"])
    assert view["summary"]["reversed_by_intent_id"] == reversal["intent_id"]
    back = await call(client, "get_intent", intent_id=reversal["intent_id"])
    assert back["summary"]["reverses_intent_id"] == original["intent_id"]
    assert back["summary"]["reversal_reason"] == "Rechnung storniert"

    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    assert all(r["closing_balance"] == "0.00" for r in tb["rows"])


async def test_second_reversal_is_refused(client: Client) -> None:
    original = await book(client, line("4930", "1200", "10.00"))
    reversal = await call(client, "reverse_intent", intent_id=original["intent_id"], reason="x")
    error = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="again")
    assert error["code"] == "ALREADY_REVERSED"
    assert error["details"]["reversal_intent_id"] == reversal["intent_id"]
    assert (await call(client, "verify_chain"))["lines_checked"] == 2


async def test_unknown_intent(client: Client) -> None:
    error = await fail(client, "reverse_intent", intent_id="no-such-intent", reason="x")
    assert error["code"] == "INTENT_NOT_FOUND"
    error = await fail(client, "get_intent", intent_id="no-such-intent")
    assert error["code"] == "INTENT_NOT_FOUND"


async def test_current_date_mode_books_today(client: Client) -> None:
    original = await book(client, line("4930", "1200", "10.00"), date="2025-01-15")
    reversal = await call(client, "reverse_intent", intent_id=original["intent_id"], reason="late",
                          posting_mode="current_date")
    assert reversal["booking_date"] == datetime.now(UTC).date().isoformat()


async def test_reason_is_required(client: Client) -> None:
    original = await book(client, line("4930", "1200", "10.00"))
    error = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="")
    assert error["code"] == "VALIDATION_ERROR"
