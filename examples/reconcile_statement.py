"""Reconcile the sample bank statements against the sample invoices, end to end over MCP (stdio).

Run:  python examples/reconcile_statement.py [--data-dir DIR]

It records the sample supplier invoices of examples/invoices/ (from their true values in expected.json,
so no OCR is needed), creates the bank account, imports statements/march_2026.camt053.xml, asks
suggest_matches for every line, applies the confident ones, books the rest directly (card payment with
input VAT, private withdrawal, bank fee), imports it a second time (nothing is imported twice), then
imports the April Sparkasse CSV export and does the same. The bank's opening balance is booked first.
It ends with the reconciliation view: what is open, and whether the ledger balance agrees with the statement balance.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
OWN_IBAN = "DE27100777770209299700"
# How an agent explains lines no open item matches (checked by a person the first time; learned after).
DIRECT = {"Kartenzahlung": {"account": "4930", "tax_code": "VSt19", "description": "Baumarkt: Material"},
          "Privatentnahme": {"account": "1800", "description": "Privatentnahme"},
          "Entgelt": {"account": "4970", "description": "Kontoführung"}}


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        error = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
        raise RuntimeError(f"{tool}: {error['code']}: {error['message']} (hint: {error['hint']})")
    return dict(result.structured_content or {})


async def record_invoices(client: Client) -> None:
    expected = json.loads((HERE / "invoices" / "expected.json").read_text())
    seen = set()
    for sample in expected.values():
        fields = sample["fields"]
        if fields["invoice_number"] in seen:  # the scan and the photo repeat two invoices
            continue
        seen.add(fields["invoice_number"])
        vendor = await call(client, "save_party", kind="vendor", name=fields["vendor_name"], iban=fields["vendor_iban"])
        german = fields["vendor_vat_id"].startswith("DE")
        lines = ([{"net_amount": tax["net"], "tax_code": f"VSt{tax['rate']}", "account": "4930"}
                  for tax in sample["taxes"]] if german
                 else [{"net_amount": fields["total_gross"], "account": "4900"}])  # foreign VAT is a cost
        invoice = await call(client, "create_invoice", direction="payable", party_id=vendor["id"],
                             type=fields["document_type"], invoice_number=fields["invoice_number"],
                             invoice_date=fields["invoice_date"], due_date=fields["due_date"],
                             total_gross=fields["total_gross"], lines=lines)
        print(f"    {invoice['invoice_number']:<14} {invoice['party_name'][:28]:<28} {invoice['total_gross']:>9} "
              f"{invoice['type']}")


async def reconcile_open_lines(client: Client, account_id: str) -> None:
    found = await call(client, "suggest_matches", bank_account_id=account_id)
    for suggestion in found["suggestions"]:
        tx = [suggestion["bank_transaction_id"]]
        text = (suggestion["remittance_information"] or "")[:34]
        label = f"{suggestion['booking_date']} {suggestion['amount']:>9} {text:<34}"
        best = suggestion["candidates"][0] if suggestion["candidates"] else None
        if best and best["score"] >= 0.8:
            done = await call(client, "reconcile_transaction", bank_transaction_ids=tx,
                              idempotency_key=f"example-{tx[0]}", **best["reconcile"])
            print(f"    {label} -> {best['kind']} {best['score']:.2f} ({'; '.join(best['reasons'][:2])}), "
                  f"intent {done['intent_id'][:8]}")
            continue
        rule = next((r for key, r in DIRECT.items() if key in (suggestion["remittance_information"] or "")), None)
        if rule is None:
            print(f"    {label} -> left open for a person")
            continue
        done = await call(client, "reconcile_transaction", bank_transaction_ids=tx, mode="booking",
                          idempotency_key=f"example-{tx[0]}", **rule)
        print(f"    {label} -> booked on {rule['account']} {rule.get('tax_code') or ''}, "
              f"intent {done['intent_id'][:8]}")


async def show(client: Client, account_id: str) -> None:
    view = await call(client, "get_bank_reconciliation", bank_account_id=account_id)
    print(f"    {view['summary']}")
    for part, amount in view["explanation"].items():
        if Decimal(amount):
            print(f"        {part:<36} {amount:>10}")


async def run(data_dir: Path) -> None:
    inbox = data_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--data-dir",
                                                                 str(data_dir), "--actor", "bank-agent",
                                                                 "--toolsets", "default,setup"])  # opening balance
    async with Client(params) as client:
        print("Sample invoices recorded:")
        await record_invoices(client)
        account = await call(client, "save_bank_account", name="Sparkasse Geschäftskonto", iban=OWN_IBAN)
        print(f"Bank account {account['iban']} books on {account['ledger_account']}")
        # The account's balance when the books start: the March statement opens with it.
        await call(client, "post_opening_balances", booking_date="2026-03-01", idempotency_key="opening-bank",
                   balances=[{"account": account["ledger_account"], "amount": "8500.00", "side": "debit"}])
        for name, extra in (("march_2026.camt053.xml", {}), ("march_2026.camt053.xml", {}),
                            ("april_2026_sparkasse.csv", {"csv_preset": "sparkasse_camt"})):
            shutil.copy(HERE / "statements" / name, inbox / name)
            batch = await call(client, "import_bank_statement", bank_account_id=account["id"], path=str(inbox / name),
                               **extra)
            print(f"\nImported {name}: {batch['imported']} of {batch['total_rows']} rows, "
                  f"{batch['skipped_duplicates']} already there, {len(batch['errors'])} errors")
            if batch["imported"]:
                await reconcile_open_lines(client, account["id"])
            await show(client, account["id"])
        items = await call(client, "list_open_items", kind="payable")
        print(f"\nOpen payables left: {len(items['open_items'])} ({items['total_payable']} {items['currency']})")
        chain = await call(client, "verify_chain")
        print(f"Chain: {'intact' if chain['ok'] else 'BROKEN'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="ledger data directory (default: a temporary one)")
    args = parser.parse_args()
    if args.data_dir:
        anyio.run(run, Path(args.data_dir))
        return
    with tempfile.TemporaryDirectory(prefix="ledger-mcp-bank-") as tmp:
        anyio.run(run, Path(tmp))


if __name__ == "__main__":
    main()
