"""A bookkeeping agent's March for a small GmbH, driven through ledger-mcp over MCP (stdio).

Run:  python examples/agent_bookkeeper.py [--data-dir DIR]

It starts `ledger-mcp serve` as a subprocess (the way Claude Desktop would), talks to it with the
MCP Python SDK client and does what the server's instructions tell an agent: invoices with
create_invoice, their payment with settle_open_items, other bookings with post_booking; read
structured errors and fix the call, retry safely with an idempotency key, correct by reversal, then
check open items against the receivables account, the trial balance and the hash chain. Without
--data-dir the ledger lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from decimal import Decimal
from typing import Any

import anyio
from mcp import Client, StdioServerParameters


class ToolFailed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['code']}: {error['message']}")
        self.error = error


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool; return its structured content, or raise ToolFailed with {code, message, retryable, hint}."""
    result = await client.call_tool(tool, arguments)
    if result.is_error:  # the error object arrives as JSON text: {"error": {code, message, retryable, hint}}
        raise ToolFailed(json.loads(result.content[0].text)["error"])
    return dict(result.structured_content or {})


def booked(label: str, r: dict[str, Any]) -> None:
    replay = "  (replayed)" if r["replayed"] else ""
    print(f"{label:<36} intent {r['intent_id'][:8]}  #{r['journal_number_first']}-{r['journal_number_last']}  "
          f"{r['total_amount']} {r['currency']}{replay}")


def grant_as_owner(data_dir: str, confirmation_id: str) -> None:
    """What the owner types on the server's machine; the agent has no such channel."""
    command = [sys.executable, "-m", "ledger_mcp", "confirm", "grant", confirmation_id, "--data-dir", data_dir,
               "--actor", "owner"]
    print(f"  owner: ledger-mcp confirm grant {confirmation_id}")
    subprocess.run(command, check=True, capture_output=True, text=True)


async def march(client: Client, data_dir: str) -> int:
    tools = await client.list_tools()
    print(f"connected: {len(tools.tools)} tools")
    if (await call(client, "list_intents", limit=1))["intents"]:
        print("this ledger already has bookings: run with a fresh --data-dir (or none)", file=sys.stderr)
        return 1

    # 1. Opening balances on 1 March: 25,000 in the bank, financed by the share capital.
    r = await call(client, "post_opening_balances", booking_date="2026-03-01", idempotency_key="ob-2026",
                   balances=[{"account": "1200", "amount": "25000.00", "side": "debit"},
                             {"account": "0800", "amount": "25000.00", "side": "credit"}])
    booked("opening balances", r)

    # 2. Supplier invoice ER-2026-031: office supplies (19 %) and a trade book (7 %). The vendor first, then
    #    the invoice with net lines and tax codes: the server books VAT and the payable, and opens the item.
    vendor = await call(client, "save_party", kind="vendor", name="Bürohaus Schmidt GmbH",
                        iban="DE89370400440532013000", default_account="4930")
    print(f"vendor {vendor['name']} ({vendor['number']})")
    bill = await call(client, "create_invoice", direction="payable", party_id=vendor["id"],
                      invoice_number="ER-2026-031", invoice_date="2026-03-04", total_gross="172.50",
                      idempotency_key=f"{vendor['number']}-ER-2026-031",
                      lines=[{"net_amount": "100.00", "tax_code": "VSt19", "account": "4930"},
                             {"net_amount": "50.00", "tax_code": "VSt7", "account": "4940"}])
    print(f"{'supplier invoice ER-2026-031':<36} invoice {bill['id'][:8]}  open {bill['remaining_amount']} "
          f"{bill['currency']}, due {bill['due_date']}")

    # 3. Paying it from the bank settles the open item.
    paid = await call(client, "settle_open_items", items=[{"invoice_id": bill["id"]}], payment_date="2026-03-18",
                      account="1200", reference="ER-2026-031", idempotency_key="pay-er-2026-031")
    print(f"{'payment ER-2026-031':<36} {paid['items'][0]['status']}, remaining {paid['items'][0]['remaining_amount']}")

    # 4. Customer invoice AR-2026-007 ... typed 2830.00 instead of 2380.00 net (corrected in step 7).
    customer = await call(client, "save_party", kind="customer", name="Kanzlei Weber & Partner",
                          default_account="8400")
    wrong = await call(client, "create_invoice", direction="receivable", party_id=customer["id"],
                       invoice_number="AR-2026-007", invoice_date="2026-03-10", total_gross="3367.70",
                       idempotency_key=f"{customer['number']}-AR-2026-007",
                       lines=[{"net_amount": "2830.00", "tax_code": "USt19", "description": "Beratung März"}])
    print(f"{'customer invoice AR-2026-007':<36} invoice {wrong['id'][:8]}  open {wrong['remaining_amount']}")

    # 5. Bank fees to an account that does not exist: read the structured error and fix the call.
    fees = dict(booking_date="2026-03-31", description="Kontoführung März", external_reference="KA-2026-03",
                idempotency_key="fees-2026-03",
                lines=[{"debit_account": "4975", "credit_account": "1200", "amount": "12.90"}])
    try:
        await call(client, "post_booking", **fees)
    except ToolFailed as failed:
        error = failed.error
        print(f"refused: {error['code']} (retryable={error['retryable']}): {error['message']}")
        if error["code"] != "UNKNOWN_ACCOUNT":
            raise
        print(f"  hint: {error['hint']}")
        suggestions = error.get("details", {}).get("suggestions", [])
        # An agent would weigh the names; here: the closest suggestion of category 'fees', else the first.
        pick = next((s for s in suggestions if s["category"] == "fees"), suggestions[0])
        print(f"  using suggestion {pick['number']} {pick['name']}")
        fees["lines"] = [{**fees["lines"][0], "debit_account": pick["number"]}]
    r = await call(client, "post_booking", **fees)  # the refused call wrote nothing: the key is still free
    booked("bank fees (fixed)", r)

    # 6. Network hiccup: the agent is not sure the call went through and sends it again, same key.
    again = await call(client, "post_booking", **fees)
    booked("bank fees (retry, same key)", again)
    assert again["replayed"] and again["intent_id"] == r["intent_id"]

    # 7. Correct the customer invoice: reverse (Storno) its intent, which cancels the open item, and record
    #    the right invoice. A Storno needs a human's yes. This client cannot ask one (no elicitation), so the
    #    server answers CONFIRMATION_REQUIRED; the owner grants it on the server's machine, and the agent
    #    repeats the call with the confirmation id.
    storno = dict(intent_id=wrong["intent_id"], reason="Betrag vertippt: 2830 statt 2380")
    try:
        r = await call(client, "reverse_intent", **storno)
    except ToolFailed as waiting:
        if waiting.error["code"] != "CONFIRMATION_REQUIRED":
            raise
        confirmation_id = waiting.error["details"]["confirmation_id"]
        print(f"waiting for the owner: {waiting.error['details']['question']}")
        grant_as_owner(data_dir, confirmation_id)
        r = await call(client, "reverse_intent", **storno, confirmation_id=confirmation_id)
    booked("reversal of AR-2026-007", r)
    right = await call(client, "create_invoice", direction="receivable", party_id=customer["id"],
                       invoice_number="AR-2026-007", invoice_date="2026-03-10", total_gross="2832.20",
                       idempotency_key=f"{customer['number']}-AR-2026-007-korr",
                       lines=[{"net_amount": "2380.00", "tax_code": "USt19", "description": "Beratung März"}])
    print(f"{'customer invoice AR-2026-007 (corr.)':<36} invoice {right['id'][:8]}  open {right['remaining_amount']}")

    # 8. Month-end checks.
    items = (await call(client, "list_open_items"))["open_items"]
    print(f"open items: {len(items)}")
    for item in items:
        print(f"    {item['kind']:<10} {item['invoice_number']:<12} {item['party_name']:<26} "
              f"{item['remaining_amount']:>9}")

    tb = (await call(client, "run_report", report_type="trial_balance",
                     start_date="2026-03-01", end_date="2026-03-31"))["trial_balance"]
    print(f"trial balance March: debits {tb['total_debit']}, credits {tb['total_credit']}, "
          f"balanced={tb['balanced']}")
    for row in tb["rows"]:
        print(f"    {row['account']:>5} {row['name'][:36]:<36} {row['closing_balance']:>10}")

    chain = await call(client, "verify_chain")
    print(f"hash chain: ok={chain['ok']}, {chain['lines_checked']} lines in {chain['intents_checked']} intents")
    # The subledger agrees with the books: receivables on 1400 are exactly the open customer invoices.
    receivables = next(row["closing_balance"] for row in tb["rows"] if row["account"] == "1400")
    open_receivables = sum(Decimal(i["open_amount"]) for i in items if i["kind"] == "receivable")
    print(f"receivables 1400: {receivables}, open customer invoices: {open_receivables}")
    return 0 if chain["ok"] and tb["balanced"] and Decimal(receivables) == open_receivables else 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="ledger directory (default: a fresh temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-agent-") as tmp:
        data_dir = args.data_dir or tmp
        server = StdioServerParameters(command=sys.executable, args=[
            "-m", "ledger_mcp", "serve", "--data-dir", data_dir, "--actor", "bookkeeping-agent",
            "--toolsets", "default,setup"])  # setup: the opening balances of a new ledger
        print(f"ledger in {data_dir}")
        async with Client(server) as client:
            return await march(client, data_dir)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
