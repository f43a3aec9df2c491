"""`ledger-mcp demo`: start the server over stdio and use it the way an agent would."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters


def _say(text: str) -> None:
    print(text, flush=True)


async def _call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    text = result.content[0].text if result.content and hasattr(result.content[0], "text") else ""
    _say(f"\n> {name}({', '.join(f'{k}={v!r}' for k, v in arguments.items() if k != 'lines')})")
    _say(f"  {'ERROR ' if result.is_error else ''}{text}")
    return dict(result.structured_content or {})


async def run_demo(data_dir: str | None, database_url: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="ledger-mcp-demo-") as tmp:
        directory = Path(data_dir or tmp)
        # The server gets its database as a flag: stdio servers do not inherit the environment.
        ledger = ["--database-url", database_url] if database_url else []
        params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--data-dir",
                                                                     str(directory), *ledger, "--actor", "demo-agent"])
        _say(f"Starting `ledger-mcp serve` over stdio (ledger in {database_url or directory}) ...")
        async with Client(params) as client:
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
            await _call(client, "post_booking", booking_date="2026-03-05", description="Beratung Kunde AR-1001",
                        external_reference="AR-1001", idempotency_key="demo-ar-1001",
                        lines=[{"debit_account": "1400", "credit_account": "8400", "amount": "2380.00",
                                "tax_code": "USt19"}])
            await _call(client, "post_booking", booking_date="2026-03-02", description="Büromaterial Papier & Co "
                        "RE-4711", external_reference="RE-4711", idempotency_key="demo-4711",
                        lines=[{"debit_account": "4930", "credit_account": "1200", "amount": "119.00",
                                "tax_code": "VSt19"}])
            await _call(client, "post_booking", booking_date="2026-03-02", description="Tippfehler",
                        lines=[{"debit_account": "4931", "credit_account": "1200", "amount": "10.00"}])
            await _call(client, "get_intent", intent_id=office["intent_id"])
            await _call(client, "reverse_intent", intent_id=office["intent_id"], reason="Rechnung storniert")
            await _call(client, "list_open_items")
            report = await _call(client, "run_report", report_type="trial_balance", end_date="2026-12-31")
            for row in report["trial_balance"]["rows"]:
                _say(f"  {row['account']:>6} {row['name'][:40]:40} {row['closing_balance']:>12}")
            await _call(client, "verify_chain")
            _say("\nDone: every call above went through a real MCP client session over stdio.")
