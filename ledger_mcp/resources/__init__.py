"""MCP resources (ledger://...). Each has a read-tool twin, since many clients never read resources."""

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources import bank, chart, companies, journal, parties, payment_runs, periods, reports, review


def register_all(server: MCPServer, app: AppContext) -> None:  # type: ignore[type-arg]
    for module in (chart, journal, parties, periods, review, bank, reports, payment_runs, companies):
        module.register(server, app)
