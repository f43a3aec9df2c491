"""ledger://reports/{report}/{period}: the P&L, balance sheet, VAT return and trial balance of a month
(2026-10), a quarter (2026-Q3) or a fiscal year (2026). Twin of the run_report tool."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://reports/profit-and-loss/{period}", name="profit-and-loss",
                     title="Profit and loss (GuV)", mime_type="application/json")
    async def profit_and_loss(period: str) -> str:
        """HGB § 275 (2) GuV for a period (YYYY-MM, YYYY-Qn or YYYY) beside the same period a year earlier."""
        from ledger_mcp.ledger import reports

        p = reports.report_period(period)
        return as_json(await app.db.read(reports.profit_and_loss, p.start.isoformat(), p.end.isoformat()))

    @server.resource("ledger://reports/balance-sheet/{period}", name="balance-sheet", title="Balance sheet (Bilanz)",
                     mime_type="application/json")
    async def balance_sheet(period: str) -> str:
        """HGB § 266 Bilanz as of the last day of a period (YYYY-MM, YYYY-Qn or YYYY), with a year before."""
        from ledger_mcp.ledger import reports

        p = reports.report_period(period)
        return as_json(await app.db.read(reports.balance_sheet, p.end.isoformat()))

    @server.resource("ledger://reports/vat-return/{period}", name="vat-return", title="VAT pre-return (UStVA)",
                     mime_type="application/json")
    async def vat_return(period: str) -> str:
        """UStVA Kennzahlen for a month (YYYY-MM) or quarter (YYYY-Qn), with the tax codes behind each."""
        from ledger_mcp.ledger import reports

        return as_json(await app.db.read(reports.vat_return, period))

    @server.resource("ledger://reports/trial-balance/{period}", name="trial-balance",
                     title="Trial balance (Summen- und Saldenliste)", mime_type="application/json")
    async def trial_balance(period: str) -> str:
        """Summen- und Saldenliste of a period (YYYY-MM, YYYY-Qn or YYYY): opening, debit, credit, closing."""
        from ledger_mcp.ledger import reports

        p = reports.report_period(period)
        return as_json(await app.db.read(reports.trial_balance, p.start.isoformat(), p.end.isoformat()))
