"""Report latency on a generated ledger: trial balance, P&L and UStVA, in-process and over stdio.

Generates a ledger of about --lines journal lines (default 300,000): three fiscal years of a realistic
SKR03 mix (sales at 19 % and 7 %, intra-EU supplies, purchases with input VAT, reverse charge, intra-EU
acquisitions, salaries, rent, bank fees), loaded through the domain's posting path with the hash chain
(one intent per business day, each with many booking lines). Then, median of --runs each:

- in-process (`Database.read`): trial balance over all years and over one year, the same trial balance
  with the query this package used before (both journal sides merged by UNION ALL, one GROUP BY), the
  P&L of a year (with its prior-year comparison) and the UStVA of a quarter;
- over stdio (`ledger-mcp serve` as a subprocess, what hosts see): run_report for the same reports.

    python bench/reports.py                       # ~300k lines
    python bench/reports.py --lines 1000000 --runs 5

Prints the load average before and after: the machine is shared, so compare ratios within one run.

Last measured (2026-11-28, 2 cores shared with other work, load average 8.5-9.1, i.e. every figure
inflated several times; 261,084 journal lines, 159 MB SQLite file, loaded in 260 s = 1,005 lines/s
through post_booking at load 7-11), median of 5 runs, ms:

    report                                    in-process     stdio
    trial balance, all years                       206.3     259.7
    trial balance, 2025                            294.5     357.9
    P&L 2025 (with 2024 beside it)                 203.2     733.1   (stdio adds the monthly trend + PNG)
    UStVA 2025-Q2                                   92.1      87.6
    trial balance all years: previous query 476.6 ms, now 206.3 ms (2.3x)
    trial balance 2025: previous query 747.5 ms, now 294.5 ms (2.5x)

The printable PDF (pdf=true) adds little: on 40,276 lines (2026-11-29, load average 9.0-9.2), median of
5, trial balance 2025 60.8 ms alone, 66.8 ms with its PDF in-process (50.1 / 62.8 ms over stdio);
UStVA 2025-Q2 9.2 ms, 24.2 ms with its PDF (21.7 / 35.6 ms over stdio).

The PNG chart alone takes 0.4-0.5 s at that load (matplotlib Agg, 640x320); sqlite3 on the same file
runs one side's GROUP BY (covering index, skip-scan over accounts) in 0.16 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp import Client, StdioServerParameters
from sqlalchemy import case, func, literal, text, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import posting, reports
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import JournalLine
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, OpeningBalance, OpeningBalancesRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.ledger.reports.pdf import report_pdf
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings

BENCH = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bench")
YEARS = (2023, 2024, 2025)
# (debit, credit, tax code, typical gross amount, weight)
MIX: list[tuple[str, str, str | None, int, int]] = [
    ("1200", "8400", "USt19", 1190_00, 30),
    ("1200", "8300", "USt7", 107_00, 8),
    ("1200", "8125", "IGL", 2500_00, 3),
    ("3400", "1200", "VSt19", 595_00, 15),
    ("4930", "1200", "VSt19", 59_50, 12),
    ("4900", "1200", "RC19", 300_00, 4),
    ("3425", "1200", "EU19", 1000_00, 3),
    ("4120", "1200", None, 3200_00, 6),
    ("4210", "1200", None, 1500_00, 2),
    ("4970", "1200", None, 12_50, 10),
    ("4650", "1200", "VSt19", 89_25, 7),
]
WEIGHTS = [m[4] for m in MIX]


def day_request(day: date, lines_wanted: int, rng: random.Random) -> tuple[BookingRequest, int]:
    """One intent for the day; returns it and the number of journal lines it writes."""
    lines: list[BookingLine] = []
    written = 0
    while written < lines_wanted:
        debit, credit, code, typical, _ = rng.choices(MIX, WEIGHTS)[0]
        cents = max(100, int(typical * rng.uniform(0.3, 1.7)))
        lines.append(BookingLine(debit_account=debit, credit_account=credit, amount=f"{cents // 100}.{cents % 100:02d}",
                                 tax_code=code, description=f"{debit}/{credit} {len(lines)}"))
        written += 2 if code in ("USt19", "USt7", "VSt19", "RC19", "EU19") else 1
    return BookingRequest(booking_date=day.isoformat(), description=f"Tagesbuchungen {day.isoformat()}",
                          lines=lines, skip_duplicate_check=True), written


async def generate(db: Database, total_lines: int) -> int:
    await db.write(posting.post_opening_balances, OpeningBalancesRequest(
        booking_date=f"{YEARS[0]}-01-01", balances=[OpeningBalance(account="1200", amount="250000.00", side="debit"),
                                                    OpeningBalance(account="0800", amount="250000.00", side="credit")]),
                   BENCH)
    days = [date(YEARS[0], 1, 1) + timedelta(days=i) for i in range((date(YEARS[-1], 12, 31) -
                                                                     date(YEARS[0], 1, 1)).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    per_day = max(2, total_lines // len(days))
    rng = random.Random(7)
    written = 2
    started = time.perf_counter()
    for i, day in enumerate(days):
        request, n = day_request(day, min(per_day, 2 * posting.MAX_LINES // 3), rng)
        await db.write(posting.post_booking, request, BENCH)
        written += n
        if i % 100 == 0:
            rate = written / (time.perf_counter() - started)
            print(f"  loading: {day.isoformat()} {written:,} lines ({rate:,.0f} lines/s)", file=sys.stderr)
    return written


async def old_trial_balance(session: AsyncSession, start: date | None, end: date | None) -> int:
    """The previous query: both sides of every line merged (UNION ALL), then one GROUP BY."""
    debit: Any = select(col(JournalLine.debit_account).label("account"), col(JournalLine.booking_date).label("d"),
                        col(JournalLine.base_amount).label("dr"), literal(0).label("cr"))
    credit: Any = select(col(JournalLine.credit_account).label("account"), col(JournalLine.booking_date).label("d"),
                         literal(0).label("dr"), col(JournalLine.base_amount).label("cr"))
    if end:
        debit, credit = debit.where(JournalLine.booking_date <= end), credit.where(JournalLine.booking_date <= end)
    p = union_all(debit, credit).subquery("postings")
    before = p.c.d < start if start else literal(False)
    stmt: Any = select(p.c.account, func.sum(case((before, p.c.dr - p.c.cr), else_=0)),
                       func.sum(case((before, 0), else_=p.c.dr)), func.sum(case((before, 0), else_=p.c.cr))
                       ).group_by(p.c.account)
    return len((await session.exec(stmt)).all())


async def count_lines(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(JournalLine))).one())


async def median_ms(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    await fn()  # warm the cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("trial balance, all years", {"report_type": "trial_balance"}),
    ("trial balance, 2025", {"report_type": "trial_balance", "start_date": "2025-01-01", "end_date": "2025-12-31"}),
    ("P&L 2025 (with 2024 beside it)", {"report_type": "profit_and_loss", "start_date": "2025-01-01",
                                        "end_date": "2025-12-31"}),
    ("UStVA 2025-Q2", {"report_type": "vat_return", "period": "2025-Q2"}),
    ("trial balance 2025 + PDF", {"report_type": "trial_balance", "start_date": "2025-01-01",
                                  "end_date": "2025-12-31", "pdf": True}),
    ("UStVA 2025-Q2 + PDF", {"report_type": "vat_return", "period": "2025-Q2", "pdf": True}),
]


async def with_pdf(report: Awaitable[Any]) -> bytes:
    return report_pdf(await report, "Bench GmbH")


async def in_process(db: Database, runs: int) -> dict[str, float]:
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "trial balance, all years": lambda: db.read(reports.trial_balance),
        "trial balance, 2025": lambda: db.read(reports.trial_balance, "2025-01-01", "2025-12-31"),
        "P&L 2025 (with 2024 beside it)": lambda: db.read(reports.profit_and_loss, "2025-01-01", "2025-12-31"),
        "UStVA 2025-Q2": lambda: db.read(reports.vat_return, "2025-Q2"),
        "trial balance 2025 + PDF": lambda: with_pdf(db.read(reports.trial_balance, "2025-01-01", "2025-12-31")),
        "UStVA 2025-Q2 + PDF": lambda: with_pdf(db.read(reports.vat_return, "2025-Q2")),
        "old query: trial balance, all years": lambda: db.read(old_trial_balance, None, None),
        "old query: trial balance, 2025": lambda: db.read(old_trial_balance, date(2025, 1, 1), date(2025, 12, 31)),
    }
    return {name: await median_ms(fn, runs) for name, fn in calls.items()}


async def over_stdio(data_dir: Path, runs: int) -> dict[str, float]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--data-dir",
                                                                str(data_dir), "--actor", "bench"])
    out = {}
    async with Client(params) as client:
        for name, arguments in REPORTS:
            async def call(arguments: dict[str, Any] = arguments) -> None:
                result = await client.call_tool("run_report", arguments)
                if result.is_error:
                    raise SystemExit(f"{arguments}: {result.content}")
            out[name] = await median_ms(call, runs)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data-root", default=None, help="directory for the temporary ledger (default: tmp)")
    parser.add_argument("--keep", default=None, help="data dir to keep the generated ledger in and reuse next time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.data_root) as scratch:
        tmp = args.keep or scratch
        settings = Settings.load(data_dir=tmp, actor="bench")
        settings.prepare()
        db = Database(settings.database_url)
        await prepare_ledger(db, "skr03")
        lines = await db.read(count_lines)
        if lines:
            print(f"ledger: reusing {tmp}")
        else:
            started = time.perf_counter()
            lines = await generate(db, args.lines)
            load_s = time.perf_counter() - started
            async with db.engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
            print(f"ledger: loaded through post_booking in {load_s:.0f} s ({lines / load_s:,.0f} lines/s)")
        size_mb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1e6
        print(f"ledger: {lines:,} journal lines over {len(YEARS)} years, {size_mb:.0f} MB on SQLite")
        load_before = os.getloadavg()
        inproc = await in_process(db, args.runs)
        await db.dispose()
        stdio = await over_stdio(Path(tmp), args.runs)
        load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.1f} / {load_before[1]:.1f}, after {load_after[0]:.1f} / "
          f"{load_after[1]:.1f} (1 / 5 min); median of {args.runs} runs, ms")
    print(f"{'report':40} {'in-process':>11} {'stdio':>9}")
    for name, _ in REPORTS:
        print(f"{name:40} {inproc[name]:11.1f} {stdio[name]:9.1f}")
    for scope in ("all years", "2025"):
        old, new = inproc[f"old query: trial balance, {scope}"], inproc[f"trial balance, {scope}"]
        print(f"trial balance {scope}: previous query {old:.1f} ms, now {new:.1f} ms ({old / new:.1f}x)")


if __name__ == "__main__":
    asyncio.run(main())
