"""MCP resources (ledger://...). Each has a read-tool twin, since many clients never read resources."""

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources import chart, journal, periods


def register_all(server: MCPServer, app: AppContext) -> None:  # type: ignore[type-arg]
    chart.register(server, app)
    journal.register(server, app)
    periods.register(server, app)
