"""GET /health on a real uvicorn listener: 200 while the database answers, 503 when it does not,
no key needed, and nothing in the answer but status, version and whether the database is reachable."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
import uvicorn

from ledger_mcp import __version__
from ledger_mcp.server import build_server
from ledger_mcp.server.http import HttpOptions, http_app
from ledger_mcp.settings import Settings
from tests.http.conftest import HttpLedger, with_options

pytestmark = pytest.mark.anyio


async def test_health_answers_without_a_key(http_ledger: HttpLedger) -> None:
    async with httpx2.AsyncClient() as http:
        health = await http.get(f"{http_ledger.base}/health", headers={"Authorization": "Bearer lmk_not-a-key"})
    assert health.status_code == 200 and health.headers["cache-control"] == "no-store"
    assert health.json() == {"status": "ok", "version": __version__, "database_reachable": True}


@asynccontextmanager
async def app_only(settings: Settings) -> AsyncIterator[str]:
    """The HTTP app on a real listener without the MCP lifespan, which would stop at an unreachable
    database before serving: what a running server looks like after its database went away."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = HttpOptions(port=port)
    server = uvicorn.Server(uvicorn.Config(http_app(build_server(settings, options), options), lifespan="off",
                                           log_level="critical"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        with anyio.fail_after(30):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
    sock.close()


async def test_health_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        gone = with_options(settings, database_url=f"postgresql+asyncpg://booker:s3cret@127.0.0.1:{port}/ledger")
        async with app_only(gone) as base, httpx2.AsyncClient() as http:
            health = await http.get(f"{base}/health")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "version": __version__, "database_reachable": False}
    assert "s3cret" not in health.text and "127.0.0.1" not in health.text
