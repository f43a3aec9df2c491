"""What the record history and the anchor log cost per write: post_booking through Database.write on a
fresh SQLite ledger per mode, in-process, modes interleaved in rounds:

    bare      the record history's listener removed, no anchor log (the ledger before both)
    history   every covered change recorded as a chained event (intent request_hash/fingerprint here)
    anchored  history plus the anchor log appended after each commit (the default)

Prints median and p95 per booking and the ratio to bare, then how long verify_chain takes over the
books with and without the anchor and document check; the load average before and after.

    python bench/anchor.py [--bookings 300] [--rounds 3] [--data-root /tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from ledger_mcp.ledger import chain, posting, records
from ledger_mcp.ledger.anchor import AnchorLog
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger

CLI = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bench")
MODES = ("bare", "history", "anchored")


def request(i: int) -> BookingRequest:
    return BookingRequest(booking_date="2026-03-02", description="Papier", external_reference=f"B-{i}",
                          idempotency_key=f"bench-{i}",
                          lines=[BookingLine(debit_account="4930", credit_account="1200", amount="119.00",
                                             tax_code="VSt19")])


def recording(on: bool) -> None:
    if on and not event.contains(Session, "after_flush", records._record):
        event.listen(Session, "after_flush", records._record)
    if not on and event.contains(Session, "after_flush", records._record):
        event.remove(Session, "after_flush", records._record)


async def run(mode: str, directory: Path, bookings: int, offset: int) -> list[float]:
    recording(mode != "bare")
    db = Database(f"sqlite+aiosqlite:///{directory / f'{mode}.sqlite3'}",
                  anchor_log=directory / f"{mode}.anchor.jsonl" if mode == "anchored" else None)
    if offset == 0:
        await prepare_ledger(db, "skr03")
    for i in range(offset, offset + 10):  # warm-up
        await db.write(posting.post_booking, request(1_000_000 + i), CLI)
    times = []
    for i in range(offset, offset + bookings):
        start = time.perf_counter()
        await db.write(posting.post_booking, request(i), CLI)
        times.append((time.perf_counter() - start) * 1000)
    await db.dispose()
    recording(True)
    return times


async def verify_times(directory: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{directory / 'anchored.sqlite3'}")
    anchor = AnchorLog(directory / "anchored.anchor.jsonl").anchor()
    for label, kwargs in (("journal only (verify_journal)", None), ("journal + history + anchor", {})):
        start = time.perf_counter()
        if kwargs is None:
            report = await db.read(chain.verify_journal)
        else:
            report = await db.read(chain.verify_chain, anchors=[anchor] if anchor else [])
        assert report.ok, report.first_break
        print(f"verify {label:32s} {(time.perf_counter() - start) * 1000:8.1f} ms  ({report.lines_checked} lines)")
    await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(dir=args.data_root) as tmp:
        directory = Path(tmp)
        for r in range(args.rounds):
            for mode in MODES:
                results[mode] += await run(mode, directory, args.bookings, r * (args.bookings + 10))
        base = statistics.median(results["bare"])
        print(f"\npost_booking via Database.write, {args.rounds} rounds x {args.bookings} bookings per mode")
        for mode in MODES:
            values = sorted(results[mode])
            median = statistics.median(values)
            p95 = values[int(len(values) * 0.95)]
            print(f"{mode:9s} median {median:6.2f} ms  p95 {p95:6.2f} ms  ratio to bare {median / base:5.2f}x")
        print()
        await verify_times(directory)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
