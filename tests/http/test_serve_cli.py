"""`ledger-mcp serve --http` as a subprocess: the entry point, a key made with `keys create`, a booking,
the /health endpoint, and examples/http_client.py run against it as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from sqlalchemy import text

from ledger_mcp import __version__
from ledger_mcp.ledger.db import Database
from tests.conftest import book, call, line
from tests.http.conftest import connect

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "http_client.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "ledger_mcp", *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


@asynccontextmanager
async def served(data_dir: Path, label: str) -> AsyncIterator[tuple[str, str]]:
    """`ledger-mcp serve --http` on a free port over a ledger made with `init` and a key made with
    `keys create`: yields the base URL and the key."""
    data = ["--data-dir", str(data_dir)]
    _cli("init", *data)
    key = _cli("keys", "create", "--label", label, "--scopes", "ledger:read,ledger:book", *data)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "ledger_mcp", "serve", "--http", "--port", str(port), *data],
                              stderr=subprocess.PIPE, text=True)
    try:
        with anyio.fail_after(60):
            while True:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    await anyio.sleep(0.1)
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_serve_http_end_to_end(tmp_path: Path) -> None:
    async with served(tmp_path, "cli-agent") as (base, key), connect(f"{base}/mcp", key) as client:
        booked = await book(client, line("4930", "1200", "11.90", "VSt19"))
        view = await call(client, "get_intent", intent_id=booked["intent_id"])
        assert view["summary"]["provenance_summary"]["actor_label"] == "cli-agent"


async def test_health_needs_no_key_and_tells_nothing_else(tmp_path: Path) -> None:
    async with served(tmp_path, "cli-agent") as (base, _), httpx2.AsyncClient() as http:
        health = await http.get(f"{base}/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "version": __version__, "database_reachable": True}
        assert (await http.post(f"{base}/mcp", json={})).status_code == 401  # /mcp still wants a key


async def test_the_http_client_example_runs_as_a_script(tmp_path: Path) -> None:
    async with served(tmp_path, "invoice-agent") as (base, key):
        key_file = tmp_path / "invoice-agent.key"
        key_file.write_text(key + "\n")
        example = [sys.executable, str(EXAMPLE), "--url", f"{base}/mcp", "--key-file", str(key_file)]
        first = await anyio.run_process(example, check=False)
        assert first.returncode == 0, first.stderr.decode()
        output = first.stdout.decode()
        assert f"connected to {base}/mcp" in output and "post_booking: " in output and "get_intent: " in output
        again = await anyio.run_process(example, check=False)  # same idempotency key: replayed, not booked twice
        assert again.returncode == 0, again.stderr.decode()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT actor_type, actor_label, actor_key_prefix, external_reference "
                                            "FROM intent"))).all()
    finally:
        await db.dispose()
    assert [tuple(r) for r in rows] == [("api_key", "invoice-agent", key[:12], "RE-4711")]


async def test_the_example_without_a_key_says_how_to_get_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_MCP_KEY"}
    done = await anyio.run_process([sys.executable, str(EXAMPLE)], check=False, env=env)
    assert done.returncode == 1 and b"ledger-mcp keys create" in done.stderr
