"""verify_chain speed and memory at two ledger sizes, against a raw sqlite3 + hashlib loop as the floor.

    python bench/verify.py                                  # 200,000 and 1,000,000 journal lines
    python bench/verify.py --lines 100000 400000 --work /tmp/verify-bench

Ledgers are written once through the bulk path (bench/generate_ledger.py) into --work and reused. Each
measurement runs in a fresh process: lines/s and the growth of the peak resident memory during the call
(the peak is reset after start-up; flat memory means the same growth at both sizes).

- floor: plain sqlite3 in one thread, the journal query verify_journal runs (each line with its intent's
  fields beside its first line), every line's and intent's hash and the audit link recomputed; no checks.
- verify_journal: the journal chain and closing hashes, through the ledger's Database (aiosqlite).
- verify_chain: what the verify_chain tool does: journal, record history and stored documents.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from hashlib import sha256
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
VARIANTS = ("floor", "verify_journal", "verify_chain")


def _status(field: str) -> int:
    """A /proc/self/status figure in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size


def _floor(path: Path) -> int:
    import sqlite3

    from sqlalchemy.dialects import sqlite

    from ledger_mcp.ledger import chain

    sql = str(chain.journal_query("sqlite").compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
    content_at, joined, fields = chain._CONTENT, chain._JOINED, len(chain._INTENT_FIELDS)
    cursor = sqlite3.connect(path).execute(sql)
    prev, intent, count = chain.GENESIS_HASH, "", 0
    while rows := cursor.fetchmany(10_000):
        for row in rows:
            if row[joined] is not None:
                intent = sha256(encode([3, *row[joined:joined + fields]]).encode()).hexdigest()
            content = sha256(encode((*row[:content_at], intent)).encode()).hexdigest()
            prev = sha256((prev + content).encode()).hexdigest()
            count += 1
    return count


async def _ledger_call(path: Path, variant: str) -> int:
    from ledger_mcp.ledger import chain
    from ledger_mcp.ledger.db import Database

    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.create_schema()  # upgrades a ledger written before the newest revision
        await db.read(chain.head)  # open the connection before the peak is reset
        _reset_peak()
        if variant == "verify_journal":
            report = await db.read(chain.verify_journal)
        else:
            report = await db.read(chain.verify_chain, documents_dir=path.parent / "documents")
        if not report.ok:
            raise SystemExit(f"{variant}: {report.first_break}")
        return report.lines_checked
    finally:
        await db.dispose()


def child(variant: str, path: Path) -> None:
    import ledger_mcp.ledger.chain  # noqa: F401  (imports are not part of the measurement)

    rss = _status("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    lines = _floor(path) if variant == "floor" else asyncio.run(_ledger_call(path, variant))
    seconds = time.perf_counter() - start
    print(json.dumps({"lines": lines, "seconds": seconds, "peak_growth_mb": (_status("VmHWM") - rss) / 1024}))


def measure(variant: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", variant, str(path)], check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.splitlines()[-1]))


def ledger(work: Path, lines: int) -> Path:
    directory = work / f"lines-{lines}"
    path = directory / "ledger.sqlite3"
    if not path.exists():
        print(f"writing a ledger of {lines:,} journal lines to {directory} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(BENCH_DIR / "generate_ledger.py"), "--data-dir", str(directory),
                        "--lines", str(lines)], check=True, stdout=subprocess.DEVNULL)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs=2, default=[200_000, 1_000_000], help="the two ledger sizes")
    parser.add_argument("--work", default="/tmp/ledger-mcp-verify-bench", help="where the ledgers are kept")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    paths = [ledger(Path(args.work), n) for n in args.lines]
    print(f"{'journal lines':>14} {'variant':<15} {'lines/s':>10} {'x floor':>8} {'peak growth':>12} {'load':>5}")
    for path in paths:
        floor = 0.0
        for variant in VARIANTS:
            load = os.getloadavg()[0]
            result = measure(variant, path)
            rate = result["lines"] / result["seconds"]
            floor = floor or rate
            print(f"{int(result['lines']):>14,} {variant:<15} {rate:>10,.0f} {rate / floor:>8.2f} "
                  f"{result['peak_growth_mb']:>9.1f} MB {load:>5.2f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
