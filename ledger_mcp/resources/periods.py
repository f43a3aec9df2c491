"""ledger://periods, ledger://periods/{period}, ledger://periods/{start_period}/{end_period}."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://periods", name="periods", title="Accounting periods", mime_type="application/json")
    async def all_periods() -> str:
        """Every month from the earliest booking to the current month: status (open, soft_locked,
        locked), lock request, closing hash, intent and line counts, debit total."""
        from ledger_mcp.ledger import periods

        return as_json(await app.db.read(periods.list_periods))

    @server.resource("ledger://periods/{period}", name="period", title="Accounting period",
                     mime_type="application/json")
    async def one_period(period: str) -> str:
        """One month (YYYY-MM): status, lock request and approval, closing hash, totals."""
        from ledger_mcp.ledger import periods

        return as_json(await app.db.read(periods.period_status, period))

    @server.resource("ledger://periods/{start_period}/{end_period}", name="period-range", title="Accounting periods",
                     mime_type="application/json")
    async def period_range(start_period: str, end_period: str) -> str:
        """Every month from start_period to end_period (YYYY-MM) with status and totals."""
        from ledger_mcp.ledger import periods

        return as_json(await app.db.read(periods.list_periods, start_period, end_period))
