"""ledger://companies: the companies the caller holds (twin of list_companies)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.resource("ledger://companies", name="companies", title="Companies", mime_type="application/json")
    async def held_companies() -> str:
        """The home ledger and the companies this key holds: name, MCP endpoint path, open review cases,
        overdue open items (count and amounts in the base currency)."""
        return as_json(await app.companies())
