"""Throughput and latency of post_booking with 1, 4 and 8 concurrent writers.

Each writer is a separate process with its own `Database` (engine, connections), as separate
server processes sharing one ledger would be; all of them book through `Database.write` and
`posting.post_booking` (one gross line with VSt19: two journal lines per booking). Every run starts
on a fresh ledger. Prints bookings/s over the whole run (first start to last finish) and the
per-booking latency (p50/p95/max, ms), then checks that the chain verifies and nothing was lost.

    python bench/concurrent_posting.py                                   # SQLite only
    python bench/concurrent_posting.py --pg postgresql+asyncpg://postgres@127.0.0.1:5433/postgres
    LEDGER_MCP_BENCH_PG_URL=... python bench/concurrent_posting.py --bookings 200 --writers 1,2,4,8

The PostgreSQL URL is an admin URL: a database is created for every run and dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import sqlalchemy
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ledger_mcp.ledger import chain, posting
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger

WARM_UP = 5
BENCH = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bench")


def _request(writer: int, n: int, phase: str) -> BookingRequest:
    return BookingRequest(booking_date=f"2026-03-{n % 28 + 1:02d}", description=f"bench {phase} {writer}/{n}",
                          idempotency_key=f"{phase}-{writer}-{n}", external_reference=f"{phase}-{writer}-{n}",
                          lines=[BookingLine(debit_account="4930", credit_account="1200",
                                             amount=f"{n % 900 + 1}.{writer:02d}", tax_code="VSt19")])


async def _write(url: str, writer: int, bookings: int, barrier: Any) -> tuple[list[float], float, float]:
    db = Database(url)
    try:
        for n in range(WARM_UP):  # connections open, statements compiled
            await db.write(posting.post_booking, _request(writer, n, "warm"), BENCH)
        await asyncio.to_thread(barrier.wait)
        latencies = []
        start = time.monotonic()  # system-wide clock: comparable across the writer processes
        for n in range(bookings):
            t0 = time.perf_counter()
            await db.write(posting.post_booking, _request(writer, n, "run"), BENCH)
            latencies.append(time.perf_counter() - t0)
        return latencies, start, time.monotonic()
    finally:
        await db.dispose()


def _writer_process(url: str, writer: int, bookings: int, barrier: Any, results: Any) -> None:
    results.put((writer, asyncio.run(_write(url, writer, bookings, barrier))))


async def _admin(admin_url: str, statement: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _prepare(url: str) -> None:
    db = Database(url)
    try:
        await prepare_ledger(db, "skr03")
    finally:
        await db.dispose()


async def _check(url: str, expected_intents: int) -> str:
    db = Database(url)
    try:
        report = await db.read(chain.verify_chain)
    finally:
        await db.dispose()
    if not report.ok or report.intents_checked != expected_intents:
        raise SystemExit(f"chain check failed: {report}")
    return f"chain ok, {report.lines_checked} lines"


def _run(url: str, writers: int, bookings: int) -> dict[str, Any]:
    asyncio.run(_prepare(url))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    processes = [ctx.Process(target=_writer_process, args=(url, w, bookings, barrier, results))
                 for w in range(writers)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=1800) for _ in processes]
    for p in processes:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a writer failed (exit code {p.exitcode})")
    latencies = sorted(x for _, (lat, _, _) in outcomes for x in lat)
    start = min(s for _, (_, s, _) in outcomes)
    end = max(e for _, (_, _, e) in outcomes)
    check = asyncio.run(_check(url, writers * (bookings + WARM_UP)))
    return {"writers": writers, "bookings": len(latencies), "seconds": end - start,
            "per_s": len(latencies) / (end - start), "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "max": latencies[-1] * 1000, "check": check}


def _print(backend: str, row: dict[str, Any]) -> None:
    print(f"{backend:<11} {row['writers']:>7} {row['bookings']:>8} {row['seconds']:>8.2f} {row['per_s']:>10.1f} "
          f"{row['p50']:>8.2f} {row['p95']:>8.2f} {row['max']:>8.1f}  {row['check']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("LEDGER_MCP_BENCH_PG_URL"),
                        help="admin URL of a PostgreSQL server (env LEDGER_MCP_BENCH_PG_URL); SQLite only if unset")
    parser.add_argument("--bookings", type=int, default=100, help="bookings per writer (default 100)")
    parser.add_argument("--writers", default="1,4,8", help="writer counts to run (default 1,4,8)")
    args = parser.parse_args()
    counts = [int(w) for w in args.writers.split(",")]

    print(f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    print(f"{args.bookings} bookings per writer after {WARM_UP} warm-up bookings; one process per writer; "
          "each booking = 1 intent + 2 journal lines")
    print(f"{'backend':<11} {'writers':>7} {'bookings':>8} {'seconds':>8} {'bookings/s':>10} {'p50 ms':>8} "
          f"{'p95 ms':>8} {'max ms':>8}")
    for writers in counts:
        with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
            _print("sqlite", _run(f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.sqlite3'}", writers, args.bookings))
    if args.pg:
        server = make_url(args.pg)
        for writers in counts:
            name = f"ledger_bench_{uuid4().hex[:12]}"
            asyncio.run(_admin(args.pg, f'CREATE DATABASE "{name}"'))
            try:
                url = server.set(database=name).render_as_string(hide_password=False)
                _print("postgresql", _run(url, writers, args.bookings))
            finally:
                asyncio.run(_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        print("(no PostgreSQL URL given: pass --pg or set LEDGER_MCP_BENCH_PG_URL for the PostgreSQL rows)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
