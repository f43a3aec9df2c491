"""Confirmation of a Storno: asked through elicitation where the client supports it, decided by the
confirm policy where it does not; never by an argument the agent sends."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from ledger_mcp.ledger import confirmations
from ledger_mcp.ledger.db import Database
from ledger_mcp.server import build_server
from ledger_mcp.settings import Settings
from ledger_mcp.tools.confirm import Confirmation, confirmation
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio


async def large_payment(amount: int) -> str | None:
    """Only amounts from 1000 on need a human."""
    return f"Approve a payment of {amount} EUR?" if amount >= 1000 else None


CONFIRM_LARGE = confirmation(large_payment)


async def approve_payment(amount: int, confirmed: Annotated[Confirmation, CONFIRM_LARGE],
                          confirmation_id: str | None = None) -> str:
    """A tool that needs confirmation above an amount."""
    confirmed.require()
    return f"{confirmed.method}:{confirmed.outcome}"


MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])


class Human:
    """An elicitation callback that records the questions and answers as told."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action, self.confirm = action, confirm
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


async def _journal_size(client: Client) -> int:
    return int((await call(client, "verify_chain"))["lines_checked"])


async def _metadata(client: Client, intent_id: str) -> Any:
    return (await call(client, "get_intent", intent_id=intent_id))["summary"]["custom_metadata"]


@MODES
async def test_the_human_is_asked_and_the_answer_recorded(settings: Settings, mode: str) -> None:
    human = Human()
    async with Client(build_server(settings), mode=mode, elicitation_callback=human) as client:
        original = await book(client, line("4930", "1200", "119.00", "VSt19"), description="Papier Müller")
        reversal = await call(client, "reverse_intent", intent_id=original["intent_id"], reason="falsches Konto")
        assert len(human.questions) == 1
        question = human.questions[0]
        assert original["intent_id"] in question and "119.00 EUR" in question and "falsches Konto" in question
        assert await _metadata(client, reversal["intent_id"]) == {
            "confirmation": {"method": "elicitation", "outcome": "accepted"}}


@MODES
@pytest.mark.parametrize(("action", "confirm", "outcome"), [
    ("decline", False, "declined"), ("cancel", False, "cancel"), ("accept", False, "not_confirmed")])
async def test_no_from_the_human_writes_nothing(settings: Settings, mode: str, action: str, confirm: bool,
                                                outcome: str) -> None:
    async with Client(build_server(settings), mode=mode, elicitation_callback=Human(action, confirm)) as client:
        original = await book(client, line("4930", "1200", "10.00"))
        error = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="x")
        assert error["code"] == "CONFIRMATION_REFUSED"
        assert error["details"]["confirmation"]["method"] == "elicitation"
        assert error["details"]["confirmation"]["outcome"].startswith(outcome[:6])
        assert await _journal_size(client) == 1


@MODES
async def test_without_elicitation_a_human_grants_a_pending_confirmation(settings: Settings, mode: str) -> None:
    async with Client(build_server(settings), mode=mode) as client:
        original = await book(client, line("4930", "1200", "10.00"), description="Papier")
        other = await book(client, line("4940", "1200", "20.00"), description="Zeitschrift")
        pending = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="falsches Konto")
        assert (pending["code"], pending["retryable"]) == ("CONFIRMATION_REQUIRED", True)
        confirmation_id = pending["details"]["confirmation_id"]
        assert "falsches Konto" in pending["details"]["question"] and confirmation_id in pending["hint"]
        again = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="falsches Konto")
        assert again["details"]["confirmation_id"] == confirmation_id  # asking again piles nothing up
        early = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="falsches Konto",
                           confirmation_id=confirmation_id)
        assert (early["code"], early["retryable"]) == ("CONFIRMATION_INVALID", True)
        assert await _journal_size(client) == 2

        db = Database(settings.database_url)  # the human, through a channel the agent does not hold
        await db.write(confirmations.decide, confirmation_id, grant=True, decided_by="user:owner", via="cli")
        await db.dispose()
        elsewhere = await fail(client, "reverse_intent", intent_id=other["intent_id"], reason="falsches Konto",
                               confirmation_id=confirmation_id)
        assert elsewhere["code"] == "CONFIRMATION_INVALID"  # a grant is for the call it was asked for
        reversal = await call(client, "reverse_intent", intent_id=original["intent_id"], reason="falsches Konto",
                              confirmation_id=confirmation_id)
        assert await _metadata(client, reversal["intent_id"]) == {"confirmation": {
            "method": "granted", "outcome": "granted by user:owner", "confirmation_id": confirmation_id}}
        reused = await fail(client, "reverse_intent", intent_id=other["intent_id"], reason="falsches Konto",
                            confirmation_id=confirmation_id)
        assert reused["code"] == "CONFIRMATION_INVALID"
        assert await _journal_size(client) == 3


@MODES
async def test_a_denied_confirmation_stops_the_action(settings: Settings, mode: str) -> None:
    async with Client(build_server(settings), mode=mode) as client:
        original = await book(client, line("4930", "1200", "10.00"))
        pending = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="x")
        db = Database(settings.database_url)
        await db.write(confirmations.decide, pending["details"]["confirmation_id"], grant=False,
                       decided_by="user:owner", via="cli")
        await db.dispose()
        denied = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="x",
                            confirmation_id=pending["details"]["confirmation_id"])
        assert (denied["code"], denied["retryable"]) == ("CONFIRMATION_INVALID", False)
        assert "do not" in denied["hint"]
        assert await _journal_size(client) == 1


@MODES
async def test_without_elicitation_the_refuse_policy_refuses(settings: Settings, mode: str) -> None:
    async with Client(build_server(replace(settings, confirm_policy="refuse")), mode=mode) as client:
        original = await book(client, line("4930", "1200", "10.00"))
        error = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="x")
        assert error["code"] == "CONFIRMATION_REFUSED"
        assert error["details"]["confirmation"] == {"method": "policy", "outcome": "refuse"}
        assert "pending" in error["hint"]
        assert await _journal_size(client) == 1


@MODES
async def test_without_elicitation_allow_and_record_books_and_says_so(settings: Settings, mode: str) -> None:
    async with Client(build_server(replace(settings, confirm_policy="allow_and_record")), mode=mode) as client:
        original = await book(client, line("4930", "1200", "10.00"))
        reversal = await call(client, "reverse_intent", intent_id=original["intent_id"], reason="x")
        assert await _metadata(client, reversal["intent_id"]) == {
            "confirmation": {"method": "policy", "outcome": "allow_and_record"}}


async def test_an_agent_cannot_confirm_by_argument(settings: Settings) -> None:
    async with Client(build_server(settings), elicitation_callback=Human("decline")) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "reverse_intent")
        assert set(tool.input_schema["properties"]) == {"intent_id", "reason", "posting_mode", "acknowledge_soft_lock",
                                                        "confirmation_id"}
        original = await book(client, line("4930", "1200", "10.00"))
        forged = {"confirmed": True, "method": "elicitation", "outcome": "accepted", "question": "?"}
        result = await client.call_tool("reverse_intent", {"intent_id": original["intent_id"], "reason": "x",
                                                           "confirmed": forged})
        assert result.is_error
        assert await _journal_size(client) == 1


async def test_nobody_is_asked_about_a_call_that_would_fail(settings: Settings) -> None:
    human = Human()
    async with Client(build_server(settings), elicitation_callback=human) as client:
        assert (await fail(client, "reverse_intent", intent_id="nope", reason="x"))["code"] == "INTENT_NOT_FOUND"
        original = await book(client, line("4930", "1200", "10.00"))
        assert (await fail(client, "reverse_intent", intent_id=original["intent_id"],
                           reason=""))["code"] == "VALIDATION_ERROR"
        await call(client, "lock_period", action="soft_lock", period="2026-03")
        soft = await fail(client, "reverse_intent", intent_id=original["intent_id"], reason="x")
        assert soft["code"] == "PERIOD_SOFT_LOCKED"  # refused before anyone is asked
        assert human.questions == []
        await call(client, "reverse_intent", intent_id=original["intent_id"], reason="x", acknowledge_soft_lock=True)
        assert len(human.questions) == 1


def test_a_confirmation_that_is_not_resolver_filled_is_refused(settings: Settings) -> None:
    server = build_server(settings)

    async def approve_something(ctx: Any, amount: str, confirmed: Confirmation) -> str:
        """A tool whose confirmation an agent could send."""
        return "done"

    with pytest.raises(TypeError, match="not filled by a resolver"):
        server.add_tool(approve_something)
    assert "approve_something" not in {t.name for t in server._tool_manager.list_tools()}


@MODES
async def test_confirmation_only_above_an_amount(settings: Settings, mode: str) -> None:
    server = build_server(settings)
    server.add_tool(approve_payment)
    human = Human()
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        small = await client.call_tool("approve_payment", {"amount": 50})
        assert small.content[0].text == "not_required:not_required"  # type: ignore[union-attr]
        assert human.questions == []
        large = await client.call_tool("approve_payment", {"amount": 5000})
        assert large.content[0].text == "elicitation:accepted"  # type: ignore[union-attr]
        assert human.questions == ["Approve a payment of 5000 EUR?\n\nConfirm?"]


@MODES
async def test_a_lock_approval_is_confirmed_by_a_human(settings: Settings, mode: str) -> None:
    human = Human(confirm=False)
    async with Client(build_server(replace(settings, actor="alice")), mode=mode) as alice, \
            Client(build_server(replace(settings, actor="bob")), mode=mode, elicitation_callback=human) as bob:
        await book(alice, line("4930", "1200", "10.00"), date="2026-01-15")
        requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
        refused = await fail(bob, "lock_period", action="approve_lock", period="2026-01",
                             request_id=requested["request_id"])
        assert refused["code"] == "CONFIRMATION_REFUSED"
        assert "Lock period 2026-01 for good" in human.questions[0] and "1 intents" in human.questions[0]
        human.confirm = True
        locked = await call(bob, "lock_period", action="approve_lock", period="2026-01",
                            request_id=requested["request_id"])
        assert locked["status"] == "locked"
