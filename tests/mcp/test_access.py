"""Scope classification of every tool and resource, read-only mode and the tool allow-list."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from mcp import Client

from ledger_mcp.server import build_server
from ledger_mcp.server.access import READ, RESOURCE_SCOPES, TOOL_SCOPES
from ledger_mcp.server.http import HttpOptions
from ledger_mcp.settings import Settings
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio

WRITE_TOOLS = {name for name, scope in TOOL_SCOPES.items() if scope != READ}
HTTP_ONLY = {"list_confirmations", "decide_confirmation"}  # on stdio the human decides with the CLI


async def test_every_tool_and_resource_declares_its_scope(settings: Settings) -> None:
    server = build_server(settings)
    # Confirmations are decided over HTTP only (on stdio with the CLI): count the HTTP server's tools too.
    http_tools = [d.tool for d in build_server(settings, HttpOptions(port=0)).definitions.values()]
    stdio_tools = await server.list_tools()
    tools = [*stdio_tools, *(t for t in http_tools if t.name not in {u.name for u in stdio_tools})]
    unclassified = sorted(t.name for t in tools if t.name not in TOOL_SCOPES)
    assert not unclassified, f"add these tools to TOOL_SCOPES in ledger_mcp/server/access.py: {unclassified}"
    assert {t.name for t in tools} == set(TOOL_SCOPES)
    # The scope says whether a tool writes; its annotation must say the same.
    assert {t.name for t in tools if not (t.annotations and t.annotations.read_only_hint)} == WRITE_TOOLS
    uris = {str(r.uri) for r in await server.list_resources()}
    uris |= {t.uri_template for t in await server.list_resource_templates()}
    assert uris == set(RESOURCE_SCOPES)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_read_only_mode_hides_and_refuses_writes(settings: Settings, mode: str) -> None:
    async with Client(build_server(replace(settings, read_only=True)), mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == set(TOOL_SCOPES) - WRITE_TOOLS - HTTP_ONLY
        for tool in sorted(WRITE_TOOLS - HTTP_ONLY):
            error = await fail(client, tool, intent_id="x", reason="x")
            assert error["code"] == "TOOL_DISABLED" and "read-only" in error["message"]
        assert (await call(client, "verify_chain"))["lines_checked"] == 0


async def test_the_allow_list_limits_the_tools(settings: Settings) -> None:
    allowed = frozenset({"post_booking", "get_intent"})
    async with Client(build_server(replace(settings, tools=allowed))) as client:
        assert {t.name for t in (await client.list_tools()).tools} == allowed
        booked = await book(client, line("4930", "1200", "5.00"))
        await call(client, "get_intent", intent_id=booked["intent_id"])
        error = await fail(client, "reverse_intent", intent_id=booked["intent_id"], reason="x")
        assert error["code"] == "TOOL_DISABLED" and "post_booking" in error["hint"]
        # Resources stay readable: the allow-list is about tools.
        view = await client.read_resource(f"ledger://intents/{booked['intent_id']}")
        assert json.loads(view.contents[0].text)["summary"]["reversed_by_intent_id"] is None  # type: ignore[union-attr]


async def test_read_only_and_allow_list_combine(settings: Settings) -> None:
    server = build_server(replace(settings, read_only=True, tools=frozenset({"post_booking", "verify_chain"})))
    async with Client(server) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"verify_chain"}
        assert (await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                           lines=[line("4930", "1200", "1.00")]))["code"] == "TOOL_DISABLED"


def test_an_allow_list_with_an_unknown_tool_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="post_bookin"):
        build_server(replace(settings, tools=frozenset({"post_bookin"})))



def test_the_environment_configures_access(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("LEDGER_MCP_READ_ONLY", "1")
    monkeypatch.setenv("LEDGER_MCP_TOOLS", "get_intent, verify_chain")
    monkeypatch.setenv("LEDGER_MCP_CONFIRM_POLICY", "allow_and_record")
    loaded = Settings.load(data_dir=str(settings.data_dir))
    assert loaded.read_only and loaded.tools == {"get_intent", "verify_chain"}
    assert loaded.confirm_policy == "allow_and_record"
    assert Settings.load(data_dir=str(settings.data_dir), tools="post_booking").tools == {"post_booking"}
    monkeypatch.setenv("LEDGER_MCP_CONFIRM_POLICY", "ask_nobody")
    with pytest.raises(ValueError, match="ask_nobody"):
        Settings.load(data_dir=str(settings.data_dir))
