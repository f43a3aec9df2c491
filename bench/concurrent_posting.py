"""Throughput and latency of post_booking with 1, 4 and 8 concurrent writers.

Three ways to write, side by side in one run, each on a fresh ledger:
- processes: each writer a separate process with its own `Database` (engine, connections), as
  separate server processes sharing one ledger would be; they queue on the database's write lock.
- tasks, one commit each: the writers are tasks sharing one `Database` (one server, many clients)
  with grouping switched off (`Database.GROUP_LIMIT = 1`): one transaction and commit per booking.
- tasks, grouped: the same with group commit (writes that arrive while one commits share the next).
All book through `Database.write` and `posting.post_booking` (one gross line with VSt19: two journal
lines per booking). Prints bookings/s over the whole run (first start to last finish) and the
per-booking latency (p50/p95/p99/max, ms), then checks that the chain verifies and nothing was lost.

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


Timing = tuple[list[float], float, float]  # latencies, start, end


async def _book(db: Database, writer: int, bookings: int, start_together: Any) -> Timing:
    for n in range(WARM_UP):  # connections open, statements compiled
        await db.write(posting.post_booking, _request(writer, n, "warm"), BENCH)
    await start_together()
    latencies = []
    start = time.monotonic()  # system-wide clock: comparable across the writer processes
    for n in range(bookings):
        t0 = time.perf_counter()
        await db.write(posting.post_booking, _request(writer, n, "run"), BENCH)
        latencies.append(time.perf_counter() - t0)
    return latencies, start, time.monotonic()


async def _write(url: str, writer: int, bookings: int, barrier: Any) -> Timing:
    db = Database(url)
    try:
        return await _book(db, writer, bookings, lambda: asyncio.to_thread(barrier.wait))
    finally:
        await db.dispose()


def _writer_process(url: str, writer: int, bookings: int, barrier: Any, results: Any) -> None:
    results.put((writer, asyncio.run(_write(url, writer, bookings, barrier))))


async def _tasks(url: str, writers: int, bookings: int, group_limit: int) -> list[Timing]:
    db = Database(url)
    db.GROUP_LIMIT = group_limit
    barrier = asyncio.Barrier(writers)
    try:
        return list(await asyncio.gather(*(_book(db, w, bookings, barrier.wait) for w in range(writers))))
    finally:
        await db.dispose()


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


def _processes(url: str, writers: int, bookings: int) -> list[Timing]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    processes = [ctx.Process(target=_writer_process, args=(url, w, bookings, barrier, results))
                 for w in range(writers)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=1800)[1] for _ in processes]
    for p in processes:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a writer failed (exit code {p.exitcode})")
    return outcomes


MODES = {"processes": "processes", "tasks-1": "tasks, one commit each", "tasks": "tasks, grouped"}


def _run(url: str, mode: str, writers: int, bookings: int) -> dict[str, Any]:
    asyncio.run(_prepare(url))
    outcomes = (_processes(url, writers, bookings) if mode == "processes"
                else asyncio.run(_tasks(url, writers, bookings, 1 if mode == "tasks-1" else Database.GROUP_LIMIT)))
    latencies = sorted(x for lat, _, _ in outcomes for x in lat)
    start = min(s for _, s, _ in outcomes)
    end = max(e for _, _, e in outcomes)
    check = asyncio.run(_check(url, writers * (bookings + WARM_UP)))

    def pct(p: float) -> float:
        return latencies[int(p * (len(latencies) - 1))] * 1000

    return {"mode": MODES[mode], "writers": writers, "bookings": len(latencies), "seconds": end - start,
            "per_s": len(latencies) / (end - start), "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
            "max": latencies[-1] * 1000, "check": check}


def _print(backend: str, row: dict[str, Any]) -> None:
    print(f"{backend:<11} {row['mode']:<23} {row['writers']:>7} {row['bookings']:>8} {row['seconds']:>8.2f} "
          f"{row['per_s']:>10.1f} {row['p50']:>8.2f} {row['p95']:>8.2f} {row['p99']:>8.2f} {row['max']:>8.1f}  "
          f"{row['check']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("LEDGER_MCP_BENCH_PG_URL"),
                        help="admin URL of a PostgreSQL server (env LEDGER_MCP_BENCH_PG_URL); SQLite only if unset")
    parser.add_argument("--bookings", type=int, default=100, help="bookings per writer (default 100)")
    parser.add_argument("--writers", default="1,4,8", help="writer counts to run (default 1,4,8)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"modes to run (default {','.join(MODES)})")
    args = parser.parse_args()
    counts = [int(w) for w in args.writers.split(",")]
    modes = args.modes.split(",")

    print(f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    print(f"{args.bookings} bookings per writer after {WARM_UP} warm-up bookings; one process per writer; "
          "each booking = 1 intent + 2 journal lines")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'backend':<11} {'mode':<23} {'writers':>7} {'bookings':>8} {'seconds':>8} {'bookings/s':>10} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for writers in counts:
        for mode in modes:  # interleaved: drift in the machine's load hits every mode alike
            with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
                _print("sqlite", _run(f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.sqlite3'}", mode, writers,
                                      args.bookings))
    if args.pg:
        server = make_url(args.pg)
        for writers in counts:
            for mode in modes:
                name = f"ledger_bench_{uuid4().hex[:12]}"
                asyncio.run(_admin(args.pg, f'CREATE DATABASE "{name}"'))
                try:
                    url = server.set(database=name).render_as_string(hide_password=False)
                    _print("postgresql", _run(url, mode, writers, args.bookings))
                finally:
                    asyncio.run(_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        print("(no PostgreSQL URL given: pass --pg or set LEDGER_MCP_BENCH_PG_URL for the PostgreSQL rows)",
              file=sys.stderr)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
