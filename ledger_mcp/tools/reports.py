"""The report tool: run_report. One branch per report type; the figures are structured content, the
text is a markdown table, exports come as an embedded CSV and charts as a PNG image."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import open_items, reports
from ledger_mcp.ledger.accounts import company_name
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.exports.beancount import beancount_export
from ledger_mcp.ledger.exports.datev import DatevOptions, datev_export
from ledger_mcp.ledger.invoices import Direction
from ledger_mcp.ledger.open_items import AgingReport
from ledger_mcp.ledger.reports import (
    AccountStatement,
    BalanceSheet,
    GeneralLedger,
    MonthlyRevenueExpenses,
    ProfitAndLoss,
    TrialBalance,
    VatReturn,
)
from ledger_mcp.ledger.reports.pdf import MIME as PDF_MIME
from ledger_mcp.ledger.reports.pdf import report_pdf
from ledger_mcp.ledger.reports.render import chart_png, csv_text, markdown
from ledger_mcp.tools.export_files import ExportResult, embed
from ledger_mcp.tools.result import READ_ONLY, answer

ReportType = Literal["trial_balance", "general_ledger", "account_statement", "profit_and_loss", "balance_sheet",
                     "vat_return", "monthly_revenue_expenses", "aging", "datev_export", "beancount_export"]


class Report(BaseModel):
    """One report; the field named after report_type is filled."""

    report_type: str
    trial_balance: TrialBalance | None = None
    general_ledger: GeneralLedger | None = None
    account_statement: AccountStatement | None = None
    profit_and_loss: ProfitAndLoss | None = None
    balance_sheet: BalanceSheet | None = None
    vat_return: VatReturn | None = None
    monthly_revenue_expenses: MonthlyRevenueExpenses | None = None
    aging: AgingReport | None = None
    datev_export: ExportResult | None = None
    beancount_export: ExportResult | None = None


def report_answer(report_type: str, model: BaseModel, title: str, *, export: str | None = None,
                  chart: MonthlyRevenueExpenses | None = None, pdf: str | None = None) -> CallToolResult:
    """Structured figures, a markdown table as text, and optionally a CSV file (`export`: its URI),
    a PNG chart and a PDF (`pdf`: the company name printed on it)."""
    content: list[ContentBlock] = [TextContent(type="text", text=markdown(model, title))]
    uri = export or f"report://{report_type.replace('_', '-')}.csv"
    if export:
        content.append(EmbeddedResource(type="resource", resource=TextResourceContents(
            uri=export, mime_type="text/csv", text=csv_text(model))))
    if pdf is not None:
        content.append(EmbeddedResource(type="resource", resource=BlobResourceContents(
            uri=uri.removesuffix(".csv") + ".pdf", mime_type=PDF_MIME,
            blob=base64.b64encode(report_pdf(model, pdf)).decode())))
    if chart is not None:
        png = chart_png(chart, title)
        content.append(ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png"))
    structured = Report.model_validate({"report_type": report_type, report_type: model})
    return CallToolResult(content=content, structured_content=structured.model_dump(mode="json"))


async def _company(app: AppContext) -> str:
    """The name printed on PDFs: the ledger's company_name, else a placeholder that says how to set it."""
    return await app.db.read(company_name) or "(company name not set: ledger-mcp init --name)"


def _range(start_date: str | None, end_date: str | None) -> str:
    return f"{start_date or 'start'} to {end_date or 'today'}"


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Run a report", annotations=READ_ONLY)
    async def run_report(
        ctx: Context[Any, Any],
        report_type: Annotated[ReportType, Field(description="Which report; see the list above.")],
        start_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        end_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        period: Annotated[str | None, Field(description="YYYY-MM, YYYY-Qn or YYYY (vat_return needs it)")] = None,
        account: Annotated[str | None, Field(description="Required for account_statement.")] = None,
        account_from: Annotated[str | None, Field(description="trial_balance/general_ledger: first account")] = None,
        account_to: Annotated[str | None, Field(description="trial_balance/general_ledger: last account")] = None,
        compare_start_date: Annotated[str | None, Field(description="Comparison range start, YYYY-MM-DD")] = None,
        compare_end_date: Annotated[str | None, Field(description="Comparison range end (balance_sheet: date)")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Lines per page (statement, ledger)")] = 200,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
        kind: Annotated[Direction, Field(description="aging: receivable or payable")] = "receivable",
        as_of: Annotated[str | None, Field(description="aging: YYYY-MM-DD, default today")] = None,
        datev_consultant_number: Annotated[int | None, Field(description="datev_export: Beraternummer")] = None,
        datev_client_number: Annotated[int | None, Field(description="datev_export: Mandantennummer")] = None,
        pdf: Annotated[bool, Field(description="Also return a printable PDF (statements, balances, vat_return)")]
        = False,
    ) -> Annotated[CallToolResult, Report]:
        """Run a report over start_date..end_date. Balances: + = debit, - = credit. Types:
        - trial_balance: Summen- und Saldenliste per account (opening, debit, credit, closing).
        - general_ledger: every account's lines with running balance (paged).
        - account_statement: one account's lines (needs account; paged).
        - profit_and_loss: HGB § 275 GuV with prior-year comparison.
        - balance_sheet: HGB § 266 Bilanz as of end_date.
        - vat_return: UStVA Kennzahlen for period.
        - monthly_revenue_expenses: revenue, expenses, result per month.
        - aging: open receivables or payables (kind) by days past due.
        - datev_export: DATEV EXTF Buchungsstapel per fiscal year and Debitoren/Kreditoren, as files.
        - beancount_export: the journal up to end_date as a Beancount file."""
        db = app.db
        company = await _company(app) if pdf else None
        if pdf and report_type in ("aging", "datev_export", "beancount_export"):
            raise ValidationFailed(f"{report_type} has no PDF form.",
                                   hint="Pass pdf only with a statement, a balance list or vat_return.")
        if period and report_type != "vat_return":
            p = reports.report_period(period)
            start_date, end_date = start_date or p.start.isoformat(), end_date or p.end.isoformat()
        if report_type == "trial_balance":
            tb = await db.read(reports.trial_balance, start_date, end_date, account_from=account_from,
                               account_to=account_to, comparison_start_date=compare_start_date,
                               comparison_end_date=compare_end_date)
            state = "balanced" if tb.balanced else "NOT balanced"
            return report_answer(report_type, tb, f"Trial balance: {len(tb.rows)} accounts, debits {tb.total_debit}, "
                                 f"credits {tb.total_credit} {tb.currency}, {state}.",
                                 export="report://trial-balance.csv", pdf=company)
        if report_type == "general_ledger":
            gl = await db.read(reports.general_ledger, start_date, end_date, account_from=account_from,
                               account_to=account_to, limit=limit, cursor=cursor)
            more = " More: pass next_cursor." if gl.next_cursor else ""
            return report_answer(report_type, gl, f"General ledger {_range(start_date, end_date)}, {len(gl.accounts)} "
                                 f"accounts, {gl.currency}.{more}", export="report://general-ledger.csv", pdf=company)
        if report_type == "profit_and_loss":
            pnl = await db.read(reports.profit_and_loss, start_date, end_date, comparison_start_date=compare_start_date,
                                comparison_end_date=compare_end_date)
            trend = await db.read(reports.monthly_revenue_expenses, pnl.start_date, pnl.end_date)
            return report_answer(report_type, pnl, f"GuV {pnl.start_date} to {pnl.end_date} (comparison "
                                 f"{pnl.comparison_start_date} to {pnl.comparison_end_date}), result {pnl.result} "
                                 f"{pnl.currency}", export="report://profit-and-loss.csv", chart=trend, pdf=company)
        if report_type == "balance_sheet":
            bs = await db.read(reports.balance_sheet, end_date, comparison_end_date=compare_end_date)
            state = "balanced" if bs.balanced else "NOT balanced: see unassigned"
            return report_answer(report_type, bs, f"Bilanz as of {bs.as_of} (comparison {bs.comparison_as_of}), "
                                 f"{bs.currency}, {state}", export="report://balance-sheet.csv", pdf=company)
        if report_type == "vat_return":
            if not period:
                raise ValidationFailed("vat_return needs a period.", hint="Pass period, e.g. '2026-10' or '2026-Q3'.")
            vat = await db.read(reports.vat_return, period)
            return report_answer(report_type, vat, f"UStVA {vat.period}: payable (Kz 83) {vat.payable} "
                                 f"{vat.currency}", export=f"report://vat-return-{vat.period}.csv", pdf=company)
        if report_type == "monthly_revenue_expenses":
            monthly = await db.read(reports.monthly_revenue_expenses, start_date, end_date)
            return report_answer(report_type, monthly, f"Revenue and expenses per month, {monthly.start_date} to "
                                 f"{monthly.end_date}, {monthly.currency}", export="report://monthly.csv",
                                 chart=monthly, pdf=company)
        if report_type == "aging":
            ag = await db.read(open_items.aging, kind, as_of)
            t = ag.totals
            text = (f"Aging of {kind}s as of {ag.as_of}, {len(ag.rows)} parties: current {t.current}, 1-30 "
                    f"{t.days_1_30}, 31-60 {t.days_31_60}, 61-90 {t.days_61_90}, >90 {t.days_over_90}; total "
                    f"{t.total} {ag.currency}.")
            return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=Report(
                report_type=report_type, aging=ag).model_dump(mode="json"))

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
        return report_answer(report_type, st, f"Account {st.account} {st.name}: opening {st.opening_balance}, "
                             f"{len(st.lines)} lines, closing {st.closing_balance} {st.currency}.{more}", pdf=company)
