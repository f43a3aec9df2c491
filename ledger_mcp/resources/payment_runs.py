"""ledger://payment-runs and ledger://payment-runs/{run_id}."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://payment-runs", name="payment-runs", title="Payment runs",
                     mime_type="application/json")
    async def payment_runs() -> str:
        """Payment runs, newest first, with status, execution date, total and number of transfers."""
        from ledger_mcp.ledger.payment_runs import runs

        return as_json(await app.db.read(runs.list_runs))

    @server.resource("ledger://payment-runs/{run_id}", name="payment-run", title="Payment run",
                     mime_type="application/json")
    async def payment_run(run_id: str) -> str:
        """One payment run: items with Skonto and end-to-end ids, totals, status history with provenance."""
        from ledger_mcp.ledger.payment_runs import runs

        return as_json(await app.db.read(runs.run_view, run_id))
