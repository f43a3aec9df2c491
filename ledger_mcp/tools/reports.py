"""Report tools: run_report and list_open_items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import reports
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.reports import AccountStatement, OpenItem, TrialBalance
from ledger_mcp.tools.result import READ_ONLY, answer

ReportType = Literal["trial_balance", "account_statement"]


class Report(BaseModel):
    """One report; the field named after report_type is filled."""

    report_type: str
    trial_balance: TrialBalance | None = None
    account_statement: AccountStatement | None = None


class OpenItemList(BaseModel):
    open_items: list[OpenItem]


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Run a report", annotations=READ_ONLY)
    async def run_report(
        ctx: Context[Any, Any],
        report_type: Annotated[ReportType, Field(description="trial_balance: every account's opening balance, "
                                                             "debits, credits, closing balance. account_statement: "
                                                             "one account's lines with running balance.")],
        start_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        end_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        account: Annotated[str | None, Field(description="Required for account_statement.")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="account_statement page size")] = 200,
        cursor: Annotated[str | None, Field(description="account_statement: next_cursor of the last page")] = None,
    ) -> Annotated[CallToolResult, Report]:
        """Run a report over a date range. Balances: positive = debit, negative = credit."""
        db = app.db
        if report_type == "trial_balance":
            tb = await db.read(reports.trial_balance, start_date, end_date)
            state = "balanced" if tb.balanced else "NOT balanced"
            return answer(Report(report_type=report_type, trial_balance=tb),
                          f"Trial balance: {len(tb.rows)} accounts, debits {tb.total_debit}, credits "
                          f"{tb.total_credit} {tb.currency}, {state}.")
        if not account:
            raise ValidationFailed("account_statement needs an account.", hint="Pass account, e.g. '1200'.")
        st = await db.read(reports.account_statement, account, start_date, end_date, limit, cursor)
        more = " More: pass next_cursor." if st.next_cursor else ""
        return answer(Report(report_type=report_type, account_statement=st),
                      f"Account {st.account} {st.name}: opening {st.opening_balance}, {len(st.lines)} lines, "
                      f"closing {st.closing_balance} {st.currency}.{more}")

    @server.tool(title="List open items", annotations=READ_ONLY)
    async def list_open_items(
        ctx: Context[Any, Any],
        kind: Annotated[Literal["receivable", "payable"] | None, Field(description="Omit for both.")] = None,
    ) -> Annotated[CallToolResult, OpenItemList]:
        """Unsettled receivables and payables: balances on the receivables/payables accounts per
        external reference (invoice number) that have not netted to zero (same as ledger://open-items)."""
        items = await app.db.read(reports.open_items, kind)
        return answer(OpenItemList(open_items=items), f"{len(items)} open items.")
