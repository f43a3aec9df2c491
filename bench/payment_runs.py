"""Payment run speed: what a run of many transfers costs at each step, in-process on a fresh ledger.

Books --payables open vendor invoices (default 1,000, over 100 vendors with IBANs, every third vendor
with 2 % Skonto), then times: the eligible list, creating a run of --items of them (default 500),
approving it, exporting it as pain.001.001.09 and .03 (XSD validation included), completing it, and the
suggestion index with that run in transit against the same index before completion (ratio). Prints the
load average before and after.

    python bench/payment_runs.py
    python bench/payment_runs.py --payables 5000 --items 2000

Last measured (2026-11-28, SQLite, 2 cores shared with 3-4 other test runs, load average 10.5-11.1):
1,000 payables, a run of 500 transfers: eligible list 56 ms, create 162 ms, approve 16 ms, export
pain.001.001.09 1,424 ms (first parse of its XSD included) and .03 184 ms (292 KiB), complete 3,813 ms,
suggestion index 81 ms before and 240 ms with the run in transit (2.98x).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bank import iban
from ledger_mcp.ledger.bank import accounts, suggest
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest, create_invoice
from ledger_mcp.ledger.parties import PartyChanges, save_party
from ledger_mcp.ledger.payment_runs import runs
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger

ALICE = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="alice")
BOB = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bob")


async def timed(label: str, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = await fn()
    elapsed = (time.perf_counter() - start) * 1000
    print(f"{label:<38} {elapsed:10.1f} ms")
    return result, elapsed


async def main(payables: int, items: int) -> None:
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/ledger.sqlite3")
        await prepare_ledger(db, "skr03")
        bank = (await db.write(accounts.save_bank_account,
                               accounts.BankAccountRequest(name="Giro", iban="DE02120300000000202051"), ALICE))[0]
        vendors = []
        for n in range(100):
            vendor = (await db.write(save_party, "vendor", None, PartyChanges(name=f"Lieferant {n}", iban=iban(n)),
                                     ALICE))[0]
            if n % 3 == 0:
                await db.write(runs.set_terms, runs.TermsRequest(party_id=vendor.id, skonto_percent="2",
                                                                 skonto_days=14), ALICE)
            vendors.append(vendor)
        start = time.perf_counter()
        for n in range(payables):
            await db.write(create_invoice, InvoiceRequest(
                direction="payable", party_id=vendors[n % 100].id, invoice_number=f"ER-{n}",
                invoice_date="2026-03-01", due_date="2026-03-20", total_gross="119.00",
                lines=[InvoiceLineInput(net_amount="100.00", tax_code="VSt19", account="4930")]), ALICE)
        print(f"{payables} payables booked in {time.perf_counter() - start:.1f} s")
        eligible, _ = await timed(f"eligible list ({payables} payables)",
                                  lambda: db.read(runs.eligible_invoices, "2026-03-31", "2026-03-10"))
        chosen = [runs.RunInvoice(invoice_id=i.invoice_id) for i in eligible.invoices[:items]]
        run, _ = await timed(f"create run ({len(chosen)} transfers)", lambda: db.write(
            runs.create_run, runs.CreateRunRequest(bank_account_id=bank.id, execution_date="2026-03-10",
                                                   invoices=chosen), ALICE))
        await timed("approve", lambda: db.write(runs.approve_run, run.id, BOB))
        for schema in ("pain.001.001.09", "pain.001.001.03"):
            exported, _ = await timed(f"export {schema} + XSD", lambda s=schema: db.write(runs.export_run, run.id,
                                                                                            s, ALICE))
        print(f"  file size {len(exported.xml.encode()) / 1024:.0f} KiB")
        account = await db.read(accounts.get_bank_account, bank.id)
        await db.read(suggest.build_index, account)  # warm-up
        _, before = await timed("suggestion index, nothing in transit", lambda: db.read(suggest.build_index, account))
        await timed("complete (settle, Skonto, transit)", lambda: db.write(runs.complete_run, run.id, ALICE))
        _, after = await timed("suggestion index, run in transit", lambda: db.read(suggest.build_index, account))
        print(f"index with the run / without: {after / before:.2f}x")
        await db.dispose()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payables", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.payables, args.items))
