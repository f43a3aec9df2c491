"""Read tools, resources and tool metadata."""

from __future__ import annotations

import json

import pytest
from mcp import Client, MCPError
from mcp_types import Tool

from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio

READ_TOOLS = {"get_intent", "get_period_status", "list_intents", "query_journal", "verify_chain", "search_accounts",
              "list_tax_codes", "run_report", "list_open_items", "find_parties", "list_invoices", "list_review_cases",
              "list_exchange_rates", "suggest_matches", "list_bank_accounts", "list_bank_transactions",
              "get_bank_reconciliation", "get_document", "list_payment_runs", "list_companies"}
WRITE_TOOLS = {"post_booking", "post_bookings", "post_opening_balances", "reverse_intent", "create_account",
               "save_tax_code", "save_party", "create_invoice", "update_invoice", "settle_open_items", "lock_period",
               "close_fiscal_year", "ingest_document", "update_review_case", "approve_review_case",
               "reject_review_case", "save_exchange_rate", "import_exchange_rates", "revalue_open_items",
               "save_bank_account", "import_bank_statement", "reconcile_transaction", "batch_reconcile",
               "payment_run", "manage_webhooks"}


async def test_every_tool_is_described_with_output_schema_and_truthful_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    for name, tool in tools.items():
        assert tool.description and len(tool.description) > 40, name
        assert tool.output_schema is not None, name
        assert tool.annotations is not None, name
        assert hint(tool, "read_only_hint") is (name in READ_TOOLS), name
    assert hint(tools["reverse_intent"], "destructive_hint") is True
    assert hint(tools["post_booking"], "destructive_hint") is False


def hint(tool: Tool, name: str) -> bool:
    """A tool annotation as a client reads it: an absent hint has the protocol's default."""
    defaults = {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": False, "open_world_hint": True}
    value = getattr(tool.annotations, name)
    return defaults[name] if value is None else bool(value)


async def test_query_journal_filters_and_pages_without_gaps(client: Client) -> None:
    for i in range(7):
        await book(client, line("4930", "1200", f"{10 + i}.00"), description=f"Papier {i}",
                   external_reference=f"R-{i}", date=f"2026-03-{i + 1:02d}")
    await book(client, line("1200", "8400", "100.00"), description="Umsatz")
    seen, cursor = [], None
    while True:
        page = await call(client, "query_journal", account="4930", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [e["journal_number"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(range(1, 8))
    dated = await call(client, "query_journal", start_date="2026-03-03", end_date="2026-03-04")
    assert [e["booking_date"] for e in dated["entries"]] == ["2026-03-03", "2026-03-04"]
    by_ref = await call(client, "query_journal", external_reference="R-5")
    assert [e["amount"] for e in by_ref["entries"]] == ["15.00"]
    by_text = await call(client, "query_journal", search="umsatz")
    assert by_text["entries"][0]["account_credit_name"].startswith("Erlöse")
    error = await fail(client, "query_journal", cursor="garbage!")
    assert error["code"] == "INVALID_CURSOR"
    error = await fail(client, "query_journal", start_date="2026-04-01", end_date="2026-03-01")
    assert error["code"] == "VALIDATION_ERROR"


async def test_account_statement_running_balance(client: Client) -> None:
    await book(client, line("1200", "8400", "100.00"), date="2026-01-10", description="in")
    await book(client, line("4930", "1200", "30.00"), date="2026-02-10", description="out")
    await book(client, line("1200", "8400", "5.00"), date="2026-02-01", description="backdated")
    report = await call(client, "run_report", report_type="account_statement", account="1200",
                        start_date="2026-02-01", limit=1)
    st = report["account_statement"]
    assert st["opening_balance"] == "100.00"
    assert [(x["description"], x["running_balance"]) for x in st["lines"]] == [("backdated", "105.00")]
    nxt = await call(client, "run_report", report_type="account_statement", account="1200",
                     start_date="2026-02-01", cursor=st["next_cursor"])
    assert [(x["counter_account"], x["credit"], x["running_balance"]) for x in nxt["account_statement"]["lines"]] == [
        ("4930", "30.00", "75.00")]
    assert nxt["account_statement"]["closing_balance"] == "75.00"
    error = await fail(client, "run_report", report_type="account_statement")
    assert error["code"] == "VALIDATION_ERROR"


async def test_trial_balance_period_columns(client: Client) -> None:
    await book(client, line("1200", "8400", "100.00"), date="2025-12-31")
    await book(client, line("1200", "8400", "50.00"), date="2026-01-05")
    tb = (await call(client, "run_report", report_type="trial_balance", start_date="2026-01-01",
                     end_date="2026-12-31"))["trial_balance"]
    bank = next(r for r in tb["rows"] if r["account"] == "1200")
    assert (bank["opening_balance"], bank["debit"], bank["credit"], bank["closing_balance"]) == (
        "100.00", "50.00", "0.00", "150.00")
    assert tb["total_closing_balance"] == "0.00" and tb["balanced"]


async def test_accounts_search_and_create(client: Client) -> None:
    found = await call(client, "search_accounts", query="bank", category="bank")
    assert "1200" in [a["number"] for a in found["accounts"]]
    created = await call(client, "create_account", number="1290", name="Tagesgeld", type="asset",
                         category="bank", report_group="bs.current_assets.cash")
    assert created["is_system"] is False
    error = await fail(client, "create_account", number="1290", name="again", type="asset")
    assert error["code"] == "ACCOUNT_EXISTS"
    error = await fail(client, "create_account", number="12a", name="bad", type="asset")
    assert error["code"] == "VALIDATION_ERROR"
    await book(client, line("1290", "1200", "1000.00"))


async def test_resources_mirror_the_tools(client: Client) -> None:
    booked = await book(client, line("1200", "8400", "119.00", "USt19"), external_reference="AR-1")
    uris = {str(r.uri) for r in (await client.list_resources()).resources}
    assert uris >= {"ledger://accounts", "ledger://intents", "ledger://open-items", "ledger://tax-codes"}
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert templates >= {"ledger://accounts/{number}", "ledger://intents/{intent_id}"}

    def body(result: object) -> dict:
        return json.loads(result.contents[0].text)  # type: ignore[attr-defined]

    chart = body(await client.read_resource("ledger://accounts"))
    assert chart["chart"] == "skr03" and chart["account_count"] > 100
    assert chart["accounts"]["asset"]["bank"]["1200"] == "Bank"
    assert body(await client.read_resource("ledger://accounts/1576"))["category"] == "input_vat"
    view = body(await client.read_resource(f"ledger://intents/{booked['intent_id']}"))
    assert view == await call(client, "get_intent", intent_id=booked["intent_id"])
    intents = body(await client.read_resource("ledger://intents"))
    assert intents["intents"][0]["intent_id"] == booked["intent_id"]
    assert intents["intents"][0]["total_amount"] == "119.00"
    codes = body(await client.read_resource("ledger://tax-codes"))["tax_codes"]
    assert {"VSt19", "USt19", "RC19"} <= {c["code"] for c in codes}
    with pytest.raises(MCPError) as info:
        await client.read_resource("ledger://intents/unknown")
    assert "INTENT_NOT_FOUND" in str(info.value)


async def test_intent_list_pages(client: Client) -> None:
    ids = [(await book(client, line("4930", "1200", f"{i + 1}.00")))["intent_id"] for i in range(5)]
    first = await call(client, "list_intents", limit=2)
    second = await call(client, "list_intents", limit=2, cursor=first["next_cursor"])
    third = await call(client, "list_intents", limit=2, cursor=second["next_cursor"])
    listed = [i["intent_id"] for page in (first, second, third) for i in page["intents"]]
    assert listed == ids[::-1] and third["next_cursor"] is None
