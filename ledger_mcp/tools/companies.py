"""list_companies (toolset `companies`): the companies a key holds, for keys that hold several."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from ledger_mcp.context import AppContext
from ledger_mcp.ledger.companies import CompanyList
from ledger_mcp.tools.result import READ_ONLY, answer


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Companies", annotations=READ_ONLY)
    async def list_companies() -> Annotated[CallToolResult, CompanyList]:
        """The companies this key holds, each a ledger of its own: name, MCP endpoint path (book there), open
        review cases, overdue open items (count, amounts). Same as resource ledger://companies."""
        result = await app.companies()
        lines = [f"{c.slug} ({c.name}) at {c.endpoint}: " + (
            f"{c.open_review_cases} open review cases, {c.overdue_items} overdue items" if c.reachable
            else "its ledger cannot be read") for c in result.companies]
        return answer(result, "; ".join(lines) or "No companies.",
                      [("ledger://companies", "companies")])
