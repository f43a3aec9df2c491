"""Foreign currency costs: post_booking in EUR vs USD (rate from the table) through Database.write, and
importing an ECB history file of the real size (every business day since 1999, 30 currencies).

    python bench/fx.py                 # ~1 min
    python bench/fx.py --bookings 500 --years 26

Prints per-booking median/p95 (ms) for both currencies and their ratio, the import's duration and
rates per second, and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from ledger_mcp.ledger import fx, posting
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger

CLI = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bench")
CURRENCIES = ["USD", "JPY", "BGN", "CZK", "DKK", "GBP", "HUF", "PLN", "RON", "SEK", "CHF", "ISK", "NOK", "TRY",
              "AUD", "BRL", "CAD", "CNY", "HKD", "IDR", "ILS", "INR", "KRW", "MXN", "MYR", "NZD", "PHP", "SGD",
              "THB", "ZAR"]


def ecb_history(years: int) -> str:
    lines = ["Date," + ",".join(CURRENCIES) + ","]
    day = date(2026, 11, 27)
    for i in range(years * 261):
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        lines.append(day.isoformat() + "," + ",".join(f"{1 + (i % 97) / 1000 + j:.4f}"
                                                      for j in range(len(CURRENCIES))) + ",")
        day -= timedelta(days=1)
    return "\n".join(lines) + "\n"


_counter = iter(range(10**9))


async def timed_bookings(db: Database, n: int, currency: str) -> list[float]:
    times = []
    for _ in range(n):
        i = next(_counter)
        request = BookingRequest(booking_date="2026-11-27", description=f"Bench {currency} {i}", currency=currency,
                                 external_reference=f"{currency}-{i}",
                                 lines=[BookingLine(debit_account="4930", credit_account="1200", amount="119.00",
                                                    tax_code="VSt19")])
        start = time.perf_counter()
        await db.write(posting.post_booking, request, CLI)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def main(bookings: int, years: int) -> None:
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as directory:
        db = Database(f"sqlite+aiosqlite:///{Path(directory) / 'bench.sqlite3'}")
        await db.create_schema()
        await prepare_ledger(db, "skr03")
        text = ecb_history(years)
        start = time.perf_counter()
        result = await db.write(fx.import_ecb_rates, text, CLI)
        seconds = time.perf_counter() - start
        print(f"ECB import: {result.days} days x {len(result.currencies)} currencies = {result.inserted} rates "
              f"in {seconds:.2f} s ({result.inserted / seconds:,.0f} rates/s), file {len(text) / 1e6:.1f} MB")
        start = time.perf_counter()
        again = await db.write(fx.import_ecb_rates, text, CLI)
        print(f"ECB re-import (all unchanged: {again.unchanged}): {time.perf_counter() - start:.2f} s")
        await timed_bookings(db, 20, "EUR")  # warm-up
        await timed_bookings(db, 20, "USD")
        results = {}
        for currency in ("EUR", "USD", "EUR", "USD"):  # interleaved, two rounds each
            results.setdefault(currency, []).extend(await timed_bookings(db, bookings // 2, currency))
        for currency, times in results.items():
            times.sort()
            print(f"post_booking {currency}: median {statistics.median(times):.2f} ms, "
                  f"p95 {times[int(len(times) * 0.95)]:.2f} ms over {len(times)}")
        ratio = statistics.median(results["USD"]) / statistics.median(results["EUR"])
        print(f"ratio USD/EUR (median): {ratio:.2f}x")
        await db.dispose()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--years", type=int, default=26)
    args = parser.parse_args()
    asyncio.run(main(args.bookings, args.years))
