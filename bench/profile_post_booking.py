"""Where does a post_booking call spend its time? Server-side view, no stdio.

Runs ledger-mcp in-process (`Client(build_server(...))`, no subprocess, no pipes), times N
post_booking calls against a no-op tool on a bare MCPServer in the same way, then profiles the
post_booking calls with cProfile and prints the top functions by cumulative and by own time.

    python bench/profile_post_booking.py                    # data dir on the default temp dir
    python bench/profile_post_booking.py --data-root /dev/shm   # tmpfs: no real fsync cost
    python bench/profile_post_booking.py --calls 300 --top 30

Note: cProfile only sees the thread that runs it. aiosqlite runs SQLite in its own thread, so
time spent inside SQLite (including fsync at COMMIT) shows up in the event loop thread as waiting
(`select`/`epoll` in the asyncio loop, or the awaits around it), not as sqlite3 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))

from noop_server import server as noop_server
from stdio_roundtrip import booking, check

from ledger_mcp.server import build_server
from ledger_mcp.settings import Settings


async def timed(client: Client, calls: int, name: str, make) -> list[float]:  # type: ignore[no-untyped-def]
    for i in range(20):
        check(await client.call_tool(name, make(-1 - i)), name)
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        result = await client.call_tool(name, make(i))
        samples.append(time.perf_counter() - start)
        check(result, name)
    return samples


def line(label: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return (f"{label:<30} median {statistics.median(ms):7.2f} ms  mean {statistics.fmean(ms):7.2f} ms  "
            f"p95 {ms[int(0.95 * len(ms)) - 1]:7.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--data-root", default=None, help="parent of the temporary data dir (e.g. /dev/shm)")
    args = parser.parse_args()

    async with Client(noop_server) as client:
        noop = await timed(client, args.calls, "noop", lambda i: {})
    print(line("in-process noop", noop))

    with tempfile.TemporaryDirectory(prefix="ledger-prof-", dir=args.data_root) as tmp:
        server = build_server(Settings.load(data_dir=tmp, actor="bench"))
        async with Client(server) as client:
            plain = await timed(client, args.calls, "post_booking", lambda i: booking(i, "plain"))
            print(line(f"in-process post_booking ({tmp})", plain))
            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.enable()
            await timed(client, args.calls, "post_booking", lambda i: booking(i, "profiled"))
            profiler.disable()
            profiled_wall = time.perf_counter() - start

    wall = profiled_wall
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        groups[package_of(filename, func)] = groups.get(package_of(filename, func), 0.0) + tottime
    calls = args.calls + 20
    print(f"\n=== event-loop thread, own time (tottime) by package, per post_booking call "
          f"(profiled wall {wall / calls * 1000:.2f} ms/call, under cProfile) ===")
    for name, total in sorted(groups.items(), key=lambda kv: -kv[1]):
        if total / calls * 1000 >= 0.05:
            print(f"{name:<44} {total / calls * 1000:7.2f} ms/call  {100 * total / wall:5.1f} %")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(args.top)
    print(f"\n=== top {args.top} functions by own time ===")
    print(out.getvalue().split("\n", 6)[-1])


def package_of(filename: str, func: str) -> str:
    """Group a profiled function by the installed package (or project) its file belongs to."""
    if filename == "~":
        return "waiting on I/O + aiosqlite thread (epoll)" if "poll" in func else f"builtins ({func[:30]})"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if "ledger_mcp" in parts:
        return "ledger_mcp/" + parts[parts.index("ledger_mcp") + 1].removesuffix(".py")
    if "bench" in parts:
        return "bench (client loop)"
    return "stdlib " + path.stem

if __name__ == "__main__":
    asyncio.run(main())
