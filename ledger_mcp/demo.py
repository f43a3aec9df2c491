"""`ledger-mcp demo`: start the server over stdio and use it the way an agent would."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp_types import ElicitRequestParams, ElicitResult


def _say(text: str) -> None:
    print(text, flush=True)


async def _call(client: Client, tool: str, /, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text if result.content and hasattr(result.content[0], "text") else ""
    _say(f"\n> {tool}({', '.join(f'{k}={v!r}' for k, v in arguments.items() if k != 'lines')})")
    _say(f"  {'ERROR ' if result.is_error else ''}{text}")
    return dict(result.structured_content or {})


async def _confirm(context: Any, params: ElicitRequestParams) -> ElicitResult:
    """The demo's user: shown the server's confirmation question, answers yes."""
    _say(f"  [server asks the user] {params.message}\n  [user] yes")
    return ElicitResult(action="accept", content={"confirm": True})


async def run_demo(data_dir: str | None, database_url: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="ledger-mcp-demo-") as tmp:
        directory = Path(data_dir or tmp)
        # The server gets its database as a flag: stdio servers do not inherit the environment.
        ledger = ["--database-url", database_url] if database_url else []
        params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--data-dir",
                                                                     str(directory), *ledger, "--actor", "demo-agent",
                                                                     "--toolsets", "default,setup"])
        _say(f"Starting `ledger-mcp serve` over stdio (ledger in {database_url or directory}) ...")
        async with Client(params, elicitation_callback=_confirm) as client:
            tools = await client.list_tools()
            _say(f"Server offers {len(tools.tools)} tools: {', '.join(t.name for t in tools.tools)}")
            await _call(client, "search_accounts", query="Bürobedarf")
            await _call(client, "post_opening_balances", booking_date="2026-01-01", idempotency_key="demo-ob",
                        balances=[{"account": "1200", "amount": "10000.00", "side": "debit"},
                                  {"account": "0800", "amount": "10000.00", "side": "credit"}])
            office = await _call(
                client, "post_booking", booking_date="2026-03-02", description="Büromaterial Papier & Co RE-4711",
                external_reference="RE-4711", idempotency_key="demo-4711",
                lines=[{"debit_account": "4930", "credit_account": "1200", "amount": "119.00", "tax_code": "VSt19"}])
            customer = await _call(client, "save_party", kind="customer", name="Kunde AG", vat_id="DE136695976",
                                   default_account="8400", payment_terms_days=14)
            sale = await _call(client, "create_invoice", direction="receivable", party_id=customer["id"],
                               invoice_number="AR-1001", invoice_date="2026-03-05", total_gross="2380.00",
                               idempotency_key="demo-ar-1001", lines=[{"net_amount": "2000.00", "tax_code": "USt19"}])
            vendor = await _call(client, "save_party", kind="vendor", name="Papier & Co KG",
                                 iban="DE89 3704 0044 0532 0130 00", default_account="4930")
            purchase = await _call(client, "create_invoice", direction="payable", party_id=vendor["id"],
                                   invoice_number="ER-77", invoice_date="2026-03-06", total_gross="172.50",
                                   lines=[{"net_amount": "100.00", "tax_code": "VSt19"},
                                          {"net_amount": "50.00", "tax_code": "VSt7", "account": "4940"}])
            await _call(client, "settle_open_items", payment_date="2026-03-19", account="1200",
                        items=[{"invoice_id": sale["id"], "amount": "1000.00"}])
            await _call(client, "settle_open_items", payment_date="2026-03-20", account="1200",
                        items=[{"invoice_id": purchase["id"]}])
            await _call(client, "post_booking", booking_date="2026-03-02", description="Büromaterial Papier & Co "
                        "RE-4711", external_reference="RE-4711", idempotency_key="demo-4711",
                        lines=[{"debit_account": "4930", "credit_account": "1200", "amount": "119.00",
                                "tax_code": "VSt19"}])
            await _call(client, "post_booking", booking_date="2026-03-02", description="Tippfehler",
                        lines=[{"debit_account": "4931", "credit_account": "1200", "amount": "10.00"}])
            await _call(client, "get_intent", intent_id=office["intent_id"])
            await _call(client, "reverse_intent", intent_id=office["intent_id"], reason="Rechnung storniert")
            await _call(client, "list_open_items")
            await _call(client, "run_report", report_type="aging", kind="receivable", as_of="2026-04-30")
            report = await _call(client, "run_report", report_type="trial_balance", end_date="2026-12-31")
            for row in report["trial_balance"]["rows"]:
                _say(f"  {row['account']:>6} {row['name'][:40]:40} {row['closing_balance']:>12}")
            await _call(client, "verify_chain")
            _say("\nDone: every call above went through a real MCP client session over stdio.")
