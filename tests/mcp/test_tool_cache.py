"""tools/list from the tool cache: the same bytes as the SDK lists for the registered handlers, and a
handler registered only when its tool is first called."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import ListToolsResult

from ledger_mcp import tools
from ledger_mcp.server import build_server, tool_cache
from ledger_mcp.server.http import HttpOptions
from ledger_mcp.settings import Settings
from tests.conftest import book, call, line

pytestmark = pytest.mark.anyio


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ledger-mcp"


def wire(listed: list) -> str:  # type: ignore[type-arg]
    return ListToolsResult(tools=listed).model_dump_json(by_alias=True, exclude_none=True)


@pytest.mark.parametrize("http", [None, HttpOptions(port=0, require_key=False)], ids=["stdio", "http"])
async def test_the_cached_tools_list_is_what_the_handlers_give(settings: Settings, cache_dir: Path,
                                                               http: HttpOptions | None) -> None:
    build_server(settings, http)  # builds every definition and writes the cache
    key = tool_cache.key()
    assert (cache_dir / f"tools-{key}.json").is_file() and tool_cache.load(key) is not None
    server = build_server(settings, http)  # reads it
    assert server._tool_manager.list_tools() == []  # no handler registered yet
    from_cache = await server.list_tools()
    for name in tools.modules(server.app.transport):
        tools.module(name).register(server, server.app)
    # The SDK's own listing of the registered handlers, in registration order (module by module).
    registered = await MCPServer.list_tools(server)
    assert {t.name for t in registered} == {t.name for t in from_cache}
    assert wire(from_cache) == wire(registered)
    assert wire(await server.list_tools()) == wire(from_cache)


async def test_a_tool_is_registered_at_its_first_call(settings: Settings, cache_dir: Path) -> None:
    server = build_server(settings)
    async with Client(server) as client:
        assert "post_booking" in {t.name for t in (await client.list_tools()).tools}
        assert server._tool_manager.get_tool("post_booking") is None
        booked = await book(client, line("4930", "1200", "119.00", "VSt19"))
        assert server._tool_manager.get_tool("post_booking") is not None
        assert server._tool_manager.get_tool("search_accounts") is None  # another module: not yet
        assert server._tool_manager.get_tool("reverse_intent") is None  # post_booking's module: at its own call
        view = await call(client, "get_intent", intent_id=booked["intent_id"])
        assert view["summary"]["provenance_summary"]["channel"] == "MCP"
        # An unknown argument is refused by the registered tool's schema, as before.
        refused = await client.call_tool("search_accounts", {"query": "12", "qeury": "x"})
        assert refused.is_error and "qeury" in refused.content[0].text  # type: ignore[union-attr]


async def test_a_damaged_cache_is_built_again(settings: Settings, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    damaged = cache_dir / f"tools-{tool_cache.key()}.json"
    damaged.write_text("{not json", encoding="utf-8")
    built = build_server(settings)
    assert tool_cache.load(tool_cache.key()) is not None  # written afresh
    damaged.write_text('{"key": "another", "tools": []}', encoding="utf-8")
    again = build_server(settings)
    assert wire(await again.list_tools()) == wire(await built.list_tools())
