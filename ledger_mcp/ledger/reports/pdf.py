"""Reports as a printable PDF: the same table as the markdown and the CSV (render.table), under the
company's name and the report's period, with page numbers. fpdf2 is imported here, not at start-up:
only a PDF pays for it. The built-in Helvetica carries Latin-1, which covers German; any other
character prints as '?'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ledger_mcp.ledger.reports.balances import AccountStatement, GeneralLedger, TrialBalance
from ledger_mcp.ledger.reports.monthly import MonthlyRevenueExpenses
from ledger_mcp.ledger.reports.render import table
from ledger_mcp.ledger.reports.statements import BalanceSheet, ProfitAndLoss
from ledger_mcp.ledger.reports.vat import VatReturn

if TYPE_CHECKING:
    from fpdf import FPDF

MIME = "application/pdf"
_AMOUNT_COLUMNS = {"opening_balance", "debit", "credit", "closing_balance", "comparison_closing_balance", "amount",
                   "comparison_amount", "base", "tax", "revenue", "expenses", "result", "balance"}
_ROW_HEIGHT = 5.0
_MARGIN = 12.0


def heading(report: BaseModel) -> tuple[str, str]:
    """The report's name and the period it covers, as printed at the top of every page."""
    def span(start: str | None, end: str | None) -> str:
        return f"{start or 'Beginn'} bis {end or 'heute'}"

    if isinstance(report, TrialBalance):
        compare = (f"; Vergleich {span(report.comparison_start_date, report.comparison_end_date)}"
                   if report.comparison_start_date or report.comparison_end_date else "")
        return "Summen- und Saldenliste", span(report.start_date, report.end_date) + compare
    if isinstance(report, ProfitAndLoss):
        return ("Gewinn- und Verlustrechnung (§ 275 Abs. 2 HGB)", f"{span(report.start_date, report.end_date)}; "
                f"Vergleich {span(report.comparison_start_date, report.comparison_end_date)}")
    if isinstance(report, BalanceSheet):
        return "Bilanz (§ 266 HGB)", f"zum {report.as_of}; Vergleich zum {report.comparison_as_of}"
    if isinstance(report, VatReturn):
        return "Umsatzsteuer-Voranmeldung", f"{report.period} ({span(report.start_date, report.end_date)})"
    if isinstance(report, AccountStatement):
        return f"Kontoblatt {report.account} {report.name}", span(report.start_date, report.end_date)
    if isinstance(report, GeneralLedger):
        return "Hauptbuch", span(report.start_date, report.end_date)
    if isinstance(report, MonthlyRevenueExpenses):
        return "Erlöse und Aufwendungen je Monat", span(report.start_date, report.end_date)
    raise TypeError(f"no PDF for {type(report).__name__}")


def _latin1(text: str) -> str:
    return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


def report_pdf(report: BaseModel, company: str) -> bytes:
    """The report as a PDF file (A4; landscape for tables of more than four columns)."""
    from fpdf import FPDF

    title, period = heading(report)
    header, rows = table(report)
    currency = getattr(report, "currency", "")
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    class Document(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "B", 12)
            self.cell(0, 6, _latin1(company), new_x="LMARGIN", new_y="NEXT")
            self.set_font("Helvetica", "B", 10)
            self.cell(0, 5, _latin1(title), new_x="LMARGIN", new_y="NEXT")
            self.set_font("Helvetica", "", 8)
            self.cell(0, 5, _latin1(f"{period}; Beträge in {currency}"), new_x="LMARGIN", new_y="NEXT")
            self.ln(2)
            _row(self, header, header, widths, bold=True, rule=True)

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font("Helvetica", "", 7)
            self.cell(0, 4, _latin1(f"{company} - {title} - erstellt {created}"), align="L")
            self.cell(0, 4, f"Seite {self.page_no()} von {{nb}}", align="R")

    pdf = Document(orientation="L" if len(header) > 4 else "P", unit="mm", format="A4")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_font("Helvetica", "", 8)
    widths = _widths(pdf, header, rows)
    pdf.add_page()
    for row in rows:
        _row(pdf, row, header, widths, bold=not row[0] and row[1] in {"Summe", "AKTIVA", "PASSIVA"})
    return bytes(pdf.output())


def _widths(pdf: FPDF, header: list[str], rows: list[list[str]]) -> list[float]:
    """Column widths in proportion to their widest text (long labels capped), filling the page."""
    natural = [max([pdf.get_string_width(_latin1(h)) + 2]
                   + [min(pdf.get_string_width(_latin1(r[i])), 90) + 2 for r in rows[:500]])
               for i, h in enumerate(header)]
    room = pdf.w - 2 * _MARGIN
    scale = room / sum(natural)
    return [w * scale for w in natural]


def _row(pdf: FPDF, cells: list[str], header: list[str], widths: list[float], *, bold: bool = False,
         rule: bool = False) -> None:
    """One table row; amounts right-aligned, text cut to its column."""
    pdf.set_font("Helvetica", "B" if bold else "", 8)
    for text, column, width in zip(cells, header, widths, strict=True):
        value = _latin1(text)
        while value and pdf.get_string_width(value) > width - 1:
            value = value[:-1]
        pdf.cell(width, _ROW_HEIGHT, value, border="B" if rule else 0,
                 align="R" if column in _AMOUNT_COLUMNS else "L")
    pdf.ln(_ROW_HEIGHT)
