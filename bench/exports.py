"""Export time and memory: the DATEV EXTF export and the Beancount export of a generated ledger, at
two sizes, each run in a fresh process.

    python bench/exports.py                          # ~3 min: 300 invoices, copied to ~60k and ~120k lines
    python bench/exports.py --invoices 500 --copies 100

The ledger: 300 invoices (`--invoices`) posted through the domain's path (hash chain included):
vendors and customers, invoices at 19 % and 7 % (every tenth in USD, every twentieth reversed), half
of them paid. Posting is slow, so the bench then copies those intents, lines, invoices and
settlements with SQL under new ids, `--copies` times and again as many (the copies' hashes do not
chain, which no export reads). For each size it prints the journal lines, each export's wall time,
lines/s and file size, the peak of Python heap allocations during the export (tracemalloc, in a second
run) and the process's peak RSS, and the ratios between the two sizes: a streamed export's time grows
with the ledger, its memory does not. bean-check's time on the Beancount file is printed beside it.
Load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import select

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.exports.beancount import beancount_export
from ledger_mcp.ledger.exports.datev import DatevOptions, datev_export
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest, create_invoice
from ledger_mcp.ledger.models import JournalLine
from ledger_mcp.ledger.parties import PartyChanges, save_party
from ledger_mcp.ledger.posting import ReversalRequest, reverse_intent
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.ledger.settlements import SettlementItem, SettlementRequest, settle_open_items
from ledger_mcp.server.app import prepare_ledger

CLI = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bench")


async def generate(db: Database, first: int, count: int, parties: list[tuple[str, str]]) -> None:
    for i in range(first, first + count):
        kind, party_id = parties[i % len(parties)]
        day = f"{2025 + i % 2}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        payable = kind == "vendor"
        usd = i % 10 == 0
        lines = [InvoiceLineInput(net_amount=f"{100 + i % 900}.{i % 100:02d}", tax_code="VSt19" if payable else "USt19",
                                  account="4930" if payable else "8400", description=f"Position {i}"),
                 InvoiceLineInput(net_amount=f"{10 + i % 90}.50", tax_code="VSt7" if payable else "USt7",
                                  account="4940" if payable else "8300", description="Bücher")]
        if usd:
            lines = lines[:1]
        invoice = await db.write(create_invoice, InvoiceRequest(
            direction="payable" if payable else "receivable", party_id=party_id, invoice_number=f"B-{i:07d}",
            invoice_date=day, total_gross=_gross(lines), lines=lines, currency="USD" if usd else None,
            exchange_rate="1.0856" if usd else None), CLI)
        if i % 20 == 0:
            await db.write(reverse_intent, ReversalRequest(intent_id=invoice.intent_id, reason="bench"), CLI)
        elif i % 2 == 0 and not usd:
            await db.write(settle_open_items, SettlementRequest(
                items=[SettlementItem(invoice_id=invoice.id)], payment_date=day, account="1200"), CLI)


def _gross(lines: list[InvoiceLineInput]) -> str:
    from decimal import ROUND_HALF_UP, Decimal
    total = Decimal(0)
    for li in lines:
        rate = Decimal(19 if li.tax_code in ("VSt19", "USt19") else 7)
        net = Decimal(li.net_amount)
        total += net + (net * rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return str(total)


async def _export(db: Database, what: str) -> tuple[int, str]:
    """(bytes written, the Beancount file's path to check) of one export; DATEV files are removed."""
    if what == "datev":
        files = await db.read(datev_export, DatevOptions(29098, 55003))
        size = sum(f.path.stat().st_size for f in files)
        for f in files:
            f.discard()
        return size, ""
    exported = await db.read(beancount_export)
    return exported.path.stat().st_size, str(exported.path)


async def measure(url: str, what: str) -> dict[str, object]:
    """One export in this process, timed; then again under tracemalloc for the heap's peak."""
    db = Database(url)
    try:
        lines = (await db.read(lambda s: s.exec(select(func.count()).select_from(JournalLine)))).one()  # type: ignore[arg-type, return-value]
        start = time.perf_counter()
        size, path = await _export(db, what)
        seconds = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        _, again = await _export(db, what)
        heap = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        Path(again).unlink(missing_ok=True) if again else None
    finally:
        await db.dispose()
    return {"lines": lines, "seconds": seconds, "bytes": size, "path": path, "rss_mb": rss, "heap_mb": heap}


def copy_ledger(path: Path, first: int, last: int) -> None:
    """Copies first..last-1 of the posted intents with their lines, invoices and settlements: ids get
    the copy number as their first 8 hex digits (posted ids never start with 0000 here), journal
    numbers follow the last one."""
    con = sqlite3.connect(path)
    try:
        originals = con.execute("SELECT count(*) FROM journal_line WHERE intent_id NOT GLOB '0000*'").fetchone()[0]
        top = con.execute("SELECT max(journal_number) FROM journal_line").fetchone()[0]
        for k in range(first, last):
            def new(column: str, key: str = f"{k:08x}") -> str:
                return f"CASE WHEN {column} IS NULL THEN NULL ELSE '{key}' || substr({column}, 9) END"
            offset = top + (k - first) * originals
            _copy(con, "intent", "id", {"id": new("id"), "reverses_intent_id": new("reverses_intent_id"),
                                        "idempotency_key": "NULL"})
            _copy(con, "journal_line", "intent_id", {"journal_number": f"journal_number + {offset}",
                                                     "intent_id": new("intent_id"), "audit_hash": new("audit_hash")})
            _copy(con, "invoice", "id", {"id": new("id"), "intent_id": new("intent_id"),
                                         "number_key": f"number_key || '{k:08x}'"})
            _copy(con, "invoice_line", "invoice_id", {"invoice_id": new("invoice_id")})
            _copy(con, "settlement", "id", {"id": new("id"), "payment_intent_id": new("payment_intent_id"),
                                            "invoice_id": new("invoice_id")})
        con.commit()
    finally:
        con.close()


def _copy(con: sqlite3.Connection, table: str, key: str, changed: dict[str, str]) -> None:
    columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
    con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(changed.get(c, c) for c in columns)} "
                f"FROM {table} WHERE {key} NOT GLOB '0000*'")


def child(url: str, what: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--url", url], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def bean_check(path: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "bean-check"), path], capture_output=True, text=True,
                          env={**os.environ, "BEANCOUNT_DISABLE_LOAD_CACHE": "1"})
    seconds = time.perf_counter() - start
    Path(path).unlink(missing_ok=True)
    if done.returncode:
        raise SystemExit(f"bean-check failed: {done.stderr[:500]}")
    return seconds


async def post_invoices(url: str, invoices: int) -> None:
    db = Database(url)
    try:
        await prepare_ledger(db, "skr03")
        parties: list[tuple[str, str]] = []
        for p in range(40):
            kind: Literal["vendor", "customer"] = "vendor" if p % 2 else "customer"
            party, _ = await db.write(save_party, kind, None, PartyChanges(name=f"Partner {p} GmbH"), CLI)
            parties.append((kind, party.id))
        started = time.perf_counter()
        await generate(db, 0, invoices, parties)
        print(f"posted {invoices} invoices in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await db.dispose()


def build(path: Path, invoices: int, copies: int) -> list[dict[str, Any]]:
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(post_invoices(url, invoices))
    results = []
    for first, last in ((1, copies), (copies, 2 * copies)):
        copy_ledger(path, first, last)
        datev = child(url, "datev")
        bean = child(url, "beancount")
        check = bean_check(str(bean["path"]))
        results.append({"lines": datev["lines"], "datev": datev, "bean": bean, "bean_check_s": check})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=300, help="posted through the domain (default 300)")
    parser.add_argument("--copies", type=int, default=50, help="copies of them at the first size (default 50)")
    parser.add_argument("--measure", choices=["datev", "beancount"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.url, args.measure))))
        return
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as directory:
        results = build(Path(directory) / "ledger.sqlite3", args.invoices, args.copies)
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"\n{'export':<10} {'journal lines':>13} {'seconds':>8} {'lines/s':>8} {'MB out':>7} {'heap peak MB':>12} "
          f"{'RSS peak MB':>11}")
    for name, key in (("DATEV", "datev"), ("Beancount", "bean")):
        for r in results:
            m = r[key]
            print(f"{name:<10} {r['lines']:>13} {m['seconds']:>8.2f} {r['lines'] / m['seconds']:>8.0f} "
                  f"{m['bytes'] / 1e6:>7.1f} {m['heap_mb']:>12.1f} {m['rss_mb']:>11.0f}")
    small, large = results
    for name, key in (("DATEV", "datev"), ("Beancount", "bean")):
        print(f"{name}: {large['lines'] / small['lines']:.2f}x the lines -> time "
              f"{large[key]['seconds'] / small[key]['seconds']:.2f}x, heap peak "
              f"{large[key]['heap_mb'] / small[key]['heap_mb']:.2f}x, RSS peak "
              f"{large[key]['rss_mb'] / small[key]['rss_mb']:.2f}x")
    print("bean-check on the Beancount file: " + ", ".join(f"{r['bean_check_s']:.1f} s at {r['lines']} lines"
                                                          for r in results))


if __name__ == "__main__":
    main()
