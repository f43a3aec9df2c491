"""Intents per second into SQLite with the full hash chain, three ways, in one run:

1. the bulk path (`bulk.post_many`, what `ledger-mcp import` and `post_bookings` use): `--intents`
   bookings in transactions of `--chunk`;
2. `post_booking` in-process through `Database.write`, one transaction per booking (`--singles`);
3. raw `sqlite3`: the same rows (checked and split by the bulk path's code beforehand, untimed),
   hashed with the chain module and inserted with `executemany` in one transaction: the ceiling.

Every leg starts on a fresh ledger (SQLite, WAL, synchronous=FULL) in `--data-root`, books the same
generated SKR03 bookings (bench/generate_ledger.py; about 1.8 journal lines each) and must pass
verify_chain afterwards. Prints intents/s, journal lines/s and the ratios, with the load average.

    python bench/bulk.py                       # 100,000 intents
    python bench/bulk.py --intents 20000 --singles 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from generate_ledger import GENERATOR, bookings

from ledger_mcp.ledger import bulk, chain, posting, records
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import Intent, JournalLine
from ledger_mcp.ledger.posting import BookingRequest
from ledger_mcp.server.app import prepare_ledger


async def _fresh(root: Path, name: str) -> tuple[Database, Path]:
    path = root / name / "ledger.sqlite3"
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await prepare_ledger(db, "skr03")
    return db, path


async def _verified(db: Database, intents: int) -> None:
    report = await db.read(chain.verify_chain)
    assert report.ok and report.intents_checked == intents, report


async def bulk_leg(root: Path, requests: list[BookingRequest], chunk: int) -> tuple[float, int]:
    db, _ = await _fresh(root, "bulk")
    try:
        start = time.perf_counter()
        lines = 0
        for i in range(0, len(requests), chunk):
            lines += (await db.write(bulk.post_many, requests[i:i + chunk], GENERATOR, with_results=False)).lines
        seconds = time.perf_counter() - start
        await _verified(db, len(requests))
        return seconds, lines
    finally:
        await db.dispose()


async def single_leg(root: Path, requests: list[BookingRequest]) -> tuple[float, int]:
    db, _ = await _fresh(root, "single")
    try:
        start = time.perf_counter()
        lines = 0
        for request in requests:
            lines += (await db.write(posting.post_booking, request, GENERATOR)).event_count
        seconds = time.perf_counter() - start
        await _verified(db, len(requests))
        return seconds, lines
    finally:
        await db.dispose()


async def _rows(root: Path, requests: list[BookingRequest]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The intents and lines the bulk path would write (untimed): checked and split by its code."""
    db, _ = await _fresh(root, "rows")
    try:
        async def prepare(session: Any) -> list[posting.PreparedBooking]:
            context = await posting.booking_context(session)
            return [await posting.prepare_booking(session, r, context) for r in requests]

        prepared = await db.read(prepare)
    finally:
        await db.dispose()
    intents = [vars(posting.prepared_intent(p, GENERATOR.columns(), "2026-01-01T00:00:00.000000Z")) for p in prepared]
    lines = [[{"debit_account": leg.debit, "credit_account": leg.credit, "amount": leg.amount,
               "tax_code": leg.tax_code, "line_role": leg.role, "description": leg.description or intent["description"]}
              for leg in p.pairs] for p, intent in zip(prepared, intents, strict=True)]
    return intents, lines


def raw_leg(path: Path, intents: list[dict[str, Any]], legs: list[list[dict[str, Any]]]) -> tuple[float, int]:
    """Hash and insert the prepared rows with plain sqlite3, as the server's connections are set up."""
    intent_table = Intent.__table__  # type: ignore[attr-defined]
    intent_columns = [c.name for c in intent_table.c]
    created_at = intents[0]["created_at"]
    line_columns = [c.name for c in JournalLine.__table__.c]  # type: ignore[attr-defined]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    number, prev = 0, chain.GENESIS_HASH
    intent_rows, line_rows = [], []
    for intent, own in zip(intents, legs, strict=True):
        row = posting.Row(**intent)
        row.content_hash = chain.intent_hash(row)
        for index, leg in enumerate(own, start=1):
            number += 1
            line = posting.Row(journal_number=number, intent_id=row.id, line_index=index,
                             booking_date=row.booking_date, currency=row.currency, base_amount=leg["amount"],
                             exchange_rate=None, created_at=row.created_at, hash_version=chain.HASH_VERSION,
                             **leg, **{name: intent[name] for name in chain.PROVENANCE_FIELDS})
            chain.seal_line(line, row.content_hash, prev)  # type: ignore[arg-type]
            prev = line.audit_hash
            line.booking_date = line.booking_date.isoformat()
            line_rows.append(tuple(getattr(line, c) for c in line_columns))
        row.booking_date = row.booking_date.isoformat()
        intent_rows.append(tuple(getattr(row, c) for c in intent_columns))
    # The record history keeps each intent's request_hash and fingerprint, as the ledger's writes do.
    history = sorted((records.row_key(intent_table, {"id": i["id"]}), records.snapshot(
        list(records.INTENT_COLUMNS), i)) for i in intents)
    seq, event_prev = conn.execute("SELECT seq, event_hash FROM record_event ORDER BY seq DESC LIMIT 1").fetchone()
    event_rows = []
    for key, snap in history:
        seq += 1
        digest = records.event_hash(event_prev, seq, "intent", key, "insert", snap, created_at)
        event_rows.append((seq, "intent", key, "insert", snap, created_at, event_prev, digest))
        event_prev = digest
    conn.executemany(f"INSERT INTO intent ({','.join(intent_columns)}) VALUES ({','.join('?' * len(intent_columns))})",
                     intent_rows)
    conn.executemany("INSERT INTO record_event (seq, table_name, row_key, action, snapshot, created_at, prev_hash, "
                     "event_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", event_rows)
    conn.executemany(f"INSERT INTO journal_line ({','.join(line_columns)}) "
                     f"VALUES ({','.join('?' * len(line_columns))})", line_rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds, number


async def main(args: argparse.Namespace) -> None:
    root = Path(args.data_root or tempfile.mkdtemp(prefix="ledger-bulk-"))
    requests = list(bookings(args.intents, prefix="bulk"))
    singles = list(bookings(args.singles, prefix="single"))
    load = os.getloadavg()
    print(f"{args.intents:,} bookings (bulk, raw), {args.singles:,} (post_booking); SQLite WAL, synchronous=FULL, "
          f"in {root}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    results: dict[str, tuple[float, int, int]] = {}
    seconds, lines = await bulk_leg(root, requests, args.chunk)
    results["bulk path (post_many)"] = (seconds, len(requests), lines)
    seconds, lines = await single_leg(root, singles)
    results["post_booking in-process"] = (seconds, len(singles), lines)
    intents, legs = await _rows(root, requests)
    db, path = await _fresh(root, "raw")
    await db.dispose()
    seconds, lines = raw_leg(path, intents, legs)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await _verified(db, len(requests))
    finally:
        await db.dispose()
    results["raw sqlite3 + chain"] = (seconds, len(requests), lines)
    bulk_rate = results["bulk path (post_many)"][1] / results["bulk path (post_many)"][0]
    print(f"{'leg':<26}{'intents':>10}{'lines':>10}{'seconds':>10}{'intents/s':>12}{'lines/s':>12}{'bulk/leg':>10}")
    for name, (seconds, count, lines) in results.items():
        print(f"{name:<26}{count:>10,}{lines:>10,}{seconds:>10.2f}{count / seconds:>12,.0f}{lines / seconds:>12,.0f}"
              f"{bulk_rate / (count / seconds):>10.2f}")
    load = os.getloadavg()
    print(f"goal: bulk path >= 20,000 intents/s; load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if not args.data_root:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=100_000, help="bookings for the bulk and raw legs")
    parser.add_argument("--singles", type=int, default=500, help="bookings for the post_booking leg")
    parser.add_argument("--chunk", type=int, default=20_000, help="bookings per bulk transaction")
    parser.add_argument("--data-root", help="directory for the ledgers (default: a temporary one)")
    asyncio.run(main(parser.parse_args()))
