"""MCP tools: thin adapters that validate input, call the ledger, and shape the answer."""

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.tools import (
    accounts,
    bank,
    booking,
    companies,
    confirmations,
    fx,
    invoices,
    journal,
    parties,
    payment_runs,
    periods,
    reports,
    review,
    webhooks,
)


def register_all(server: MCPServer, app: AppContext) -> None:  # type: ignore[type-arg]
    for module in (booking, journal, accounts, reports, parties, invoices, periods, review, fx, bank,
                   payment_runs, companies, webhooks):
        module.register(server, app)
    if app.transport == "http":  # on stdio the human grants with the CLI (see tools/confirmations.py)
        confirmations.register(server, app)
