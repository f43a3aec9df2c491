"""Fixtures for events: a client that records the resource notifications it receives, on either protocol
era, and a small webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning


def _readme_verify() -> Any:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    code = readme.split("A receiver checks it like this", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the README's own snippet
    return namespace["verify"]


README_VERIFY = _readme_verify()


class Notes:
    """Resource notifications a client received: updated URIs in order, and whether list_changed came."""

    def __init__(self) -> None:
        self.updated: list[str] = []
        self.list_changed = 0
        self._changed = anyio.Event()

    def add(self, uri: str | None) -> None:
        if uri is None:
            self.list_changed += 1
        else:
            self.updated.append(uri)
        self._changed.set()

    async def wait_for(self, uri: str, timeout: float = 20) -> None:
        with anyio.fail_after(timeout):
            while uri not in self.updated:
                self._changed = anyio.Event()
                await self._changed.wait()

    async def handler(self, message: Any) -> None:
        """A handshake-era client's message_handler."""
        if isinstance(message, types.ResourceUpdatedNotification):
            self.add(str(message.params.uri))
        elif isinstance(message, types.ResourceListChangedNotification):
            self.add(None)


@asynccontextmanager
async def subscribed(client: Client, notes: Notes, *uris: str) -> AsyncIterator[None]:
    """Subscribe `client` to `uris` the way its protocol era does: resources/subscribe on the handshake
    protocols (notifications arrive at `notes.handler`), a subscriptions/listen stream on 2026-07-28."""
    if client.protocol_version != "2026-07-28":
        with warnings.catch_warnings():  # deprecated as of 2026-07-28, current before it
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            for uri in uris:
                await client.subscribe_resource(uri)
        yield
        return
    async with client.listen(resource_subscriptions=uris, resources_list_changed=True) as stream, \
            anyio.create_task_group() as group:
        async def pump() -> None:
            async for event in stream:
                if isinstance(event, ResourceUpdated):
                    notes.add(event.uri)
                elif isinstance(event, ResourcesListChanged):
                    notes.add(None)
        group.start_soon(pump)
        yield
        group.cancel_scope.cancel()


@dataclass
class Receiver:
    """A webhook receiver: checks every request's signature with `secret`, answers `fail_next` requests
    with 500 first, and keeps every request it accepted or refused."""

    secret: str = ""
    fail_next: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, headers: Any, body: bytes) -> bool:
        """The check README "Events" gives receivers, run as printed there."""
        return bool(README_VERIFY(self.secret, headers.get("Ledger-MCP-Signature", ""), body))

    def ids(self, status: int = 200) -> list[str]:
        with self.lock:
            return [r["event"]["id"] for r in self.received if r["status"] == status]


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = receiver.verify(self.headers, body)
            with receiver.lock:
                status = 401 if not ok else 500 if receiver.fail_next > 0 else 200
                if ok and status == 500:
                    receiver.fail_next -= 1
                receiver.received.append({"status": status, "event": json.loads(body), "headers": dict(self.headers)})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a batch of deliveries arrives at once

    httpd = Server(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()

