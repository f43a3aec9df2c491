"""run_report with pdf=true: a printable PDF beside the figures, read back with pypdf and compared with
the structured content."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp_types import BlobResourceContents, EmbeddedResource
from pypdf import PdfReader
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import initialise, set_company_name
from ledger_mcp.ledger.db import Database
from ledger_mcp.server import build_server
from ledger_mcp.settings import Settings
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio

COMPANY = "Müller & Söhne GmbH"


async def _named_ledger(session: AsyncSession) -> None:
    await initialise(session, "skr03")
    await set_company_name(session, COMPANY)


@pytest.fixture
async def named(settings: Settings) -> AsyncIterator[Client]:
    """A client on a ledger created with a company name."""
    settings.prepare()
    db = Database(settings.database_url)
    await db.create_schema()
    await db.write(_named_ledger)
    await db.dispose()
    async with Client(build_server(settings)) as client:
        yield client


def _pdf(content: list[Any]) -> tuple[str, list[str]]:
    """The PDF's URI and the text of each page."""
    (embedded,) = [c for c in content if isinstance(c, EmbeddedResource) and c.resource.mime_type == "application/pdf"]
    assert isinstance(embedded.resource, BlobResourceContents)
    data = base64.b64decode(embedded.resource.blob)
    assert data.startswith(b"%PDF-")
    return str(embedded.resource.uri), [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


async def _report(client: Client, **arguments: Any) -> tuple[dict[str, Any], str, list[str]]:
    result = await client.call_tool("run_report", {**arguments, "pdf": True})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    uri, pages = _pdf(list(result.content))
    return result.structured_content[arguments["report_type"]], uri, pages


async def _october(client: Client) -> None:
    await book(client, line("1200", "8400", "1190.00", "USt19"), date="2026-10-05", description="Verkauf Büro")
    await book(client, line("4930", "1200", "238.00", "VSt19"), date="2026-10-10", description="Papier")
    await book(client, line("4900", "1200", "500.00", "RC19"), date="2026-10-12", description="EU-Leistung")
    await book(client, line("1588", "1200", "57.00", "EUSt"), date="2026-10-14", description="Zoll")


def _has_page_furniture(pages: list[str], title: str) -> None:
    for number, text in enumerate(pages, 1):
        assert COMPANY in text and title in text, text
        assert f"Seite {number} von {len(pages)}" in text


async def test_statements_as_pdf_carry_the_same_figures(named: Client) -> None:
    await _october(named)
    pnl, uri, pages = await _report(named, report_type="profit_and_loss", period="2026-10")
    assert uri == "report://profit-and-loss.pdf"
    _has_page_furniture(pages, "Gewinn- und Verlustrechnung")
    text = "\n".join(pages)
    assert "2026-10-01 bis 2026-10-31" in text and "Beträge in EUR" in text
    for statement_line in pnl["lines"]:
        assert f"{statement_line['label']} {statement_line['amount']} {statement_line['comparison_amount']}" in text
        for account in statement_line["accounts"]:
            assert f"{account['account']} {account['name']} {account['amount']}" in text
    assert pnl["result"] == "300.00"

    sheet, uri, pages = await _report(named, report_type="balance_sheet", end_date="2026-10-31")
    _has_page_furniture(pages, "Bilanz")
    text = "\n".join(pages)
    assert f"AKTIVA {sheet['total_assets']}" in text and f"PASSIVA {sheet['total_equity_and_liabilities']}" in text

    tb, uri, pages = await _report(named, report_type="trial_balance", period="2026-10")
    _has_page_furniture(pages, "Summen- und Saldenliste")
    text = "\n".join(pages)
    for row in tb["rows"]:
        assert (f"{row['account']} {row['name']} {row['opening_balance']} {row['debit']} {row['credit']} "
                f"{row['closing_balance']}") in text
    assert f"Summe {tb['total_opening_balance']} {tb['total_debit']} {tb['total_credit']}" in text


async def test_vat_return_and_account_statement_as_pdf(named: Client) -> None:
    await _october(named)
    vat, uri, pages = await _report(named, report_type="vat_return", period="2026-10")
    assert uri == "report://vat-return-2026-10.pdf"
    _has_page_furniture(pages, "Umsatzsteuer-Voranmeldung")
    text = "\n".join(pages)
    figures = {k["kennzahl"]: (k["base"], k["tax"]) for k in vat["kennzahlen"]}
    assert figures["62"] == (None, "57.00") and figures["83"] == (None, "95.00")
    for k in vat["kennzahlen"]:
        assert f"{k['kennzahl']} {k['label']}" in text
        assert " ".join(v for v in (k["base"], k["tax"]) if v) in text

    statement, uri, pages = await _report(named, report_type="account_statement", account="1200", period="2026-10")
    assert uri == "report://account-statement.pdf"
    _has_page_furniture(pages, "Kontoblatt 1200 Bank")
    text = "\n".join(pages)
    for entry in statement["lines"]:
        assert f"{entry['description']} {entry['counter_account']}" in text and entry["running_balance"] in text


async def test_a_long_report_runs_over_numbered_pages(named: Client) -> None:
    for day in range(1, 29):
        await book(named, line("4930", "1200", f"{day}.00"), line("4210", "1200", f"{day}.50"),
                   date=f"2026-02-{day:02d}", description=f"Miete und Büro {day}")
    ledger, _, pages = await _report(named, report_type="general_ledger", period="2026-02", limit=500)
    assert len(pages) >= 2
    _has_page_furniture(pages, "Hauptbuch")
    text = "\n".join(pages)
    balances = [entry["running_balance"] for account in ledger["accounts"] for entry in account["lines"]]
    assert len(balances) == 112 and all(balance in text for balance in balances)


async def test_pdf_is_refused_where_there_is_nothing_to_print_and_absent_unless_asked(named: Client) -> None:
    error = await fail(named, "run_report", report_type="aging", pdf=True)
    assert error["code"] == "VALIDATION_ERROR" and "pdf" in error["hint"]
    result = await named.call_tool("run_report", {"report_type": "trial_balance"})
    assert not any(isinstance(c, EmbeddedResource) and c.resource.mime_type == "application/pdf"
                   for c in result.content)
    await call(named, "run_report", report_type="trial_balance")
