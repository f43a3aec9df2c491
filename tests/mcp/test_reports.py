"""run_report and ledger://reports/... as a client sees them: figures, markdown, CSV, PNG charts."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import pytest
from mcp import Client
from mcp_types import EmbeddedResource, ImageContent, TextContent, TextResourceContents

from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio


async def _october(client: Client) -> None:
    await book(client, line("1200", "8400", "1190.00", "USt19"), date="2026-10-05", description="Sale")
    await book(client, line("4930", "1200", "238.00", "VSt19"), date="2026-10-10", description="Paper")
    await book(client, line("4900", "1200", "500.00", "RC19"), date="2026-10-12", description="EU service")
    wrong = await book(client, line("1200", "8400", "59.50", "USt19"), date="2026-10-20", description="Mistake")
    await call(client, "reverse_intent", intent_id=wrong["intent_id"], reason="booked twice")


async def _run(client: Client, **arguments: Any) -> tuple[dict[str, Any], list[Any]]:
    result = await client.call_tool("run_report", arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content), list(result.content)


def _csv(content: list[Any]) -> str:
    (embedded,) = [c for c in content if isinstance(c, EmbeddedResource)]
    assert isinstance(embedded.resource, TextResourceContents) and embedded.resource.mime_type == "text/csv"
    return embedded.resource.text


def _png(content: list[Any]) -> bytes:
    (image,) = [c for c in content if isinstance(c, ImageContent)]
    assert image.mime_type == "image/png"
    data = base64.b64decode(image.data)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    return data


async def test_trial_balance_with_markdown_and_csv(client: Client) -> None:
    await _october(client)
    report, content = await _run(client, report_type="trial_balance", start_date="2026-10-01",
                                 end_date="2026-10-31", account_from="1000", account_to="1999",
                                 compare_start_date="2026-09-01", compare_end_date="2026-09-30")
    tb = report["trial_balance"]
    bank = tb["rows"][0]
    assert (bank["account"], bank["debit"], bank["credit"], bank["closing_balance"]) == (
        "1200", "1249.50", "797.50", "452.00")
    assert bank["comparison_closing_balance"] == "0.00"
    assert [r["account"] for r in tb["rows"]] == ["1200", "1576", "1577", "1776", "1787"]
    text = content[0]
    assert isinstance(text, TextContent) and text.text.startswith("Trial balance: 5 accounts")
    assert "| account | name | opening_balance | debit | credit | closing_balance | comparison_closing_balance |" \
        in text.text
    assert "| 1200 | Bank | 0.00 | 1249.50 | 797.50 | 452.00 | 0.00 |" in text.text
    rows = _csv(content).split("\r\n")
    assert rows[0] == "account,name,opening_balance,debit,credit,closing_balance,comparison_closing_balance"
    assert rows[1] == "1200,Bank,0.00,1249.50,797.50,452.00,0.00"


async def test_profit_and_loss_balance_sheet_and_charts(client: Client) -> None:
    await _october(client)
    report, content = await _run(client, report_type="profit_and_loss", start_date="2026-10-01",
                                 end_date="2026-10-31")
    pnl = report["profit_and_loss"]
    same, _ = await _run(client, report_type="profit_and_loss", period="2026-10")
    assert same["profit_and_loss"] == pnl
    assert {line["line"]: line["amount"] for line in pnl["lines"]}["8"] == "-700.00"
    assert pnl["result"] == "300.00" and pnl["comparison_start_date"] == "2025-10-01"
    assert "sonstige betriebliche Aufwendungen" in content[0].text
    _png(content)
    sheet, _ = await _run(client, report_type="balance_sheet", end_date="2026-10-31")
    bs = sheet["balance_sheet"]
    assert bs["balanced"] and bs["total_assets"] == bs["total_equity_and_liabilities"] == "585.00"
    assert bs["result"] == "300.00"
    monthly, content = await _run(client, report_type="monthly_revenue_expenses", start_date="2026-09-01",
                                  end_date="2026-10-31")
    assert [(m["month"], m["revenue"], m["expenses"]) for m in monthly["monthly_revenue_expenses"]["months"]] == [
        ("2026-09", "0.00", "0.00"), ("2026-10", "1000.00", "700.00")]
    _png(content)
    assert "2026-10,1000.00,700.00,300.00" in _csv(content)


async def test_vat_return_and_its_errors(client: Client) -> None:
    await _october(client)
    report, content = await _run(client, report_type="vat_return", period="2026-10")
    vat = report["vat_return"]
    kz = {k["kennzahl"]: (k["base"], k["tax"]) for k in vat["kennzahlen"]}
    assert kz == {"46": ("500.00", None), "47": (None, "95.00"), "66": (None, "38.00"), "67": (None, "95.00"),
                  "81": ("1000.00", "190.00"), "83": (None, "152.00")}
    assert content[0].text.startswith("UStVA 2026-10: payable (Kz 83) 152.00 EUR")
    assert (await fail(client, "run_report", report_type="vat_return"))["code"] == "VALIDATION_ERROR"
    error = await fail(client, "run_report", report_type="vat_return", period="2026-13")
    assert error["code"] == "VALIDATION_ERROR" and "2026-Q3" in error["hint"]


async def test_general_ledger_pages(client: Client) -> None:
    await _october(client)
    first, _ = await _run(client, report_type="general_ledger", start_date="2026-10-01", end_date="2026-10-31",
                          limit=4)
    gl = first["general_ledger"]
    assert [a["account"] for a in gl["accounts"]] == ["1200"] and len(gl["accounts"][0]["lines"]) == 4
    second, _ = await _run(client, report_type="general_ledger", start_date="2026-10-01", end_date="2026-10-31",
                           limit=4, cursor=gl["next_cursor"])
    accounts = second["general_ledger"]["accounts"]
    assert accounts[0]["account"] == "1200" and accounts[0]["opening_balance"] == gl["accounts"][0]["closing_balance"]
    assert accounts[0]["closing_balance"] == "461.50"  # 1200 has 9 lines: net and tax of each sale and purchase
    third, _ = await _run(client, report_type="general_ledger", start_date="2026-10-01", end_date="2026-10-31",
                          limit=4, cursor=second["general_ledger"]["next_cursor"])
    assert [(a["account"], a["closing_balance"]) for a in third["general_ledger"]["accounts"]] == [
        ("1200", "452.00"), ("1576", "38.00"), ("1577", "95.00"), ("1776", "-190.00")]


async def test_report_resources(client: Client) -> None:
    await _october(client)
    for uri, key, expected in (("ledger://reports/profit-and-loss/2026-10", "result", "300.00"),
                               ("ledger://reports/profit-and-loss/2026-Q4", "result", "300.00"),
                               ("ledger://reports/balance-sheet/2026-10", "total_assets", "585.00"),
                               ("ledger://reports/vat-return/2026-Q4", "payable", "152.00"),
                               ("ledger://reports/trial-balance/2026", "total_debit", "2142.00")):
        body = json.loads((await client.read_resource(uri)).contents[0].text)  # type: ignore[union-attr]
        assert body[key] == expected, uri


def test_charts_do_not_slow_the_start() -> None:
    code = "import sys, ledger_mcp.server, ledger_mcp.tools.reports; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
