"""Streamable HTTP: API-key bearer authentication, DNS-rebinding protection, the companies' endpoints,
and the uvicorn server.

A key is verified against the home ledger's database on every request, so a revoked key is refused at
once. One process serves the home ledger at /mcp and every company of its catalog at
/companies/<slug>/mcp (`CompanyRouter`); a key reaches only the companies it holds.
The server has no OAuth authorization server: keys are created with `ledger-mcp keys create` and
sent as `Authorization: Bearer lmk_...`. It still serves RFC 9728 protected-resource metadata and
answers 401 with WWW-Authenticate, as MCP clients expect.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio
import uvicorn
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger_mcp import __version__
from ledger_mcp.ledger import api_keys, companies
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.companies import HOME
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import CompanyNotFound

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
    test clients such as the conformance suite, and only on loopback. path: the MCP endpoint's path."""

    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = ()
    public_url: str | None = None
    require_key: bool = True
    path: str = MCP_PATH

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
        return AuthSettings(issuer_url=self.base_url, resource_server_url=f"{self.base_url}{self.path}",  # type: ignore[arg-type]
                            validate_token_resource=False)


class ApiKeyVerifier:
    """TokenVerifier over the api_key table of the home ledger (`db`), for the endpoint of `company`: a key
    that does not hold it is not valid there. The AccessToken carries the key prefix as client_id, its
    scopes, and its label and companies in claims (read by `AppContext.caller`)."""

    TOUCH_INTERVAL = 60.0

    def __init__(self, db: Database, company: str = HOME) -> None:
        self.db = db
        self.company = company
        self._touched: dict[str, float] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        info = await self.key(token)
        return None if info is None or not info.holds(self.company) else self.token(token, info)

    async def key(self, token: str) -> api_keys.ApiKeyInfo | None:
        """The active key `token` is, whichever companies it holds; its use is recorded."""
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
        return info

    @staticmethod
    def token(token: str, info: api_keys.ApiKeyInfo) -> AccessToken:
        return AccessToken(token=token, client_id=info.prefix, scopes=list(info.scopes),
                           claims={"label": info.label, "companies": list(info.companies)})


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
    """The endpoint of one ledger at `options.path`, with /health and its protected-resource metadata."""
    app = server.streamable_http_app(streamable_http_path=options.path,
                                     transport_security=options.transport_security(), host=options.host)
    app.router.routes.append(health_route(server.app.db))
    if options.require_key:
        ours = _metadata_routes(options)
        paths = {route.path for route in ours}
        app.router.routes[:] = [*ours, *(r for r in app.router.routes if getattr(r, "path", None) not in paths)]
    return app


def _metadata_routes(options: HttpOptions) -> list[Route]:
    # The SDK's metadata lists only scopes every token must hold (none here); list all a key can hold.
    auth = options.auth_settings()
    assert auth.resource_server_url is not None
    return create_protected_resource_routes(auth.resource_server_url, [auth.issuer_url],
                                            scopes_supported=list(api_keys.SCOPES), resource_name="ledger-mcp")


COMPANY_PATH = re.compile(r"/companies/(?P<slug>[^/]+)/mcp")
COMPANY_METADATA_PATH = re.compile(r"/\.well-known/oauth-protected-resource(?P<path>/companies/[^/]+/mcp)")


class CompanyRouter:
    """The ASGI app of an HTTP instance: the home ledger at /mcp, each company of the catalog at
    /companies/<slug>/mcp, each its own MCP server (`build_server(settings.for_company(...))`) whose lifespan
    runs for as long as this app's. Companies of the catalog start with the app; one created later starts
    on its first request.

    Before any MCP message is handled, the key is checked here (fail closed): none or an invalid one 401; a
    key that does not hold the company 403, whether the company exists or not (a key learns nothing about
    companies it does not hold); a held company that is not in the catalog 404. Each company's server checks
    the key again (`ApiKeyVerifier` bound to the company)."""

    def __init__(self, home: LedgerServer, options: HttpOptions) -> None:
        self.home = home
        self.options = options
        self.verifier = ApiKeyVerifier(home.app.db)
        self.apps: dict[str, Starlette] = {HOME: http_app(home, options)}
        self._lock = anyio.Lock()
        self._stop = anyio.Event()
        self._tasks: TaskGroup | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "")
        match = COMPANY_PATH.fullmatch(path)
        slug = match["slug"] if match else HOME if path == MCP_PATH else None
        metadata = COMPANY_METADATA_PATH.fullmatch(path)
        if scope["type"] == "http" and metadata and self.options.require_key:
            # The same answer for every slug: the metadata says nothing about which companies exist.
            resource = replace(self.options, path=metadata["path"])
            await _metadata_routes(resource)[0].handle(scope, receive, send)
            return
        if slug is None or scope["type"] != "http":
            await self.apps[HOME](scope, receive, send)
            return
        if self.options.require_key:
            info = await self.verifier.key(_bearer(scope))
            if info is None:
                await _refuse(send, 401, "invalid_token", "Authentication required", self._metadata_url(path))
                return
            if not info.holds(slug):
                await _refuse(send, 403, "forbidden", "This key does not hold this company.")
                return
        app = await self._app(slug)
        if app is None:
            await _refuse(send, 404, "not_found", "No such company.")
            return
        await app(scope, receive, send)

    def _metadata_url(self, path: str) -> str:
        return f"{self.options.base_url}/.well-known/oauth-protected-resource{path}"

    async def _app(self, slug: str) -> Starlette | None:
        """The running app of a company; started now if it is in the catalog but not running yet."""
        if slug in self.apps:
            return self.apps[slug]
        async with self._lock:
            if slug in self.apps:
                return self.apps[slug]
            try:
                company = await self.home.app.db.read(companies.get_company, slug)
            except CompanyNotFound:
                return None
            await self._start(company)  # a failure is the request's 500, and the next request tries again
            return self.apps[slug]

    async def _start(self, company: companies.CompanyInfo) -> None:
        from ledger_mcp.server.app import build_server

        assert self._tasks is not None
        settings = self.home.ledger_settings.for_company(company.slug, company.database_url, company.chart)
        options = replace(self.options, path=companies.endpoint(company.slug))
        app = http_app(build_server(settings, options, home=self.home.app.db), options)
        await self._tasks.start(self._run, app)
        self.apps[company.slug] = app

    async def _run(self, app: Starlette, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run one ledger's app lifespan (its session manager, its database) until the instance stops."""
        async with app.router.lifespan_context(app):
            task_status.started()
            await self._stop.wait()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                try:
                    await tasks.start(self._run, self.apps[HOME])
                    for company in await self.home.app.db.read(companies.list_companies):
                        try:
                            await self._start(company)
                        except Exception:  # one company's database down must not keep the others offline
                            log.exception("company %s could not be started; its first request tries again",
                                          company.slug)
                except BaseException as exc:
                    self._stop.set()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                self._stop.set()
        except Exception:
            log.exception("the HTTP server stopped with an error")
            return
        await send({"type": "lifespan.shutdown.complete"})


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" else ""
    return ""


async def _refuse(send: Send, status: int, error: str, description: str, metadata_url: str | None = None) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode()
    challenge = f'Bearer error="{error}", error_description="{description}"'
    if metadata_url:
        challenge += f', resource_metadata="{metadata_url}"'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def asgi_app(server: LedgerServer, options: HttpOptions) -> ASGIApp:
    """What uvicorn serves: the home ledger with its companies, or one ledger alone when `server` is a
    company's (tests) or serves without keys."""
    return CompanyRouter(server, options) if server.app.company == HOME else http_app(server, options)


def uvicorn_server(server: LedgerServer, options: HttpOptions) -> uvicorn.Server:
    """`await .serve()` runs it; setting `.should_exit` stops it gracefully."""
    config = uvicorn.Config(asgi_app(server, options), host=options.host, port=options.port, log_level="warning",
                            lifespan="on")
    return uvicorn.Server(config)


async def serve(server: LedgerServer, options: HttpOptions, sock: socket.socket | None = None) -> None:
    """Serve until stopped. `sock`: an already bound socket (tests bind port 0 first)."""
    await uvicorn_server(server, options).serve(sockets=[sock] if sock else None)


async def count_active_keys(db: Database) -> int:
    return len(await db.read(api_keys.list_api_keys, include_revoked=False))
