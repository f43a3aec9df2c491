"""Shared fixtures: a real SQLite ledger file per test and a connected MCP client session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server import build_server
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings

CLI = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="tester")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(data_dir=str(tmp_path / "data"), actor="tester")


async def confirming_human(context: Any, params: ElicitRequestParams) -> ElicitResult:
    """An elicitation callback: the human answers yes to every confirmation."""
    return ElicitResult(action="accept", content={"confirm": True})


@pytest.fixture(params=["auto", "legacy"])
async def client(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    """A client session in-process, once per protocol era (2026 stateless and the initialize handshake),
    whose user confirms what the server asks to confirm."""
    async with Client(build_server(settings), mode=request.param, elicitation_callback=confirming_human) as session:
        yield session


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The domain without MCP: a prepared ledger database."""
    settings.prepare()
    database = Database(settings.database_url)
    await prepare_ledger(database, "skr03")
    yield database
    await database.dispose()


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def fail(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must fail; return its structured error."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is None
    error = dict(json.loads(result.content[0].text)["error"])  # type: ignore[union-attr]
    assert set(error) >= {"code", "message", "retryable", "hint"}
    assert error["message"] and error["hint"]
    return error


def line(debit: str | None, credit: str | None, amount: str, tax_code: str | None = None) -> dict[str, Any]:
    return {k: v for k, v in {"debit_account": debit, "credit_account": credit, "amount": amount,
                              "tax_code": tax_code}.items() if v is not None}


async def book(client: Client, *lines: dict[str, Any], date: str = "2026-03-02", description: str = "Test",
               **extra: Any) -> dict[str, Any]:
    return await call(client, "post_booking", booking_date=date, description=description, lines=list(lines), **extra)
