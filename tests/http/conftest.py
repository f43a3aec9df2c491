"""HTTP fixtures: the server on a real uvicorn listener on a free loopback port, in-process, over the
test's `settings.database_url`; API keys created through the domain functions."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ledger_mcp.ledger import api_keys
from ledger_mcp.ledger.db import Database
from ledger_mcp.server import build_server
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.server.http import HttpOptions, uvicorn_server
from ledger_mcp.settings import Settings


@dataclass(frozen=True)
class HttpLedger:
    """A running HTTP server: `url` of its MCP endpoint, `base` without the path."""

    url: str
    base: str
    settings: Settings
    options: HttpOptions


@asynccontextmanager
async def running(settings: Settings, **options: Any) -> AsyncIterator[HttpLedger]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    opts = HttpOptions(host="127.0.0.1", port=port, **options)
    server = uvicorn_server(build_server(settings, opts), opts)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        with anyio.fail_after(30):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield HttpLedger(url=f"{opts.base_url}/mcp", base=opts.base_url, settings=settings, options=opts)
        finally:
            server.should_exit = True
    sock.close()


@pytest.fixture
async def http_ledger(settings: Settings) -> AsyncIterator[HttpLedger]:
    async with running(settings) as ledger:
        yield ledger


@pytest.fixture
async def new_key(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """`await new_key(label, scopes)` -> the secret of a new key in the test's ledger."""
    settings.prepare()
    db = Database(settings.database_url)
    await prepare_ledger(db, settings.chart)

    async def create(label: str, scopes: str = "ledger:read,ledger:book") -> str:
        return (await db.write(api_keys.create_api_key, label, scopes)).secret

    yield create
    await db.dispose()


def with_options(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


@asynccontextmanager
async def connect(url: str, key: str | None, *, mode: str = "auto", **client_options: Any) -> AsyncIterator[Client]:
    """An MCP client session over real HTTP, sending `key` as the bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=300)) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode, cache=None,  # type: ignore[arg-type]
                   **client_options) as client:
        yield client
