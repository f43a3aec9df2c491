"""Periods as clients see them: soft lock, four-eyes lock, reopen rules, PERIOD_LOCKED on every write path."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ledger_mcp.settings import Settings
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio




async def _lock(alice: Client, bob: Client, period: str) -> dict:
    requested = await call(alice, "lock_period", action="request_lock", period=period)
    return await call(bob, "lock_period", action="approve_lock", period=period, request_id=requested["request_id"])


async def test_four_eyes_lock_seals_a_closing_hash(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    await book(alice, line("4930", "1200", "119.00", "VSt19"), date="2026-01-15")
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    assert requested["has_pending_request"] and requested["requested_by"] == "user:alice"
    assert requested["status"] == "open" and requested["intent_count"] == 1 and requested["line_count"] == 2
    assert requested["debit_total"] == "119.00"

    error = await fail(alice, "lock_period", action="approve_lock", period="2026-01",
                       request_id=requested["request_id"])
    assert error["code"] == "FOUR_EYES_REQUIRED" and "user:alice" in error["message"]
    assert (await call(bob, "get_period_status", period="2026-01"))["status"] == "open"

    locked = await call(bob, "lock_period", action="approve_lock", period="2026-01",
                        request_id=requested["request_id"])
    assert locked["status"] == "locked" and locked["approved_by"] == "user:bob"
    assert locked["locked_by"] == "user:alice" and locked["request_id"] == requested["request_id"]
    assert len(locked["closing_hash"]) == 64 and locked["closing_journal_number"] == 2
    assert locked["locked_through"] == "2026-01" and locked["next_open_period"] == "2026-02"
    assert [(e["action"], e["actor_id"], e["channel"]) for e in locked["history"]] == [
        ("request_lock", "user:alice", "MCP"), ("approve_lock", "user:bob", "MCP")]
    report = await call(bob, "verify_chain")
    assert report["ok"] and report["locked_periods_checked"] == 1


async def test_cancelled_request_cannot_be_approved(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    cancelled = await call(bob, "lock_period", action="cancel_lock", period="2026-01",
                           request_id=requested["request_id"])
    assert cancelled["request_status"] == "cancelled" and not cancelled["has_pending_request"]
    error = await fail(bob, "lock_period", action="approve_lock", period="2026-01",
                       request_id=requested["request_id"])
    assert error["code"] == "PERIOD_STATE_CONFLICT"
    # A new request gets a new id; the old one still does not approve it.
    again = await call(alice, "lock_period", action="request_lock", period="2026-01")
    assert again["request_id"] != requested["request_id"]
    error = await fail(bob, "lock_period", action="approve_lock", period="2026-01",
                       request_id=requested["request_id"])
    assert error["code"] == "LOCK_REQUEST_STALE"
    error = await fail(bob, "lock_period", action="approve_lock", period="2026-01")
    assert error["code"] == "VALIDATION_ERROR" and again["request_id"] in error["hint"]


async def test_request_goes_stale_when_the_period_changes(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    await book(alice, line("4930", "1200", "10.00"), date="2026-01-10")
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    await book(alice, line("4930", "1200", "20.00"), date="2026-01-11")
    error = await fail(bob, "lock_period", action="approve_lock", period="2026-01",
                       request_id=requested["request_id"])
    assert error["code"] == "LOCK_REQUEST_STALE" and "1 -> 2 intents" in error["message"]
    assert error["hint"].startswith("cancel_lock")
    assert (await call(bob, "get_period_status", period="2026-01"))["status"] == "open"


async def test_request_goes_stale_when_the_period_is_reopened(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    await call(alice, "lock_period", action="soft_lock", period="2026-01")
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    reopened = await call(bob, "lock_period", action="reopen", period="2026-01", reason="late invoice")
    assert reopened["status"] == "open" and reopened["locked_by"] is None
    error = await fail(bob, "lock_period", action="approve_lock", period="2026-01",
                       request_id=requested["request_id"])
    assert error["code"] == "LOCK_REQUEST_STALE" and "reopened" in error["message"]


async def test_soft_lock_needs_an_acknowledgement_that_is_recorded(client: Client) -> None:
    soft = await call(client, "lock_period", action="soft_lock", period="2026-02")
    assert soft["status"] == "soft_locked" and soft["locked_by"] == "user:tester" and soft["locked_at"]
    assert (await fail(client, "lock_period", action="soft_lock", period="2026-02"))["code"] == "PERIOD_STATE_CONFLICT"
    error = await fail(client, "post_booking", booking_date="2026-02-03", description="late",
                       lines=[line("4930", "1200", "50.00")])
    assert error["code"] == "PERIOD_SOFT_LOCKED" and "acknowledge_soft_lock" in error["hint"]
    assert error["details"] == {"period": "2026-02"}
    booked = await book(client, line("4930", "1200", "50.00"), date="2026-02-03", acknowledge_soft_lock=True)
    reversal = await fail(client, "reverse_intent", intent_id=booked["intent_id"], reason="wrong")
    assert reversal["code"] == "PERIOD_SOFT_LOCKED"
    storno = await call(client, "reverse_intent", intent_id=booked["intent_id"], reason="wrong",
                        acknowledge_soft_lock=True)
    status = await call(client, "get_period_status", period="2026-02")
    assert status["acknowledged_intent_ids"] == [booked["intent_id"], storno["intent_id"]]
    assert status["intent_count"] == 2
    assert [e["action"] for e in status["history"]] == ["soft_lock", *["acknowledge_soft_lock"] * 2]
    error = await fail(client, "post_opening_balances", booking_date="2026-02-01",
                       balances=[{"account": "1200", "amount": "10.00", "side": "debit"}])
    assert error["code"] == "PERIOD_SOFT_LOCKED"
    await call(client, "post_opening_balances", booking_date="2026-02-01", acknowledge_soft_lock=True,
               balances=[{"account": "1200", "amount": "10.00", "side": "debit"}])
    # Other periods are not affected.
    await book(client, line("4930", "1200", "50.00"), date="2026-03-03")
    assert (await call(client, "verify_chain"))["ok"]


async def test_reopen_rules(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    error = await fail(alice, "lock_period", action="reopen", period="2026-01")
    assert error["code"] == "PERIOD_STATE_CONFLICT" and "open" in error["message"]
    await call(alice, "lock_period", action="soft_lock", period="2026-01")
    assert (await call(alice, "lock_period", action="reopen", period="2026-01"))["status"] == "open"
    await _lock(alice, bob, "2026-01")
    for action in ("reopen", "soft_lock", "request_lock"):
        error = await fail(bob, "lock_period", action=action, period="2026-01")
        assert error["code"] == "PERIOD_STATE_CONFLICT" and "locked" in error["message"], action
        assert "current_date" in error["hint"]


async def test_locked_period_refuses_every_write_path(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    await book(alice, line("1200", "8400", "500.00"), date="2025-12-10")
    booked = await book(alice, line("4930", "1200", "119.00", "VSt19"), date="2026-01-15")
    await _lock(alice, bob, "2025-12")
    await _lock(alice, bob, "2026-01")
    before = (await call(alice, "verify_chain"))["lines_checked"]

    error = await fail(alice, "post_booking", booking_date="2026-01-31", description="late",
                       lines=[line("4930", "1200", "1.00")])
    assert error["code"] == "PERIOD_LOCKED" and "2026-01" in error["message"]
    assert error["details"]["period"] == "2026-01" and error["details"]["next_open_period"] == "2026-02"
    assert "current_date" in error["hint"]
    error = await fail(alice, "post_booking", booking_date="2026-01-31", description="late", acknowledge_soft_lock=True,
                       lines=[line("4930", "1200", "1.00")])
    assert error["code"] == "PERIOD_LOCKED"
    error = await fail(alice, "reverse_intent", intent_id=booked["intent_id"], reason="wrong")
    assert error["code"] == "PERIOD_LOCKED"
    error = await fail(alice, "post_opening_balances", booking_date="2026-01-01",
                       balances=[{"account": "1200", "amount": "100.00", "side": "debit"}])
    assert error["code"] == "PERIOD_LOCKED"
    error = await fail(alice, "close_fiscal_year", year=2025)
    assert error["code"] == "PERIOD_LOCKED" and error["details"]["period"] == "2025-12"
    assert (await call(alice, "verify_chain"))["lines_checked"] == before

    storno = await call(alice, "reverse_intent", intent_id=booked["intent_id"], reason="wrong",
                        posting_mode="current_date")
    assert storno["booking_date"] > "2026-01-31"
    assert (await call(alice, "verify_chain"))["ok"]


async def test_empty_months_before_a_locked_month_are_closed_too(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    await book(alice, line("4930", "1200", "10.00"), date="2026-03-02")
    error = await fail(alice, "lock_period", action="request_lock", period="2026-04")
    assert error["code"] == "EARLIER_PERIOD_OPEN" and error["details"]["earliest_unlocked_period"] == "2026-03"
    await _lock(alice, bob, "2026-03")
    error = await fail(alice, "post_booking", booking_date="2026-02-10", description="back-dated",
                       lines=[line("4930", "1200", "1.00")])
    assert error["code"] == "PERIOD_LOCKED" and "before locked period 2026-03" in error["message"]
    status = await call(alice, "get_period_status", period="2026-02")
    assert status["status"] == "locked" and status["covered_by"] == "2026-03" and status["closing_hash"] is None


async def test_a_period_that_has_not_ended_cannot_be_locked(client: Client) -> None:
    error = await fail(client, "lock_period", action="request_lock", period="2199-12")
    assert error["code"] == "PERIOD_STATE_CONFLICT" and "not ended" in error["message"]


async def test_year_end_close_through_the_tool(client: Client) -> None:
    error = await fail(client, "close_fiscal_year", year=2199)
    assert error["code"] == "PERIOD_STATE_CONFLICT" and "not ended" in error["message"]
    assert (await fail(client, "close_fiscal_year", year=2024))["code"] == "VALIDATION_ERROR"  # nothing booked
    await book(client, line("1200", "8400", "100.00"), date="2025-06-01")
    closed = await call(client, "close_fiscal_year", year=2025)
    assert closed["result"] == "100.00" and closed["result_account"] == "0869"
    intent = await call(client, "get_intent", intent_id=closed["close_intent_id"])
    assert intent["summary"]["category"] == "year_end_close" and intent["summary"]["booking_date"] == "2025-12-31"
    carry = await call(client, "get_intent", intent_id=closed["carry_forward_intent_id"])
    assert carry["summary"]["category"] == "carry_forward" and carry["summary"]["booking_date"] == "2026-01-01"
    error = await fail(client, "close_fiscal_year", year=2025)
    assert error["code"] == "YEAR_ALREADY_CLOSED"
    assert error["details"]["year_end_close_intent_id"] == intent["intent_id"]
    reversed_ = await call(client, "close_fiscal_year", year=2025, action="reverse", reason="redo")
    assert len(reversed_["reversal_intent_ids"]) == 2
    assert (await call(client, "close_fiscal_year", year=2025))["close_intent_id"] != closed["close_intent_id"]


async def test_bad_period_and_misplaced_arguments(client: Client) -> None:
    for period in ("2026-13", "2026-1", "March", ""):
        error = await fail(client, "get_period_status", period=period)
        assert error["code"] == "VALIDATION_ERROR", period
    error = await fail(client, "lock_period", action="soft_lock", period="2026-01", end_period="2026-02")
    assert (error["code"], error["details"]["unknown_arguments"]) == ("VALIDATION_ERROR", ["end_period"])
    error = await fail(client, "lock_period", action="status", period="2026-01")
    assert error["code"] == "VALIDATION_ERROR"
    assert (await fail(client, "lock_period", action="burn", period="2026-01"))["code"] == "VALIDATION_ERROR"


async def test_status_of_a_range_matches_the_resources(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    await book(alice, line("4930", "1200", "10.00"), date="2026-01-05")
    await book(alice, line("4930", "1200", "20.00"), line("4940", "1200", "5.00"), date="2026-03-05")
    await _lock(alice, bob, "2026-01")
    await call(alice, "lock_period", action="soft_lock", period="2026-02")
    status = await call(alice, "get_period_status", period="2026-01", end_period="2026-03")
    rows = {p["period"]: p for p in status["periods"]}
    assert [rows[p]["status"] for p in ("2026-01", "2026-02", "2026-03")] == ["locked", "soft_locked", "open"]
    assert (rows["2026-03"]["intent_count"], rows["2026-03"]["line_count"], rows["2026-03"]["debit_total"]) == (
        1, 2, "25.00")
    assert rows["2026-02"]["intent_count"] == 0

    listed = json.loads((await alice.read_resource("ledger://periods")).contents[0].text)  # type: ignore[union-attr]
    assert listed["locked_through"] == "2026-01" and listed["next_open_period"] == "2026-02"
    assert listed["periods"][0]["period"] == "2026-01"
    assert {p["period"]: p for p in listed["periods"]}["2026-03"] == rows["2026-03"]
    ranged = json.loads((await alice.read_resource("ledger://periods/2026-02/2026-03")).contents[0].text)  # type: ignore[union-attr]
    assert ranged["periods"] == [rows["2026-02"], rows["2026-03"]]
    one = json.loads((await alice.read_resource("ledger://periods/2026-01")).contents[0].text)  # type: ignore[union-attr]
    assert one["closing_hash"] == rows["2026-01"]["closing_hash"] and one["status"] == "locked"


async def test_tampered_amount_in_a_locked_period_is_named(pair: tuple[Client, Client], settings: Settings) -> None:
    alice, bob = pair
    await book(alice, line("4930", "1200", "10.00"), date="2026-01-05")
    await book(alice, line("4930", "1200", "20.00"), date="2026-02-05")
    await _lock(alice, bob, "2026-01")
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE journal_line SET amount = 100 WHERE journal_number = 1"))
    await engine.dispose()
    report = await call(alice, "verify_chain")
    assert not report["ok"]
    assert report["first_break"]["period"] == "2026-01" and "locked period 2026-01" in report["first_break"]["problem"]
