"""Write a realistic SKR03 ledger of N journal lines through the bulk write path, for other benches.

The bookings are a small company's year after year: purchases with input VAT (4930, 4210, 4650,
3400 at 19 % or 7 %: two journal lines each), sales with output VAT (8400/8300 on 1200 or cash),
wages, bank fees, private withdrawals and transfers between bank and cash, spread over every day
from `--start-year`. Each booking has an idempotency key and a reference, as an import would.

    python bench/generate_ledger.py --data-dir /tmp/big                # 1,000,000 journal lines
    python bench/generate_ledger.py --data-dir /tmp/small --lines 100000 --chunk 10000

Prints progress on stderr and the figures (intents/s, lines/s, load average) at the end; the chain
is verified only with --verify.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from ledger_mcp.ledger import bulk, chain
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger

GENERATOR = Provenance(surface="cli", channel=Channel.IMPORT, actor_type="user", actor_label="generate_ledger")
SUMMARY = {"source": "generate_ledger"}  # an import.posted event per transaction, as `ledger-mcp import` writes

# (weight, debit, credit, tax code, text, amount range in euros): journal lines per booking are 2 with a
# tax code (net + VAT), else 1.
KINDS = [
    (30, "4930", "1200", "VSt19", "Büromaterial", (5, 400)),
    (10, "4210", "1200", None, "Miete", (800, 2500)),
    (12, "3400", "1200", "VSt19", "Wareneingang", (50, 5000)),
    (6, "4650", "1000", "VSt7", "Bewirtung", (10, 300)),
    (25, "1200", "8400", "USt19", "Erlöse", (20, 8000)),
    (5, "1000", "8300", "USt7", "Erlöse 7 %", (5, 200)),
    (4, "4120", "1200", None, "Gehälter", (1500, 6000)),
    (4, "4970", "1200", None, "Kontoführung", (1, 40)),
    (2, "1800", "1200", None, "Privatentnahme", (100, 2000)),
    (2, "1000", "1200", None, "Bargeldabhebung", (50, 500)),
]
_WEIGHTS = [k[0] for k in KINDS]


def bookings(count: int, *, seed: int = 1, start_year: int = 2020, prefix: str = "gen") -> Iterator[BookingRequest]:
    """`count` booking requests, deterministic for a seed, dated from 1 January of `start_year` on
    (250 a day: a million journal lines reach into 2026)."""
    rng = random.Random(seed)
    first = date(start_year, 1, 1)
    for n in range(count):
        _, debit, credit, tax, text, (low, high) = rng.choices(KINDS, _WEIGHTS)[0]
        cents = rng.randint(low * 100, high * 100)
        day = first + timedelta(days=n // 250)
        yield BookingRequest(
            booking_date=day.isoformat(), description=f"{text} {n}", external_reference=f"{prefix}-{n}",
            idempotency_key=f"{prefix}:{n}", lines=[BookingLine(debit_account=debit, credit_account=credit,
                                                                amount=f"{cents // 100}.{cents % 100:02d}",
                                                                tax_code=tax)])


def lines_of(request: BookingRequest) -> int:
    """Journal lines a generated booking writes (a taxed line is split into net and tax)."""
    return 2 if request.lines[0].tax_code else 1


async def generate(url: str, lines: int, chunk: int, *, seed: int = 1, quiet: bool = False) -> tuple[int, int, float]:
    """Write bookings until `lines` journal lines are in the ledger; (intents, lines, seconds)."""
    db = Database(url)
    try:
        await prepare_ledger(db, "skr03")
        start = time.perf_counter()
        written = intents = 0
        batch: list[BookingRequest] = []
        for request in bookings(lines, seed=seed):
            if written >= lines:
                break
            batch.append(request)
            written += lines_of(request)
            if len(batch) == chunk:
                intents += (await db.write(bulk.post_many, batch, GENERATOR, with_results=False,
                                           summary=SUMMARY)).written
                batch = []
                if not quiet:
                    rate = written / (time.perf_counter() - start)
                    print(f"\r{written:,} / {lines:,} journal lines ({rate:,.0f}/s)", end="", file=sys.stderr)
        if batch:
            intents += (await db.write(bulk.post_many, batch, GENERATOR, with_results=False, summary=SUMMARY)).written
        if not quiet:
            print(file=sys.stderr)
        return intents, written, time.perf_counter() - start
    finally:
        await db.dispose()


async def _main(args: argparse.Namespace) -> None:
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite+aiosqlite:///{(data / 'ledger.sqlite3').resolve()}"
    load = os.getloadavg()
    intents, lines, seconds = await generate(url, args.lines, args.chunk, seed=args.seed)
    print(f"{intents:,} intents, {lines:,} journal lines in {seconds:.1f} s: {intents / seconds:,.0f} intents/s, "
          f"{lines / seconds:,.0f} lines/s (load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f})")
    print(f"database: {url}")
    if args.verify:
        db = Database(url)
        try:
            start = time.perf_counter()
            report = await db.read(chain.verify_chain)
            seconds = time.perf_counter() - start
            print(f"verify_chain: ok={report.ok}, {report.lines_checked:,} lines in {seconds:.1f} s")
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="directory of the SQLite ledger (created)")
    parser.add_argument("--database-url", help="another database instead, e.g. PostgreSQL (must be empty)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="journal lines to write (default 1,000,000)")
    parser.add_argument("--chunk", type=int, default=20_000, help="bookings per transaction (default 20,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verify", action="store_true", help="run verify_chain afterwards")
    asyncio.run(_main(parser.parse_args()))
