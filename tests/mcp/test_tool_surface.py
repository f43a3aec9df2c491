"""What an agent pays for and relies on in tools/list: a budget, a description for every argument,
and unknown arguments refused instead of dropped."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from ledger_mcp.server import build_server
from ledger_mcp.server.http import HttpOptions
from ledger_mcp.settings import Settings
from tests.conftest import book, fail, line

pytestmark = pytest.mark.anyio

# Characters of what a model reads of tools/list on every turn (name, description, input schema: what
# hosts put into the model's tool definitions; the title is for people), and a ceiling for the whole
# result as sent (output schemas and annotations included, which hosts use to check results and ask for
# approval). With 42 tools the model part is about 46,000: a new tool has to make room, or the budget is
# raised on purpose.
MODEL_BUDGET = 48_000
TOOLS_LIST_CEILING = 71_000


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Arguments (and fields of argument objects) without a description."""
    missing = [name for name, sub in schema.get("properties", {}).items() if not sub.get("description")]
    for model, definition in schema.get("$defs", {}).items():
        missing += [f"{model}.{name}" for name, sub in definition.get("properties", {}).items()
                    if not sub.get("description")]
    return missing


async def test_tools_list_stays_within_budget_and_every_argument_is_described(settings: Settings) -> None:
    for server in (build_server(settings), build_server(settings, HttpOptions(port=0, require_key=False))):
        async with Client(server, mode="legacy") as client:
            listed = await client.list_tools()
            size = len(listed.model_dump_json(by_alias=True, exclude_none=True))
            model = sum(len(t.model_dump_json(by_alias=True, exclude_none=True,
                                              include={"name", "description", "input_schema"}))
                        for t in listed.tools)
            print(f"tools/list: {len(listed.tools)} tools; the model reads {model} characters (budget "
                  f"{MODEL_BUDGET}); the whole result is {size} (ceiling {TOOLS_LIST_CEILING})")
            assert model <= MODEL_BUDGET and size <= TOOLS_LIST_CEILING
            missing = {t.name: undescribed(t.input_schema) for t in listed.tools}
            assert {name: fields for name, fields in missing.items() if fields} == {}
            for tool in listed.tools:
                assert tool.input_schema.get("additionalProperties") is False, tool.name
                assert tool.description and tool.annotations is not None, tool.name


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
