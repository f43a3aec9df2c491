"""`ledger-mcp serve --http` as a subprocess: the entry point, a key made with `keys create`, a booking."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.conftest import book, call, line
from tests.http.conftest import connect

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_http_end_to_end(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    key = subprocess.run([sys.executable, "-m", "ledger_mcp", "keys", "create", "--label", "cli-agent", "--scopes",
                          "ledger:read,ledger:book", *data], capture_output=True, text=True, check=True,
                         timeout=60).stdout.strip()
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
        async with connect(f"http://127.0.0.1:{port}/mcp", key) as client:
            booked = await book(client, line("4930", "1200", "11.90", "VSt19"))
            view = await call(client, "get_intent", intent_id=booked["intent_id"])
            assert view["summary"]["provenance_summary"]["actor_label"] == "cli-agent"
    finally:
        server.terminate()
        server.wait(timeout=30)
