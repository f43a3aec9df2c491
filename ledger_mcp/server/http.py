"""Streamable HTTP: API-key bearer authentication, DNS-rebinding protection, and the uvicorn server.

A key is verified against the database on every request, so a revoked key is refused at once.
The server has no OAuth authorization server: keys are created with `ledger-mcp keys create` and
sent as `Authorization: Bearer lmk_...`. It still serves RFC 9728 protected-resource metadata and
answers 401 with WWW-Authenticate, as MCP clients expect.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ledger_mcp import __version__
from ledger_mcp.ledger import api_keys
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.db import Database

if TYPE_CHECKING:
    from ledger_mcp.server.app import LedgerServer

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MCP_PATH = "/mcp"
HEALTH_PATH = "/health"
HEALTH_TIMEOUT = 5.0


@dataclass(frozen=True)
class HttpOptions:
    """host/port: where to listen (loopback unless told otherwise). allowed_hosts: extra Host header
    values accepted besides host:port (DNS-rebinding protection), e.g. a reverse proxy's name.
    public_url: the base URL clients use, if not http://host:port. require_key: False only for
    test clients such as the conformance suite, and only on loopback."""

    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = ()
    public_url: str | None = None
    require_key: bool = True

    def __post_init__(self) -> None:
        if not self.require_key and self.host not in LOOPBACK:
            raise ValueError("serving without API keys is allowed on a loopback address only")

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")

    def transport_security(self) -> TransportSecuritySettings:
        hosts = {f"{self.host}:{self.port}", *self.allowed_hosts}
        if self.host in LOOPBACK:
            hosts |= {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"[::1]:{self.port}"}
        if self.public_url:
            hosts.add(self.public_url.split("://", 1)[-1].split("/", 1)[0])
        origins = {f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts}
        return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=sorted(hosts),
                                         allowed_origins=sorted(origins))

    def auth_settings(self) -> AuthSettings:
        return AuthSettings(issuer_url=self.base_url, resource_server_url=f"{self.base_url}{MCP_PATH}",  # type: ignore[arg-type]
                            validate_token_resource=False)


class ApiKeyVerifier:
    """TokenVerifier over the api_key table. The AccessToken carries the key prefix as client_id,
    its scopes, and its label in claims (read by `AppContext.caller`)."""

    TOUCH_INTERVAL = 60.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._touched: dict[str, float] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        info = await self.db.read(api_keys.verify_api_key, token)
        if info is None:
            return None
        now = time.monotonic()
        # last_used_at is a write: at most once a minute per key, so it never competes with bookings.
        if now - self._touched.get(info.prefix, -self.TOUCH_INTERVAL) >= self.TOUCH_INTERVAL:
            self._touched[info.prefix] = now
            try:
                await self.db.write(api_keys.record_use, info.prefix, utc_now())
            except Exception:  # a busy ledger must not turn a valid key away
                log.warning("could not record use of key %s", info.prefix, exc_info=True)
        return AccessToken(token=token, client_id=info.prefix, scopes=list(info.scopes),
                           claims={"label": info.label})


def health_route(db: Database) -> Route:
    """GET /health for load balancers and orchestrators: no key needed, and nothing about the ledger
    beyond whether its database answers (200) or not (503)."""

    async def health(_: Request) -> JSONResponse:
        reachable = False
        with anyio.move_on_after(HEALTH_TIMEOUT):
            try:
                async with db.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                reachable = True
            except Exception:  # the reason may name hosts or users: logged, never answered
                log.warning("health check: database not reachable", exc_info=True)
        body = {"status": "ok" if reachable else "unavailable", "version": __version__,
                "database_reachable": reachable}
        return JSONResponse(body, status_code=200 if reachable else 503, headers={"Cache-Control": "no-store"})

    return Route(HEALTH_PATH, health, methods=["GET"])


def http_app(server: LedgerServer, options: HttpOptions) -> Starlette:
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=options.transport_security(),
                                     host=options.host)
    app.router.routes.append(health_route(server.app.db))
    if options.require_key:
        # The SDK's metadata lists only scopes every token must hold (none here); list all a key can hold.
        auth = options.auth_settings()
        assert auth.resource_server_url is not None
        ours = create_protected_resource_routes(auth.resource_server_url, [auth.issuer_url],
                                                scopes_supported=list(api_keys.SCOPES), resource_name="ledger-mcp")
        paths = {route.path for route in ours}
        app.router.routes[:] = [*ours, *(r for r in app.router.routes if getattr(r, "path", None) not in paths)]
    return app


def uvicorn_server(server: LedgerServer, options: HttpOptions) -> uvicorn.Server:
    """`await .serve()` runs it; setting `.should_exit` stops it gracefully."""
    config = uvicorn.Config(http_app(server, options), host=options.host, port=options.port, log_level="warning",
                            lifespan="on")
    return uvicorn.Server(config)


async def serve(server: LedgerServer, options: HttpOptions, sock: socket.socket | None = None) -> None:
    """Serve until stopped. `sock`: an already bound socket (tests bind port 0 first)."""
    await uvicorn_server(server, options).serve(sockets=[sock] if sock else None)


async def count_active_keys(db: Database) -> int:
    return len(await db.read(api_keys.list_api_keys, include_revoked=False))
