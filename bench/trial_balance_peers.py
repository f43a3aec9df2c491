"""The trial balance at scale, side by side with ledger-cli and hledger on the same data, in one run.

    python bench/trial_balance_peers.py --data-dir /tmp/big                 # 1,000,000 journal lines
    python bench/trial_balance_peers.py --data-dir /tmp/small --lines 100000
    python bench/trial_balance_peers.py --data-dir /tmp/pg --database-url postgresql+asyncpg://...

1. The ledger: generated through the bulk write path (bench/generate_ledger.py, hash chain included)
   unless the data directory already holds one of at least --lines journal lines.
2. The same journal written in ledger's plain-text format (every journal line as one transaction of
   two postings, accounts `K<number>`, amounts in EUR), streamed from the database.
3. Timed, --runs times each, medians: `run_report trial_balance` in-process (`Database.read`) and over
   stdio (`ledger-mcp serve` as a subprocess, what hosts see), `ledger bal` and `hledger bal` on the
   file (Debian packages `ledger`, `hledger`). Peak memory: the ledger-mcp server's VmHWM, each peer's
   max RSS, and the Python heap peak of the in-process query.
4. Every account's closing balance compared with both peers: the run fails if one differs.

Goals (issue "Speed"): identical totals; the trial balance on 1M lines under one second and at least
10x faster than ledger-cli; the server's memory flat (the query runs in the database).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from sqlalchemy import func, select
from sqlmodel import col

sys.path.insert(0, str(Path(__file__).parent))
from generate_ledger import generate

from ledger_mcp.ledger import reports
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import JournalLine


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def line_count(db: Database) -> int:
    async def count(session: Any) -> int:
        return int((await session.exec(select(func.count()).select_from(JournalLine))).one()[0])
    try:
        return await db.read(count)
    except Exception:
        return 0


async def write_journal(db: Database, path: Path) -> int:
    """The journal in ledger format, streamed in journal-number pages; returns the transactions written."""
    written, after = 0, 0
    with path.open("w", encoding="utf-8") as out:
        while True:
            async def page(session: Any, after: int = after) -> list[Any]:
                rows = await session.exec(
                    select(col(JournalLine.journal_number), col(JournalLine.booking_date),
                           col(JournalLine.debit_account), col(JournalLine.credit_account),
                           col(JournalLine.base_amount))
                    .where(col(JournalLine.journal_number) > after).order_by(col(JournalLine.journal_number))
                    .limit(50_000))
                return list(rows.all())
            rows = await db.read(page)
            if not rows:
                return written
            for number, day, debit, credit, amount in rows:
                euros = f"{amount // 100}.{amount % 100:02d}"  # journal amounts are positive minor units
                out.write(f"{day.isoformat()} line {number}\n    K{debit}  {euros} EUR\n"
                          f"    K{credit}  -{euros} EUR\n\n")
            written += len(rows)
            after = rows[-1][0]


def run_peer(command: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of one run of a peer."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{command[0]} failed: {done.stderr[:500]}")
    return time.perf_counter() - start, done.stdout


def peer_rss(command: list[str]) -> int:
    """Max RSS (MiB) of one run of a peer (wait4 on the child)."""
    pid = os.posix_spawnp(command[0], command, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_maxrss // 1024


def parse_ledger(out: str) -> dict[str, Decimal]:
    balances: dict[str, Decimal] = {}
    for row in out.splitlines():
        account, _, amount = row.partition("\t")
        if account.startswith("K") and amount.strip():
            balances[account[1:]] = Decimal(amount.replace("EUR", "").replace(",", "").strip() or "0")
    return balances


def parse_hledger(out: str) -> dict[str, Decimal]:
    balances: dict[str, Decimal] = {}
    for row in csv.reader(io.StringIO(out)):
        if len(row) == 2 and row[0].startswith("K"):
            balances[row[0][1:]] = Decimal(row[1].replace("EUR", "").replace(",", "").strip() or "0")
    return balances


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def server_hwm(data_dir: str) -> int:
    """VmHWM (MiB) of the running `ledger_mcp serve` for this data directory."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"serve" in cmdline and data_dir.encode() in cmdline:
                for row in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if row.startswith("VmHWM:"):
                        return int(row.split()[1]) // 1024
        except OSError:
            continue
    return 0


async def over_stdio(data_dir: str, url: str | None, runs: int) -> tuple[list[float], int, dict[str, str]]:
    args = ["-m", "ledger_mcp", "serve", "--data-dir", data_dir, *(["--database-url", url] if url else [])]
    samples: list[float] = []
    async with Client(StdioServerParameters(command=sys.executable, args=args)) as client:
        rows: dict[str, str] = {}
        for _ in range(runs + 1):  # the first call warms the server and the page cache
            start = time.perf_counter()
            result = await client.call_tool("run_report", {"report_type": "trial_balance"})
            samples.append(time.perf_counter() - start)
            tb = (result.structured_content or {})["trial_balance"]
            rows = {r["account"]: r["closing_balance"] for r in tb["rows"]}
        hwm = server_hwm(data_dir)
    return samples[1:], hwm, rows


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'ledger.sqlite3'}"
    print(f"load average {load()}")
    db = Database(url)
    have = await line_count(db)
    if have and have < args.lines:
        raise SystemExit(f"{data_dir} holds {have:,} journal lines, fewer than --lines: use another directory")
    if not have:
        await db.dispose()
        start = time.perf_counter()
        intents, lines, _ = await generate(url, args.lines, args.chunk, quiet=True)
        print(f"generated {intents:,} intents, {lines:,} journal lines through the bulk path in "
              f"{time.perf_counter() - start:.1f} s (load {load()})")
        db = Database(url)
    total_lines = await line_count(db)
    journal = data_dir / "journal.ledger"
    start = time.perf_counter()
    await write_journal(db, journal)
    print(f"{total_lines:,} journal lines; ledger-format file {journal.stat().st_size / 2**20:.0f} MiB written in "
          f"{time.perf_counter() - start:.1f} s")

    ours_samples: list[float] = []
    for _ in range(args.runs + 1):
        begin = time.perf_counter()
        tb = await db.read(reports.trial_balance, None, None)
        ours_samples.append(time.perf_counter() - begin)
    tracemalloc.start()  # one more run traced (tracing slows Python down, so not a timed one)
    await db.read(reports.trial_balance, None, None)
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    ours = {r.account: Decimal(r.closing_balance) for r in tb.rows if Decimal(r.closing_balance)}
    await db.dispose()
    stdio_samples, server_mib, stdio_rows = await over_stdio(str(data_dir), args.database_url, args.runs)
    assert {a: Decimal(b) for a, b in stdio_rows.items() if Decimal(b)} == ours

    peers: dict[str, tuple[list[float], int, dict[str, Decimal]]] = {}
    commands = {
        "ledger": ["ledger", "-f", str(journal), "bal", "--flat", "--no-total", "--empty",
                   "--format", "%(account)\t%(quantity(display_total))\n"],
        "hledger": ["hledger", "-f", str(journal), "bal", "--flat", "-N", "-O", "csv"],
    }
    for name, command in commands.items():
        if not shutil.which(command[0]):
            print(f"{name}: not installed (apt-get install {name}); skipped")
            continue
        samples, out = [], ""
        for _ in range(args.peer_runs):
            seconds, out = run_peer(command)
            samples.append(seconds)
        parsed = parse_ledger(out) if name == "ledger" else parse_hledger(out)
        peers[name] = (samples, peer_rss(command), {a: v for a, v in parsed.items() if v})

    print(f"\ntrial balance of {total_lines:,} journal lines, {len(ours)} accounts with a balance (load {load()})")
    ours_median = statistics.median(ours_samples[1:])
    print(f"  ledger-mcp in-process   median {median_ms(ours_samples[1:])}  (cold first call "
          f"{ours_samples[0] * 1000:.0f} ms; Python heap peak {heap_peak:.1f} MiB)")
    print(f"  ledger-mcp over stdio   median {median_ms(stdio_samples)}  (server peak RSS {server_mib} MiB)")
    failed = False
    for name, (samples, rss, balances) in peers.items():
        same = balances == ours
        failed |= not same
        differing = sorted(set(balances) ^ set(ours) | {a for a in set(balances) & set(ours) if balances[a] != ours[a]})
        print(f"  {name:<22}  median {median_ms(samples)}  (max RSS {rss} MiB) -> ledger-mcp in-process "
              f"{statistics.median(samples) / ours_median:.1f}x faster, over stdio "
              f"{statistics.median(samples) / statistics.median(stdio_samples):.1f}x; totals "
              f"{'identical for every account' if same else 'DIFFER: ' + ', '.join(differing[:10])}")
    goal = ours_median < 1.0 and all(statistics.median(s) / ours_median >= 10 for s, _, _ in peers.values())
    print(f"goal: under 1 s and >= 10x ledger-cli: {'met' if goal else 'NOT met'}; load average {load()}")
    if failed:
        raise SystemExit("totals differ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="ledger directory (reused when it holds enough lines)")
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite in the data directory")
    parser.add_argument("--lines", type=int, default=1_000_000, help="journal lines (default 1,000,000)")
    parser.add_argument("--chunk", type=int, default=20_000, help="bookings per transaction when generating")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of ours (default 5)")
    parser.add_argument("--peer-runs", type=int, default=3, help="timed runs of each peer (default 3)")
    arguments = parser.parse_args()
    arguments.data_dir = arguments.data_dir or tempfile.mkdtemp(prefix="tb-peers-")
    asyncio.run(main(arguments))
