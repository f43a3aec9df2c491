"""verify_chain speed and memory at two ledger sizes, each written at hash version 4 and at version 3, against
a raw sqlite3 + hashlib loop of the same hash version as the floor.

    python bench/verify.py                                  # 200,000 and 1,000,000 journal lines
    python bench/verify.py --lines 100000 400000 --work /tmp/verify-bench --versions 4

Ledgers are written once through the bulk path (bench/generate_ledger.py; version 3 with the chain's
HASH_VERSION set to 3) into --work and reused. Each measurement runs in a fresh process: lines/s and the
growth of the peak resident memory during the call (the peak is reset after start-up; flat memory means
the same growth at both sizes).

- floor: plain sqlite3 in one thread, the query verify_journal runs for that version, every line's and
  intent's hash and the audit link recomputed; no checks. Version 4: one text per line and intent rendered
  by SQLite (chain.fast_query), one sha256 each. Version 3: every field, JSON-encoded in Python.
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


def _sql(statement: object) -> str:
    from sqlalchemy.dialects import sqlite

    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def _floor_v4(path: Path) -> int:
    import sqlite3

    from ledger_mcp.ledger import chain

    cursor = sqlite3.connect(path).execute(_sql(chain.fast_query("sqlite")))
    prev, field, count = chain.GENESIS_HASH, b"", 0
    while rows := cursor.fetchmany(10_000):
        for row in rows:
            if row[9] is not None:
                field = b"64:" + sha256(row[9]).hexdigest().encode()
            content = sha256(row[4] + field).hexdigest()
            prev = sha256((prev + content).encode()).hexdigest()
            count += 1
    return count


def _floor_v3(path: Path) -> int:
    import sqlite3

    from ledger_mcp.ledger import chain

    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
    content_at, joined, fields = chain._CONTENT, chain._JOINED, len(chain._INTENT_FIELDS)
    cursor = sqlite3.connect(path).execute(_sql(chain.journal_query("sqlite")))
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


def child(variant: str, path: Path, version: int) -> None:
    import ledger_mcp.ledger.chain  # noqa: F401  (imports are not part of the measurement)

    rss = _status("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    if variant == "floor":
        lines = _floor_v4(path) if version == 4 else _floor_v3(path)
    else:
        lines = asyncio.run(_ledger_call(path, variant))
    seconds = time.perf_counter() - start
    print(json.dumps({"lines": lines, "seconds": seconds, "peak_growth_mb": (_status("VmHWM") - rss) / 1024}))


def measure(variant: str, path: Path, version: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", variant, str(path), str(version)], check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.splitlines()[-1]))


def write_at(version: int) -> None:
    """generate_ledger.py with new lines sealed at hash `version` (argv: its arguments)."""
    import runpy

    from ledger_mcp.ledger import chain

    chain.HASH_VERSION = version
    sys.argv = [str(BENCH_DIR / "generate_ledger.py"), *sys.argv[3:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


def ledger(work: Path, lines: int, version: int) -> Path:
    directory = work / f"v{version}-lines-{lines}"
    path = directory / "ledger.sqlite3"
    if not path.exists():
        print(f"writing a ledger of {lines:,} journal lines at hash version {version} to {directory} ...",
              file=sys.stderr)
        subprocess.run([sys.executable, __file__, "--write-at", str(version), "--data-dir", str(directory),
                        "--lines", str(lines)], check=True, stdout=subprocess.DEVNULL)
    return path


def main() -> None:
    if sys.argv[1:2] == ["--write-at"]:
        write_at(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[200_000, 1_000_000], help="the ledger sizes")
    parser.add_argument("--versions", type=int, nargs="+", default=[4, 3], help="hash versions to write at")
    parser.add_argument("--work", default="/tmp/ledger-mcp-verify-bench", help="where the ledgers are kept")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "PATH", "VERSION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    ledgers = [(n, v, ledger(Path(args.work), n, v)) for n in args.lines for v in args.versions]
    print(f"{'journal lines':>14} {'hash':>4} {'variant':<15} {'lines/s':>10} {'x floor':>8} {'x v4 floor':>10} "
          f"{'peak growth':>12} {'load':>5}")
    v4_floor = 0.0
    for _, version, path in ledgers:
        floor = 0.0
        for variant in VARIANTS:
            load = os.getloadavg()[0]
            result = measure(variant, path, version)
            rate = result["lines"] / result["seconds"]
            floor = floor or rate
            v4_floor = rate if version == 4 and variant == "floor" else v4_floor
            print(f"{int(result['lines']):>14,} {'v' + str(version):>4} {variant:<15} {rate:>10,.0f} "
                  f"{rate / floor:>8.2f} {rate / v4_floor if v4_floor else float('nan'):>10.2f} "
                  f"{result['peak_growth_mb']:>9.1f} MB {load:>5.2f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
