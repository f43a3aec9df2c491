"""Phase breakdown of one post_booking call, measured in-process (no stdio) by wrapping functions.

cProfile is hard to read for this code (coroutines, greenlets, SQLite in the aiosqlite thread), so
this script wraps the phases with timers instead, without changing any project code:

    client call total  >  LedgerServer.call_tool  >  Database.write / _transaction (group: connect, BEGIN,
    _run (the call's session; session.commit: the commit hooks), COMMIT, close)
    >  posting.post_booking  >  booking_context, prepare_booking, _earlier (idempotency + duplicate),
       _write (period guard, chain.head, hashing, INSERTs)

plus SQL statements per call that pass through SQLAlchemy (cursor events; not those a SQLite write runs on
the sqlite3 connection itself, ledger/statements.py) and new DBAPI connections (pool events).

    python bench/breakdown_post_booking.py [--calls 200] [--data-root /dev/shm]
    python bench/breakdown_post_booking.py --stdio   # same, server as a stdio subprocess (what hosts see)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncTransaction

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stdio_roundtrip import booking, check

from ledger_mcp.ledger import chain, periods, posting
from ledger_mcp.ledger import db as db_module
from ledger_mcp.server import app as app_module
from ledger_mcp.settings import Settings
from ledger_mcp.tools import booking as booking_tools

TIMES: dict[str, list[float]] = defaultdict(list)
COUNTS: dict[str, int] = defaultdict(int)
ENABLED = False


def timed_async(label: str, fn: Any) -> Any:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            if ENABLED:
                TIMES[label].append(time.perf_counter() - start)
    return wrapper


def timed_sync(label: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if ENABLED:
                TIMES[label].append(time.perf_counter() - start)
    return wrapper


def instrument() -> None:
    app_module.LedgerServer.call_tool = timed_async("server call_tool (SDK dispatch + tool)",
                                                    app_module.LedgerServer.call_tool)
    db_module.Database.write = timed_async("  Database.write (lock + transaction)", db_module.Database.write)
    db_module.Database._transaction = timed_async("    _transaction (group BEGIN..COMMIT)",
                                                  db_module.Database._transaction)
    db_module.Database._run = staticmethod(timed_async("      _run (session, fn, session.commit)",  # type: ignore[method-assign]
                                                       db_module.Database._run))
    AsyncSession.commit = timed_async("      session.commit (hooks; RELEASE in a group)", AsyncSession.commit)
    AsyncConnection.start = timed_async("      connect (pool checkout)", AsyncConnection.start)
    AsyncTransaction.start = timed_async("      BEGIN IMMEDIATE", AsyncTransaction.start)
    AsyncTransaction.__aexit__ = timed_async("      COMMIT (driver thread, fsync)", AsyncTransaction.__aexit__)
    AsyncConnection.__aexit__ = timed_async("      close (pool return)", AsyncConnection.__aexit__)
    for name in ("booking_context", "prepare_booking", "_earlier", "_write"):
        setattr(posting, name, timed_async(f"        {name}", getattr(posting, name)))
    posting.post_booking = timed_async("      posting.post_booking (fn)", posting.post_booking)
    booking_tools.posting = posting  # the tool module looks up posting.post_booking at call time
    chain.head = timed_async("          chain.head", chain.head)
    periods.guard_write = timed_async("          periods.guard_write", periods.guard_write)
    for name in ("intent_hash", "seal_line"):
        setattr(chain, name, timed_sync(f"          chain.{name}", getattr(chain, name)))
    booking_tools.answer = timed_sync("  answer() (result model dump)", booking_tools.answer)

    original_init = db_module.Database.__init__

    def init(self: Any, url: str, **kwargs: Any) -> None:
        original_init(self, url, **kwargs)
        starts: dict[int, float] = {}
        writes = (self._writer or self.engine).sync_engine  # the engine write transactions run on

        @event.listens_for(writes, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
            starts[id(cursor)] = time.perf_counter()

        @event.listens_for(writes, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
            if ENABLED:
                verb = statement.split(None, 1)[0].upper()
                TIMES[f"SQL {verb}"].append(time.perf_counter() - starts.pop(id(cursor), time.perf_counter()))

        @event.listens_for(writes, "connect")
        def connect(*a: Any) -> None:
            if ENABLED:
                COUNTS["new DBAPI connections"] += 1

        @event.listens_for(writes, "commit")
        def commit(*a: Any) -> None:
            if ENABLED:
                COUNTS["commits"] += 1

    db_module.Database.__init__ = init  # type: ignore[method-assign]


def report(calls: int, out: Any = sys.stdout) -> None:
    first = [k for k in TIMES if k.startswith("client")]
    order = first + [k for k in TIMES if k not in first and not k.startswith("SQL")]
    for key in order + sorted(k for k in TIMES if k.startswith("SQL")):
        values = [v * 1000 for v in TIMES[key]]
        print(f"{key:<44} median {statistics.median(values):7.3f}  mean {statistics.fmean(values):7.3f}  "
              f"x{len(values) / calls:4.1f}  = {sum(values) / calls:7.3f} ms/call", file=out)
    for key, count in COUNTS.items():
        print(f"{key:<44} {count / calls:.2f} per call", file=out)


def serve(data_dir: str) -> None:
    """The instrumented server for --stdio: times only tool calls after warm-up, reports to stderr at exit."""
    global ENABLED
    import atexit

    instrument()
    from ledger_mcp.server import build_server

    server = build_server(Settings.load(data_dir=data_dir, actor="bench"))
    seen = {"n": 0}
    inner = app_module.LedgerServer.call_tool

    async def call_tool(self: Any, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        global ENABLED
        seen["n"] += 1
        ENABLED = name == "post_booking" and seen["n"] > 20
        return await inner(self, name, arguments, context)

    app_module.LedgerServer.call_tool = call_tool  # type: ignore[method-assign]
    atexit.register(lambda: report(max(1, seen["n"] - 20), sys.stderr))
    server.run("stdio")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--data-root", default=None, help="parent of the temporary data dir (e.g. /dev/shm)")
    parser.add_argument("--stdio", action="store_true", help="run the instrumented server as a stdio subprocess")
    parser.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    global ENABLED
    instrument()
    from ledger_mcp.server import build_server

    with tempfile.TemporaryDirectory(prefix="ledger-breakdown-", dir=args.data_root) as tmp:
        target: Any = (StdioServerParameters(command=sys.executable, args=[__file__, "--serve", tmp]) if args.stdio
                       else build_server(Settings.load(data_dir=tmp, actor="bench")))
        label = "client call_tool total (stdio)" if args.stdio else "client call_tool total (in-process)"
        print(f"data dir {tmp}, {args.calls} calls; per call: median / mean ms, count per call", flush=True)
        async with Client(target) as client:
            for i in range(20):
                check(await client.call_tool("post_booking", booking(-1 - i, "warm")), "warm-up")
            ENABLED = True
            for i in range(args.calls):
                start = time.perf_counter()
                check(await client.call_tool("post_booking", booking(i, "run")), "post_booking")
                TIMES[label].append(time.perf_counter() - start)
            ENABLED = False
            if args.stdio:
                report(args.calls)
                print("--- server side (stderr of the subprocess):", flush=True)
        if not args.stdio:
            report(args.calls)

if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve(arguments.serve)
    else:
        asyncio.run(main(arguments))
