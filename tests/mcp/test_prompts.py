"""Prompts and argument completion as a client sees them."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp_types import PromptReference, ResourceTemplateReference

from tests.conftest import book, line

pytestmark = pytest.mark.anyio


async def test_prompts_have_descriptions_and_arguments(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"book_invoice", "reconcile_bank_statement", "close_month", "explain_account"}
    for prompt in prompts.values():
        assert prompt.description and prompt.arguments
        assert all(a.description for a in prompt.arguments)
    required = {a.name for a in prompts["reconcile_bank_statement"].arguments or [] if a.required}
    assert required == {"bank_account", "statement"}


async def test_a_prompt_renders_its_arguments(client: Client) -> None:
    result = await client.get_prompt("book_invoice", {"invoice": "Müller GmbH RE-4711, 119.00 EUR brutto, Papier",
                                                      "expense_account": "4930"})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "RE-4711" in text and "4930" in text and "VSt19" in text and "idempotency_key" in text
    month = await client.get_prompt("close_month", {"period": "2026-03"})
    assert "2026-03-01" in month.messages[0].content.text  # type: ignore[union-attr]


async def test_account_numbers_complete_for_prompts_and_the_account_template(client: Client) -> None:
    done = await client.complete(PromptReference(type="ref/prompt", name="explain_account"),
                                 {"name": "account", "value": "120"})
    assert "1200" in done.completion.values and all(v.startswith("120") for v in done.completion.values)
    template = ResourceTemplateReference(type="ref/resource", uri="ledger://accounts/{number}")
    by_name = await client.complete(template, {"name": "number", "value": "Bank"})
    assert "1200" in by_name.completion.values


async def test_intent_ids_and_periods_complete(client: Client) -> None:
    booked = await book(client, line("4930", "1200", "1.00"), date="2025-11-03")
    template = ResourceTemplateReference(type="ref/resource", uri="ledger://intents/{intent_id}")
    done = await client.complete(template, {"name": "intent_id", "value": booked["intent_id"][:4]})
    assert booked["intent_id"] in done.completion.values
    none = await client.complete(template, {"name": "intent_id", "value": "zzzz"})
    assert none.completion.values == []
    periods = await client.complete(PromptReference(type="ref/prompt", name="close_month"),
                                    {"name": "period", "value": "2025-1"})
    assert periods.completion.values == ["2025-11"]

