"""Shared fixtures: a real ledger database per test and a connected MCP client session.

The database is a SQLite file in the test's tmp_path, or, when LEDGER_MCP_TEST_DATABASE_URL names a
PostgreSQL server (an admin URL such as postgresql+asyncpg://postgres@127.0.0.1:5433/postgres), a
database created on that server for the test and dropped after it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server import build_server
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings

CLI = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="tester")
TEST_DATABASE_URL = os.environ.get("LEDGER_MCP_TEST_DATABASE_URL") or None
ON_POSTGRES = TEST_DATABASE_URL is not None


def pytest_report_header() -> str:
    if TEST_DATABASE_URL:
        return f"ledger databases: PostgreSQL, one per test on {make_url(TEST_DATABASE_URL)!r}"
    return "ledger databases: SQLite, one file per test"


def _admin(statement: str) -> None:
    """Run one statement on the test server outside any transaction (CREATE/DROP DATABASE)."""
    assert TEST_DATABASE_URL

    async def run() -> None:
        engine = create_async_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    # Its own thread and event loop: callable from sync fixtures and from inside a running loop alike.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@contextmanager
def fresh_database_url(directory: Path) -> Iterator[str]:
    """The URL of a new, empty ledger database, removed afterwards: a SQLite file in `directory`, or a
    database of its own on the LEDGER_MCP_TEST_DATABASE_URL server."""
    if not TEST_DATABASE_URL:
        yield f"sqlite+aiosqlite:///{directory.resolve() / 'ledger.sqlite3'}"
        return
    name = f"ledger_test_{uuid4().hex[:20]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh ledger: data_dir in tmp_path, database_url a new database (see above). Every
    toolset is offered: a test that checks what the default toolsets offer builds its own."""
    data_dir = tmp_path / "data"
    with fresh_database_url(data_dir) as url:
        yield Settings.load(data_dir=str(data_dir), database_url=url, actor="tester", toolsets="all")


async def confirming_human(context: Any, params: ElicitRequestParams) -> ElicitResult:
    """An elicitation callback: the human answers yes to every confirmation."""
    return ElicitResult(action="accept", content={"confirm": True})


@asynccontextmanager
async def two_actors(settings: Settings) -> AsyncIterator[tuple[Client, Client]]:
    """alice and bob, each with a server of their own on the same ledger (four-eyes steps need two)."""
    async with Client(build_server(replace(settings, actor="alice")), elicitation_callback=confirming_human) as alice, \
            Client(build_server(replace(settings, actor="bob")), elicitation_callback=confirming_human) as bob:
        yield alice, bob


@pytest.fixture
async def pair(settings: Settings) -> AsyncIterator[tuple[Client, Client]]:
    async with two_actors(settings) as clients:
        yield clients


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
