"""How close can post_booking and a cold start get to the bare SDK server at all? The floors of issue 18's goals
1 and 5, measured over stdio beside the no-op server and ledger-mcp itself, in one run.

    python bench/floors.py                       # 300 calls, 7 cold starts
    python bench/floors.py --calls 500 --starts 9

Servers, each a subprocess spoken to by a real `mcp.Client`:
- noop: bench/noop_server.py, a tool that returns "ok".
- replay: the same bare server with one tool that runs, through plain `sqlite3` (WAL, synchronous=FULL, the
  connection set up as the ledger's), the SQL statements one real `post_booking` ran, with their parameters:
  captured on the write connection while ledger-mcp booked the same bookings in-process, and replayed booking
  by booking on a copy of the ledger as it was before them (BEGIN IMMEDIATE ... COMMIT; savepoints and
  pragmas left out).
  No framework and no domain logic: what a booking costs if only its statements and its durable commit did.
- ledger: `python -m ledger_mcp serve`, post_booking.
Cold starts (spawn to first tool result): noop; `orm`, the bare server that first loads SQLModel and the
ledger's tables and reads one account through the ORM from an initialised ledger (what any SQLModel ledger
pays before its first answer); ledger-mcp on an initialised data dir (`search_accounts`).
Prints medians, the server CPU per call, the ratios to the no-op server, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from stdio_roundtrip import booking, check, ledger_params, noop_params, server_cpu  # noqa: E402

WARMUP = 20
KEPT = ("BEGIN", "SELECT", "INSERT", "UPDATE", "DELETE", "COMMIT", "WITH")


# --- the replay server (child process) ------------------------------------------------------------

def serve_replay(database: str, script: str) -> None:
    from mcp.server import MCPServer

    bookings = pickle.loads(Path(script).read_bytes())
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    for pragma in ("busy_timeout=10000", "journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.create_function("ledger_lower", 1, lambda v: v.lower() if isinstance(v, str) else v, deterministic=True)
    server = MCPServer("replay-bench", log_level="WARNING")

    @server.tool()
    def replay(index: int) -> dict[str, Any]:
        """Run booking `index`'s statements, with their parameters, in one transaction."""
        rows = 0
        for method, sql, parameters in bookings[index]:
            if method == "commit":
                conn.execute("COMMIT")
            else:
                rows += len(getattr(conn, method)(sql, parameters).fetchall())
        return {"index": index, "rows_read": rows}

    server.run("stdio")


def serve_orm(data_dir: str) -> None:
    import gc

    gc.disable()  # as ledger-mcp starts: no collection until it serves
    from mcp.server import MCPServer
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.orm import configure_mappers
    from sqlmodel import select
    from sqlmodel.ext.asyncio.session import AsyncSession

    from ledger_mcp.ledger.models import Account

    configure_mappers()
    engine = create_async_engine(f"sqlite+aiosqlite:///{data_dir}/ledger.sqlite3")
    server = MCPServer("orm-bench", log_level="WARNING")

    @server.tool()
    async def account(number: str) -> dict[str, Any]:
        """One account read through SQLModel from the ledger."""
        async with AsyncSession(engine) as session:
            found = (await session.exec(select(Account).where(Account.number == number))).first()
        return {"number": found.number if found else None}

    gc.freeze()
    gc.enable()
    server.run("stdio")


# --- capturing what post_booking runs -------------------------------------------------------------

Statement = tuple[str, str, Any]  # (method: execute, executemany or commit; sql; parameters)
CAPTURED: list[list[Statement]] = []


class _RecordingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        _record(self.connection, "execute", sql, parameters)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        parameters = list(parameters)
        _record(self.connection, "executemany", sql, parameters)
        return super().executemany(sql, parameters)


class _RecordingConnection(sqlite3.Connection):
    """Records what runs between BEGIN IMMEDIATE and COMMIT: a write transaction, whichever layer above sent it."""

    writing = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _RecordingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().executemany(sql, parameters)

    def commit(self) -> None:
        if self.writing:
            CAPTURED[-1].append(("commit", "", None))
            self.writing = False
        super().commit()


def _record(conn: Any, method: str, sql: str, parameters: Any) -> None:
    verb = sql.lstrip().upper()
    if verb.startswith("BEGIN IMMEDIATE"):
        conn.writing = True
    if conn.writing and verb.startswith(KEPT):
        CAPTURED[-1].append((method, sql, parameters))


async def capture(data_dir: Path, count: int) -> list[list[Statement]]:
    """Book `count` bookings in-process and return the statements of each one's write transaction."""
    from functools import partial

    from ledger_mcp.server import build_server
    from ledger_mcp.settings import Settings

    connect = sqlite3.connect
    sqlite3.connect = partial(connect, factory=_RecordingConnection)  # type: ignore[assignment]
    try:
        server = build_server(Settings.load(data_dir=data_dir, actor="bench"))
        async with Client(server) as client:
            for i in range(count):
                CAPTURED.append([])
                check(await client.call_tool("post_booking", booking(i, "floor")), "post_booking")
    finally:
        sqlite3.connect = connect  # type: ignore[assignment]
    return CAPTURED


# --- measuring ------------------------------------------------------------------------------------

async def timed(params: StdioServerParameters, calls: int, make: Any) -> tuple[float, float]:
    """Median ms per call and server CPU ms per call."""
    async with Client(params) as client:
        for i in range(WARMUP):
            name, args = make(i)
            check(await client.call_tool(name, args), name)
        samples, cpu = [], server_cpu()
        for i in range(WARMUP, WARMUP + calls):
            name, args = make(i)
            start = time.perf_counter()
            check(await client.call_tool(name, args), name)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000, (server_cpu() - cpu) / calls * 1000


async def cold(params: StdioServerParameters, name: str, args: dict[str, Any]) -> float:
    start = time.perf_counter()
    async with Client(params) as client:
        check(await client.call_tool(name, args), name)
        return time.perf_counter() - start  # without the shutdown


def child(*args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[__file__, *args])


async def main(args: argparse.Namespace) -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ledger-floors-") as tmp:
        work = Path(tmp)
        captured, before = work / "captured", work / "before"
        subprocess.run([sys.executable, "-m", "ledger_mcp", "init", "--data-dir", str(captured)], check=True,
                       capture_output=True)
        shutil.copytree(captured, before)
        initialised = work / "initialised"
        shutil.copytree(captured, initialised)
        # Cold starts first, while this process is small (a large parent makes every spawn slower).
        starts: dict[str, list[float]] = {"noop": [], "orm": [], "ledger": []}
        for _ in range(args.starts):
            starts["noop"].append(await cold(noop_params(), "noop", {}))
            starts["orm"].append(await cold(child("--orm", str(initialised)), "account", {"number": "1200"}))
            starts["ledger"].append(await cold(ledger_params(initialised), "search_accounts", {"query": "1200"}))
        base = statistics.median(starts["noop"])
        print(f"\ncold start, spawn to first tool result, {args.starts} starts each (median)")
        for label, values in starts.items():
            median = statistics.median(values)
            print(f"  {label:<28} {median:6.3f} s  {median / base:5.2f}x")

        total = WARMUP + args.calls
        statements = await capture(captured, total)
        script = work / "statements"
        script.write_bytes(pickle.dumps(statements))
        per_booking = statistics.median(len(b) for b in statements)
        print(f"captured {len(statements)} bookings, {per_booking:g} statements each (median):", flush=True)
        for method, sql, _ in statements[-1]:
            print(f"  {method:<11} {' '.join(sql.split())[:100]}")

        noop = await timed(noop_params(), args.calls, lambda i: ("noop", {}))
        replay = await timed(child("--replay", str(before / "ledger.sqlite3"), str(script)), args.calls,
                             lambda i: ("replay", {"index": i}))
        with tempfile.TemporaryDirectory(prefix="ledger-floors-live-") as live:
            ledger = await timed(ledger_params(Path(live)), args.calls,
                                 lambda i: ("post_booking", booking(i, "live")))
        print(f"\nround trips over stdio, {args.calls} calls each after {WARMUP} warm-ups (median; server CPU/call)")
        for label, (ms, cpu) in (("noop", noop), ("replay (statements only)", replay), ("ledger post_booking", ledger)):
            print(f"  {label:<28} {ms:6.2f} ms  {ms / noop[0]:5.2f}x   CPU {cpu:5.2f} ms  {cpu / noop[1]:5.2f}x")

    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--replay":
        serve_replay(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--orm":
        serve_orm(sys.argv[2])
    else:
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--calls", type=int, default=300)
        parser.add_argument("--starts", type=int, default=7)
        asyncio.run(main(parser.parse_args()))
