"""The report tool: run_report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import open_items, reports
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.exports.beancount import beancount_export
from ledger_mcp.ledger.exports.datev import DatevOptions, datev_export
from ledger_mcp.ledger.invoices import Direction
from ledger_mcp.ledger.open_items import AgingReport
from ledger_mcp.ledger.reports import AccountStatement, TrialBalance
from ledger_mcp.tools.export_files import ExportResult, embed
from ledger_mcp.tools.result import READ_ONLY, answer

ReportType = Literal["trial_balance", "account_statement", "aging", "datev_export", "beancount_export"]


class Report(BaseModel):
    """One report; the field named after report_type is filled."""

    report_type: str
    trial_balance: TrialBalance | None = None
    account_statement: AccountStatement | None = None
    aging: AgingReport | None = None
    datev_export: ExportResult | None = None
    beancount_export: ExportResult | None = None


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Run a report", annotations=READ_ONLY)
    async def run_report(
        ctx: Context[Any, Any],
        report_type: Annotated[ReportType, Field(description="Which report; see the list above.")],
        start_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        end_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        account: Annotated[str | None, Field(description="Required for account_statement.")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="account_statement page size")] = 200,
        cursor: Annotated[str | None, Field(description="account_statement: next_cursor of the last page")] = None,
        kind: Annotated[Direction, Field(description="aging: receivable or payable")] = "receivable",
        as_of: Annotated[str | None, Field(description="aging: YYYY-MM-DD, default today")] = None,
        datev_consultant_number: Annotated[int | None, Field(description="datev_export: Beraternummer")] = None,
        datev_client_number: Annotated[int | None, Field(description="datev_export: Mandantennummer")] = None,
    ) -> Annotated[CallToolResult, Report]:
        """Run a report over a date range (start_date..end_date). Balances: positive = debit, negative =
        credit. Report types:
        - trial_balance: every account's opening balance, debits, credits and closing balance.
        - account_statement: one account's lines with running balance (needs account; paged).
        - aging: open receivables or payables (kind) per party by days past due as of a date.
        - datev_export: DATEV EXTF Buchungsstapel per fiscal year and Debitoren/Kreditoren, as files.
        - beancount_export: the journal up to end_date as a Beancount file."""
        db = app.db
        if report_type == "trial_balance":
            tb = await db.read(reports.trial_balance, start_date, end_date)
            state = "balanced" if tb.balanced else "NOT balanced"
            return answer(Report(report_type=report_type, trial_balance=tb),
                          f"Trial balance: {len(tb.rows)} accounts, debits {tb.total_debit}, credits "
                          f"{tb.total_credit} {tb.currency}, {state}.")
        if report_type == "aging":
            ag = await db.read(open_items.aging, kind, as_of)
            t = ag.totals
            return answer(Report(report_type=report_type, aging=ag),
                          f"Aging of {kind}s as of {ag.as_of}, {len(ag.rows)} parties: current {t.current}, 1-30 "
                          f"{t.days_1_30}, 31-60 {t.days_31_60}, 61-90 {t.days_61_90}, >90 {t.days_over_90}; total "
                          f"{t.total} {ag.currency}.")

        async def progress(done: int, total: int, message: str) -> None:
            await ctx.report_progress(done, total, message)

        if report_type == "datev_export":
            if datev_consultant_number is None or datev_client_number is None:
                raise ValidationFailed("datev_export needs datev_consultant_number and datev_client_number.",
                                       hint="Pass the tax advisor's Beraternummer and the company's Mandantennummer.")
            options = DatevOptions(datev_consultant_number, datev_client_number)
            exported, files = embed(await db.read(datev_export, options, start_date, end_date, progress),
                                    binary=True)
            result = answer(Report(report_type=report_type, datev_export=exported),
                            "DATEV export: " + ", ".join(f"{f.filename} ({f.rows} rows)" for f in exported.files)
                            + ". Checked against DATEV's format rules; cp1252, for import as they are.")
            result.content += files
            return result
        if report_type == "beancount_export":
            if start_date:
                raise ValidationFailed("beancount_export covers the journal from its first line.",
                                       hint="Omit start_date; end_date limits the export.")
            exported, files = embed([await db.read(beancount_export, end_date, progress)], binary=False)
            result = answer(Report(report_type=report_type, beancount_export=exported),
                            f"Beancount file {exported.files[0].filename}: {exported.files[0].rows} transactions.")
            result.content += files
            return result
        if not account:
            raise ValidationFailed("account_statement needs an account.", hint="Pass account, e.g. '1200'.")
        st = await db.read(reports.account_statement, account, start_date, end_date, limit, cursor)
        more = " More: pass next_cursor." if st.next_cursor else ""
        return answer(Report(report_type=report_type, account_statement=st),
                      f"Account {st.account} {st.name}: opening {st.opening_balance}, {len(st.lines)} lines, "
                      f"closing {st.closing_balance} {st.currency}.{more}")
