"""Reports as people read them: markdown tables (the text of a tool answer), CSV files (what a person
would export) and PNG charts. Each report has one table: its rows as (header, rows), from which the
markdown and the CSV are both made."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import BaseModel

from ledger_mcp.ledger.reports.balances import AccountStatement, GeneralLedger, TrialBalance
from ledger_mcp.ledger.reports.monthly import MonthlyRevenueExpenses
from ledger_mcp.ledger.reports.statements import BalanceSheet, ProfitAndLoss, StatementLine
from ledger_mcp.ledger.reports.vat import VatReturn

Table = tuple[list[str], list[list[str]]]


def table(report: BaseModel) -> Table:
    """The report's rows; amounts stay decimal strings with a point."""
    if isinstance(report, TrialBalance):
        header = ["account", "name", "opening_balance", "debit", "credit", "closing_balance"]
        compare = report.comparison_start_date is not None or report.comparison_end_date is not None
        header += ["comparison_closing_balance"] if compare else []
        rows = [[r.account, r.name, r.opening_balance, r.debit, r.credit, r.closing_balance]
                + ([r.comparison_closing_balance or ""] if compare else []) for r in report.rows]
        rows.append(["", "Summe", report.total_opening_balance, report.total_debit, report.total_credit,
                     report.total_closing_balance] + ([""] if compare else []))
        return header, rows
    if isinstance(report, ProfitAndLoss):
        return _statement(report.lines, report.unassigned)
    if isinstance(report, BalanceSheet):
        header, rows = _statement([StatementLine(line="", label="AKTIVA", amount=report.total_assets,
                                                 comparison_amount=report.comparison_total_assets, accounts=[]),
                                   *report.assets], [])
        _, passiva = _statement([StatementLine(line="", label="PASSIVA", amount=report.total_equity_and_liabilities,
                                               comparison_amount=report.comparison_total_equity_and_liabilities,
                                               accounts=[]), *report.equity_and_liabilities], report.unassigned)
        return header, rows + passiva
    if isinstance(report, VatReturn):
        return (["kennzahl", "label", "base", "tax", "tax_codes", "accounts"],
                [[k.kennzahl, k.label, k.base or "", k.tax or "", " ".join(k.tax_codes), " ".join(k.accounts)]
                 for k in report.kennzahlen])
    if isinstance(report, MonthlyRevenueExpenses):
        rows = [[m.month, m.revenue, m.expenses, m.result] for m in report.months]
        rows.append(["total", report.total_revenue, report.total_expenses, report.total_result])
        return ["month", "revenue", "expenses", "result"], rows
    if isinstance(report, GeneralLedger):
        return _lines(report.accounts)
    if isinstance(report, AccountStatement):
        return _lines([report])
    raise TypeError(f"no table for {type(report).__name__}")


def _statement(lines: list[StatementLine], unassigned: list[Any]) -> Table:
    rows = []
    for line in lines:
        rows.append([line.line, line.label, line.amount, line.comparison_amount])
        rows += [["", f"  {a.account} {a.name}", a.amount, a.comparison_amount] for a in line.accounts]
    rows += [["?", f"not on any line: {u.account} {u.name} ({u.report_group})", u.balance, ""] for u in unassigned]
    return ["line", "label", "amount", "comparison_amount"], rows


def _lines(statements: list[AccountStatement]) -> Table:
    rows = []
    for st in statements:
        rows.append([st.account, "", st.name, "", "", "", st.opening_balance])
        rows += [[st.account, line.booking_date, line.description, line.counter_account, line.debit, line.credit,
                  line.running_balance] for line in st.lines]
    return ["account", "booking_date", "description", "counter_account", "debit", "credit", "balance"], rows


def markdown(report: BaseModel, title: str) -> str:
    header, rows = table(report)
    cells = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    out = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(out)


def csv_text(report: BaseModel) -> str:
    header, rows = table(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def chart_png(monthly: MonthlyRevenueExpenses, title: str) -> bytes:
    """Revenue and expenses as bars per month, the result as a line. Matplotlib is imported here, not
    at start-up: only a chart pays for it. A bare Figure (no pyplot state) on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    months = [m.month for m in monthly.months]
    revenue = [float(m.revenue) for m in monthly.months]  # drawing only: figures stay decimal elsewhere
    expenses = [float(m.expenses) for m in monthly.months]
    result = [float(m.result) for m in monthly.months]
    positions = list(range(len(months)))
    figure = Figure(figsize=(8, 4), dpi=80)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.2)
    axes = figure.add_subplot()
    axes.bar([p - 0.2 for p in positions], revenue, width=0.4, label="revenue", color="#2e7d32")
    axes.bar([p + 0.2 for p in positions], expenses, width=0.4, label="expenses", color="#c62828")
    axes.plot(positions, result, marker="o", color="#1565c0", label="result")
    axes.axhline(0, color="#555555", linewidth=0.8)
    axes.set_xticks(positions, months, rotation=45 if len(months) > 6 else 0)
    axes.set_title(title[:90], fontsize=9)
    axes.set_ylabel(monthly.currency)
    axes.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
