"""The MCP server: one ledger database per server, tools and resources registered, and the one
place where domain errors become MCP error results."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import AnyUrl, ValidationError

from ledger_mcp import __version__, resources, tools
from ledger_mcp.context import AppContext
from ledger_mcp.ledger.accounts import initialise, read_meta
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.documents import DocumentStore
from ledger_mcp.ledger.errors import IntentNotFound, LedgerError, UnknownAccount, ValidationFailed
from ledger_mcp.settings import Settings

log = logging.getLogger("ledger_mcp")
_F = TypeVar("_F", bound=Callable[..., Any])

INSTRUCTIONS = """\
ledger-mcp keeps double-entry books (German GAAP, SKR03/SKR04 chart, GoBD hash chain).
- Book with post_booking: gross amounts as decimal strings ("119.00"); a tax_code such as VSt19 or
  USt19 splits the gross into net and VAT. Always send an idempotency_key so that a retry never books twice.
- Nothing is ever edited or deleted: correct a booking with reverse_intent (Storno), then book again.
- Find accounts with search_accounts, tax codes with list_tax_codes; read an intent's full audit view
  with get_intent; balances with run_report (trial_balance, account_statement).
- Months are closed with lock_period (soft lock; lock requested by one actor, approved by another).
  PERIOD_LOCKED: book into details.next_open_period, or reverse with posting_mode current_date.
- Errors come back as {code, message, retryable, hint}: follow the hint and call again.
"""


class LedgerServer(MCPServer[AppContext]):
    """MCPServer that turns `LedgerError` (and argument validation failures) into structured
    `{code, message, retryable, hint}` results, for every tool and resource."""

    def add_tool(self, fn: Callable[..., Any], name: str | None = None, title: str | None = None,
                 description: str | None = None, *args: Any, **kwargs: Any) -> None:
        # Docstrings become descriptions: without their source indentation they read better and cost fewer tokens.
        super().add_tool(fn, name, title, description or inspect.getdoc(fn), *args, **kwargs)

    def resource(self, uri: str, *args: Any, description: str | None = None,  # type: ignore[override]
                 **kwargs: Any) -> Callable[[_F], _F]:
        def decorator(fn: _F) -> _F:
            return super(LedgerServer, self).resource(uri, *args, description=description or inspect.getdoc(fn),
                                                      **kwargs)(fn)
        return decorator

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[AppContext, Any] | None = None) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, LedgerError):
                return error_result(cause)
            if isinstance(cause, ValidationError):
                return error_result(_validation_error(name, cause))
            if cause is None:  # unknown tool: the SDK's own message says so
                raise
            log.exception("tool %s failed", name, exc_info=cause)
            return error_result(LedgerError(f"Internal error in {name}; nothing was written.",
                                            hint="Report this with the arguments you sent."))

    async def read_resource(self, uri: AnyUrl | str, context: Context[AppContext, Any] | None = None
                            ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        try:
            return await super().read_resource(uri, context)
        except ResourceError as exc:
            cause = exc.__cause__
            if isinstance(cause, IntentNotFound | UnknownAccount):
                raise ResourceNotFoundError(json.dumps(cause.to_dict())) from cause
            if isinstance(cause, LedgerError):
                raise ResourceError(json.dumps(cause.to_dict())) from cause
            raise


def error_result(error: LedgerError) -> CallToolResult:
    # The error object travels as JSON text: structured content on an error result would be checked
    # against the tool's output schema by strict clients (e.g. the MCP Inspector) and rejected.
    data = {"error": error.to_dict()}
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
                          is_error=True)


def _validation_error(tool: str, exc: ValidationError) -> ValidationFailed:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors()[:10]]
    return ValidationFailed(f"Invalid arguments for {tool}: " + "; ".join(problems),
                            hint="Fix the named fields to match the tool's input schema and call again.",
                            details={"fields": [".".join(str(p) for p in e["loc"]) for e in exc.errors()]})


def build_server(settings: Settings) -> LedgerServer:
    app = AppContext(db=Database(settings.database_url), actor=settings.actor,
                     documents=DocumentStore(root=settings.documents_dir, inbox=settings.inbox))

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppContext]) -> AsyncIterator[AppContext]:
        settings.prepare()
        await prepare_ledger(app.db, settings.chart)
        try:
            yield app
        finally:
            await app.db.dispose()

    server = LedgerServer("ledger-mcp", title="ledger-mcp", version=__version__, instructions=INSTRUCTIONS,
                          lifespan=lifespan, log_level="WARNING")
    tools.register_all(server, app)
    resources.register_all(server, app)
    return server


async def prepare_ledger(db: Database, chart: str) -> None:
    """Create schema and chart on first start."""
    await db.create_schema()
    if not await db.read(read_meta, required=False) and await db.write(initialise, chart):  # type: ignore[arg-type]
        log.info("initialised a new ledger with chart %s at %s", chart, db.url)
