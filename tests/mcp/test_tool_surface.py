"""What an agent pays for and relies on in tools/list: a budget, a description for every argument,
and unknown arguments refused instead of dropped."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from mcp import Client
from mcp_types import ListToolsResult

from ledger_mcp.server import build_server
from ledger_mcp.server.access import TOOLSETS, toolset_of, toolset_tools
from ledger_mcp.server.app import INSTRUCTIONS
from ledger_mcp.server.http import HttpOptions
from ledger_mcp.settings import Settings
from tests.conftest import book, fail, line

pytestmark = pytest.mark.anyio

# Characters of what a model reads of tools/list on every turn (name, description, input schema: what
# hosts put into the model's tool definitions; the title is for people), and a ceiling for the whole
# result as sent (output schemas and annotations included, which hosts use to check results and ask for
# approval). The default toolsets (the daily work) are held to the budget; a new tool in them has to make
# room, or goes into a toolset of its own. Every toolset together gets a ceiling, so growth is a decision.
MODEL_BUDGET = 40_000
TOOLS_LIST_CEILING = 55_000
ALL_TOOLSETS_MODEL_CEILING = 53_000  # with the companies and events toolsets (list_companies, manage_webhooks)


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Arguments (and fields of argument objects) without a description."""
    missing = [name for name, sub in schema.get("properties", {}).items() if not sub.get("description")]
    for model, definition in schema.get("$defs", {}).items():
        missing += [f"{model}.{name}" for name, sub in definition.get("properties", {}).items()
                    if not sub.get("description")]
    return missing


async def listed_sizes(settings: Settings, http: HttpOptions | None) -> tuple[ListToolsResult, int, int]:
    async with Client(build_server(settings, http), mode="legacy") as client:
        listed = await client.list_tools()
    size = len(listed.model_dump_json(by_alias=True, exclude_none=True))
    read = {"name", "description", "input_schema"}
    model = sum(len(t.model_dump_json(by_alias=True, exclude_none=True, include=read)) for t in listed.tools)
    return listed, size, model


async def test_tools_list_stays_within_budget_and_every_argument_is_described(settings: Settings) -> None:
    default = replace(settings, toolsets=None)
    for http in (None, HttpOptions(port=0, require_key=False)):
        listed, size, model = await listed_sizes(default, http)
        print(f"tools/list ({'http' if http else 'stdio'}, default toolsets): {len(listed.tools)} tools; the model "
              f"reads {model} characters (budget {MODEL_BUDGET}); the whole result is {size} (ceiling "
              f"{TOOLS_LIST_CEILING})")
        assert model <= MODEL_BUDGET and size <= TOOLS_LIST_CEILING
        everything, size, model = await listed_sizes(settings, http)
        print(f"tools/list ({'http' if http else 'stdio'}, every toolset): {len(everything.tools)} tools; the model "
              f"reads {model} characters; the whole result is {size}")
        assert model <= ALL_TOOLSETS_MODEL_CEILING and len(everything.tools) > len(listed.tools)
        missing = {t.name: undescribed(t.input_schema) for t in everything.tools}
        assert {name: fields for name, fields in missing.items() if fields} == {}
        for tool in everything.tools:
            assert tool.input_schema.get("additionalProperties") is False, tool.name
            assert tool.description and tool.annotations is not None, tool.name


async def test_every_tool_is_in_one_toolset_and_the_guidance_names_only_default_tools(client: Client) -> None:
    registered = {t.name for t in (await client.list_tools()).tools}
    assert all(sum(name in members for members in TOOLSETS.values()) == 1 for name in registered), \
        sorted(name for name in registered if toolset_of(name) is None)
    offered = toolset_tools(["default"])
    assert offered is not None
    samples = {"invoice": "RE-1, 119.00", "period": "2026-03", "bank_account": "1200", "statement": "s.xml",
               "account": "1200", "expense_account": "4930"}
    guidance = INSTRUCTIONS
    for prompt in (await client.list_prompts()).prompts:
        arguments = {a.name: samples[a.name] for a in prompt.arguments or [] if a.required}
        guidance += (await client.get_prompt(prompt.name, arguments)).model_dump_json()
    named = {name for name in registered if re.search(rf"\b{name}\b", guidance)}
    assert named and named <= offered, sorted(named - offered)


async def test_a_tool_outside_the_toolsets_is_refused_naming_its_toolset(settings: Settings) -> None:
    async with Client(build_server(replace(settings, toolsets=frozenset({"default"}))), mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "post_booking" in names and "save_exchange_rate" not in names
        error = await fail(client, "save_exchange_rate", currency="USD", rate_date="2026-03-02", rate="1.08")
    assert error["code"] == "TOOL_DISABLED" and error["details"]["toolset"] == "fx"
    assert "--toolsets default,fx" in error["hint"]
    with pytest.raises(ValueError, match="did you mean setup"):
        build_server(replace(settings, toolsets=frozenset({"setpu"})))


async def test_a_misspelt_argument_is_refused_with_the_right_name(client: Client) -> None:
    arguments = {"booking_date": "2026-03-02", "description": "Retry", "lines": [line("4930", "1200", "10.00")],
                 "idempotencyKey": "k-1"}
    error = await fail(client, "post_booking", **arguments)
    assert error["code"] == "VALIDATION_ERROR" and error["details"]["did_you_mean"] == {
        "idempotencyKey": "idempotency_key"}
    assert "idempotency_key" in error["hint"] and error["request_id"].startswith("req_")
    nested = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                        lines=[{"debit_account": "4930", "credit_account": "1200", "amount": "11.90",
                                "taxCode": "VSt19"}])
    assert nested["details"]["did_you_mean"] == {"lines[0].taxCode": "lines[0].tax_code"}
    assert (await client.call_tool("verify_chain", {})).structured_content["lines_checked"] == 0  # type: ignore[index]
    await book(client, line("4930", "1200", "10.00"), idempotency_key="k-1")
