"""Intents per second into SQLite with the full hash chain, side by side in one run:

1. the bulk path (`bulk.post_many`) as `ledger-mcp import` uses it: `--intents` bookings in
   transactions of `--chunk`, one `import.posted` event per transaction;
2. the same with an `intent.posted` event per intent (as post_bookings writes them);
3. `post_booking` in-process through `Database.write`, one transaction per booking (`--singles`);
4. raw `sqlite3`: the same rows (checked and split by the ledger's code beforehand, untimed), hashed
   with the chain and record history functions and inserted with `executemany` in one transaction;
5. `ledger-mcp import` end to end (`import_file`: reading and parsing included) of the first
   `--file-intents` bookings written as a Beancount file, an hledger/ledger journal and a DATEV EXTF
   Buchungsstapel, in parts of the importer's default size.

`--baseline DIR` runs legs 1, 2 and 5 again from another source tree (e.g. `git archive main | tar -x
-C DIR`) in a subprocess with DIR first on the path, alternating with this tree for `--rounds`, so that
both see the same load; a tree whose bulk path has no import events writes an event per intent in leg 1.

Every leg starts on a fresh ledger (SQLite, WAL, synchronous=FULL) in `--data-root`, books the same
generated SKR03 bookings (bench/generate_ledger.py; about 1.8 journal lines each) and must pass
verify_chain afterwards. Prints intents/s (median of the rounds), journal lines/s, the CPU seconds of
this process per 10,000 intents (both threads; less sensitive to a loaded machine than the wall clock)
and the ratio to the raw ceiling, with the load average.

    python bench/bulk.py                                   # 100,000 intents
    python bench/bulk.py --intents 20000 --singles 200 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from generate_ledger import GENERATOR, bookings

from ledger_mcp.ledger import bulk, chain, posting, records
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.importers import importer
from ledger_mcp.ledger.models import Intent, JournalLine
from ledger_mcp.ledger.posting import BookingRequest
from ledger_mcp.server.app import prepare_ledger

SUMMARY = "summary" in inspect.signature(bulk.post_many).parameters  # a tree with import events
FILES = ("beancount", "journal", "datev")
Leg = tuple[float, float, int, int]  # (seconds, CPU seconds, intents, lines)


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


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.process_time() - start[1]


async def bulk_leg(root: Path, requests: list[BookingRequest], chunk: int, summary: bool) -> Leg:
    db, _ = await _fresh(root, "bulk")
    options: dict[str, Any] = {"summary": {"source": "bench"}} if summary and SUMMARY else {}
    try:
        start = _clock()
        lines = 0
        for i in range(0, len(requests), chunk):
            lines += (await db.write(bulk.post_many, requests[i:i + chunk], GENERATOR, with_results=False,
                                     **options)).lines
        seconds, cpu = _since(start)
        await _verified(db, len(requests))
        return seconds, cpu, len(requests), lines
    finally:
        await db.dispose()


async def single_leg(root: Path, requests: list[BookingRequest]) -> Leg:
    db, _ = await _fresh(root, "single")
    try:
        start = _clock()
        lines = 0
        for request in requests:
            lines += (await db.write(posting.post_booking, request, GENERATOR)).event_count
        seconds, cpu = _since(start)
        await _verified(db, len(requests))
        return seconds, cpu, len(requests), lines
    finally:
        await db.dispose()


async def _prepared(root: Path, requests: list[BookingRequest]) -> tuple[list[posting.PreparedBooking], dict[str, str]]:
    """The bookings checked and split by the ledger's code (untimed), and the account types."""
    db, _ = await _fresh(root, "rows")
    try:
        async def prepare(session: Any) -> tuple[list[posting.PreparedBooking], dict[str, str]]:
            context = await posting.booking_context(session)
            return ([await posting.prepare_booking(session, r, context) for r in requests],
                    {n: a.type for n, a in context.accounts.items()})

        return await db.read(prepare)
    finally:
        await db.dispose()


def raw_leg(path: Path, prepared: list[posting.PreparedBooking]) -> Leg:
    """Hash and insert the prepared rows with plain sqlite3, as the server's connections are set up."""
    created_at = "2026-01-01T00:00:00.000000Z"
    intents = [vars(posting.prepared_intent(p, GENERATOR.columns(), created_at)) for p in prepared]
    legs = [[{"debit_account": leg.debit, "credit_account": leg.credit, "amount": leg.amount,
              "tax_code": leg.tax_code, "line_role": leg.role, "description": leg.description or intent["description"]}
             for leg in p.pairs] for p, intent in zip(prepared, intents, strict=True)]
    intent_table = Intent.__table__  # type: ignore[attr-defined]
    intent_columns = [c.name for c in intent_table.c]
    line_columns = [c.name for c in JournalLine.__table__.c]  # type: ignore[attr-defined]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    start = _clock()
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
    seconds, cpu = _since(start)
    conn.close()
    return seconds, cpu, len(intents), number


# --- Source files for `ledger-mcp import` ---

_ROOTS = {"asset": "Assets", "liability": "Liabilities", "equity": "Equity", "revenue": "Income",
          "expense": "Expenses"}
_BU_KEYS = {"VSt19": "9", "VSt7": "8", "USt19": "3", "USt7": "2"}


def _money(cents: int, sep: str = ".") -> str:
    return f"{cents // 100}{sep}{cents % 100:02d}"


def _postings(p: posting.PreparedBooking) -> dict[str, int]:
    """Signed amounts per account (debit positive) of a prepared booking: net, tax and gross postings."""
    signed: dict[str, int] = {}
    for leg in p.pairs:
        assert leg.debit and leg.credit
        signed[leg.debit] = signed.get(leg.debit, 0) + leg.amount
        signed[leg.credit] = signed.get(leg.credit, 0) - leg.amount
    return signed


def write_files(root: Path, requests: list[BookingRequest], prepared: list[posting.PreparedBooking],
                types: dict[str, str]) -> dict[str, Path]:
    """The bookings as a Beancount file, a ledger journal (postings with the tax split out) and a DATEV
    EXTF Buchungsstapel (gross amounts with BU keys, split by the importer)."""
    names = {n: f"{_ROOTS[t]}:{n}" for n, t in types.items()}
    paths = {"beancount": root / "books.beancount", "journal": root / "books.journal", "datev": root / "EXTF.csv"}
    with paths["beancount"].open("w", encoding="utf-8") as bean, paths["journal"].open("w", encoding="utf-8") as led:
        bean.write('option "operating_currency" "EUR"\n')
        used = sorted({n for p in prepared for n in _postings(p)})
        bean.writelines(f"2020-01-01 open {names[n]}\n" for n in used)
        for request, p in zip(requests, prepared, strict=True):
            day, ref = p.booking_date.isoformat(), request.external_reference
            bean.write(f'\n{day} * "{request.description}" ^{ref}\n')
            led.write(f"\n{day} * ({ref}) {request.description}\n")
            for number, cents in _postings(p).items():
                amount = _money(cents) if cents >= 0 else "-" + _money(-cents)
                bean.write(f"  {names[number]}  {amount} EUR\n")
                led.write(f"    {names[number]}    {amount} EUR\n")
    year = prepared[0].booking_date.year
    assert prepared[-1].booking_date.year == year, "a DATEV file holds one fiscal year: fewer --file-intents"
    rows = [f'"EXTF";700;21;"Buchungsstapel";13;{year}0401120000000;;"RE";"";"";29098;55003;{year}0101;4;'
            f'{year}0101;{year}1231;"Import";"WD";1;0;0;"EUR";;"";;;"03";;;"";""',
            "Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;"
            "Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1;Belegfeld 2;Skonto;Buchungstext"]
    for request in requests:
        line = request.lines[0]
        debit, credit = line.debit_account or "", line.credit_account or ""
        key = _BU_KEYS.get(line.tax_code or "", "")
        side, konto, gegen = ("H", credit, debit) if types[credit] == "revenue" else ("S", debit, credit)
        day = request.booking_date
        rows.append(f'{line.amount.replace(".", ",")};"{side}";"EUR";;;;{konto};{gegen};"{key}";{day[8:10]}{day[5:7]};'
                    f'"{request.external_reference}";"";;"{request.description}"')
    paths["datev"].write_bytes("\r\n".join(rows).encode("cp1252"))
    return paths


async def file_leg(root: Path, name: str, path: Path) -> Leg:
    db, _ = await _fresh(root, f"import-{name}")
    try:
        start = _clock()
        report = await importer.import_file(db, path, GENERATOR)
        seconds, cpu = _since(start)
        assert report.replayed == 0 and report.written == report.transactions, report
        await _verified(db, report.written)
        again = await importer.import_file(db, path, GENERATOR)
        assert again.written == 0 and again.replayed == report.transactions, again  # the same file twice: nothing
        return seconds, cpu, report.written, report.lines
    finally:
        await db.dispose()


# --- One round of the legs of one tree (this one, or --baseline's in a subprocess) ---


async def tree_legs(args: argparse.Namespace, root: Path) -> dict[str, Leg]:
    requests = list(bookings(args.intents, prefix="bulk"))
    found: dict[str, Leg] = {}
    found["bulk, import events"] = await bulk_leg(root, requests, args.chunk, summary=True)
    found["bulk, event per intent"] = await bulk_leg(root, requests, args.chunk, summary=False)
    if args.file_intents:
        sources = list(bookings(args.file_intents, prefix="file", start_year=2026))
        prepared, types = await _prepared(root, sources)
        for name, path in write_files(root, sources, prepared, types).items():
            found[f"import {name}"] = await file_leg(root, name, path)
    return found


def baseline_legs(args: argparse.Namespace, root: Path) -> dict[str, Leg]:
    env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
    command = [sys.executable, __file__, "--tree-only", "--intents", str(args.intents), "--chunk", str(args.chunk),
               "--file-intents", str(args.file_intents), "--data-root", str(root / "baseline")]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return {name: tuple(leg) for name, leg in json.loads(out.splitlines()[-1]).items()}  # type: ignore[misc]


def _row(name: str, legs: list[Leg], ceiling: float | None) -> str:
    rate = statistics.median(count / seconds for seconds, _, count, _ in legs)
    lines = statistics.median(n / seconds for seconds, _, _, n in legs)
    cpu = statistics.median(c / count * 10_000 for _, c, count, _ in legs)
    ratio = f"{rate / ceiling:.2f}" if ceiling else ""
    return f"{name:<34}{legs[0][2]:>9,}{rate:>12,.0f}{lines:>11,.0f}{cpu:>12.2f}{ratio:>9}"


async def main(args: argparse.Namespace) -> None:
    root = Path(args.data_root or tempfile.mkdtemp(prefix="ledger-bulk-"))
    try:
        if args.tree_only:
            found = await tree_legs(args, root)
            print(json.dumps(found))
            return
        load = os.getloadavg()
        print(f"{args.intents:,} bookings (bulk, raw) in parts of {args.chunk:,}, {args.singles:,} (post_booking), "
              f"{args.file_intents:,} (import from files); SQLite WAL, synchronous=FULL, in {root}; "
              f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        ours: dict[str, list[Leg]] = {}
        theirs: dict[str, list[Leg]] = {}
        requests = list(bookings(args.intents, prefix="bulk"))
        prepared, _ = await _prepared(root, requests)
        raw: list[Leg] = []
        for _ in range(args.rounds):  # every leg once per round: all of them see the same load
            db, path = await _fresh(root, "raw")
            await db.dispose()
            raw.append(raw_leg(path, prepared))
            db = Database(f"sqlite+aiosqlite:///{path}")
            try:
                await _verified(db, len(requests))
            finally:
                await db.dispose()
            for name, leg in (await tree_legs(args, root)).items():
                ours.setdefault(name, []).append(leg)
            if args.baseline:
                for name, leg in baseline_legs(args, root).items():
                    theirs.setdefault(name, []).append(leg)
        if args.singles:
            ours["post_booking in-process"] = [await single_leg(root, list(bookings(args.singles, prefix="single")))]
        ceiling = statistics.median(count / seconds for seconds, _, count, _ in raw)
        print(f"\n{'leg (median of ' + str(args.rounds) + ' rounds)':<34}{'intents':>9}{'intents/s':>12}{'lines/s':>11}"
              f"{'CPU s/10k':>12}{'/ raw':>9}")
        print(_row("raw sqlite3 + chain + history", raw, ceiling))
        for name, legs in ours.items():
            print(_row(name, legs, ceiling))
            if name in theirs:
                print(_row(f"  baseline {args.baseline.name}", theirs[name], ceiling))
        load = os.getloadavg()
        print(f"\ngoal: bulk import >= 20,000 intents/s; every ledger verified; load average after "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        if not args.data_root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=100_000, help="bookings for the bulk and raw legs")
    parser.add_argument("--singles", type=int, default=500, help="bookings for the post_booking leg (0: none)")
    parser.add_argument("--chunk", type=int, default=importer.CHUNK, help="bookings per bulk transaction")
    parser.add_argument("--file-intents", type=int, default=20_000,
                        help="bookings in each source file (0: no import legs; at most a year, 91,250)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the raw, bulk and import legs (median)")
    parser.add_argument("--baseline", type=Path, help="source tree to run the bulk and import legs from as well")
    parser.add_argument("--data-root", help="directory for the ledgers (default: a temporary one)")
    parser.add_argument("--tree-only", action="store_true", help=argparse.SUPPRESS)
    asyncio.run(main(parser.parse_args()))
