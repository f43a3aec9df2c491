"""`ledger-mcp import`: Beancount, hledger/ledger journals and DATEV EXTF files booked through the bulk path,
idempotent per transaction, refusing what it cannot read or book before writing anything."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, events
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import BatchRefused, UnknownAccount, ValidationFailed
from ledger_mcp.ledger.importers.importer import detect_format, import_file
from ledger_mcp.ledger.models import Account, Intent, JournalLine, OutboxEvent
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.settings import Settings
from tests.test_cli_edges import ENTRY_POINT

pytestmark = pytest.mark.anyio
IMPORT = Provenance(surface="cli", channel=Channel.IMPORT, actor_type="user", actor_label="tester")

BEANCOUNT = """\
option "operating_currency" "EUR"
2026-01-01 open Assets:Bank:1200
2026-01-01 open Expenses:4930-Buerobedarf
2026-01-01 open Income:8400-Erloese
2026-01-01 open Assets:1000-Kasse

2026-03-02 * "Müller GmbH" "Papier" ^RE-4711
  Expenses:4930-Buerobedarf   42.50 EUR
  Assets:Bank:1200

2026-03-03 * "Kunde" "Beratung"
  Assets:Bank:1200            1000.00 EUR
  Income:8400-Erloese        -1000.00 EUR

2026-03-04 * "Kasse aufgefüllt"
  Assets:1000-Kasse            50.00 EUR
  Assets:Bank:1200            -50.00 EUR
"""

JOURNAL = """\
; a comment
account Aktiva:1200 Bank
commodity EUR

2026/03/02 * (RE-1) Büromaterial  ; paid by card
    Aufwand:4930 Bürobedarf      €119.00
    Aktiva:1200 Bank

2026-03-05 Miete März
    Aufwand:4210 Miete         1,250.00 EUR
    Aktiva:1200 Bank          -1,250.00 EUR = 3000.00 EUR

2026-03-06 ! Barentnahme
    Aktiva:1000 Kasse          EUR 20
    Aktiva:1200 Bank
"""


def _datev(rows: list[str]) -> bytes:
    header = ('"EXTF";700;21;"Buchungsstapel";13;20260401120000000;;"RE";"";"";29098;55003;20260101;4;20260301;'
              '20260331;"März";"WD";1;0;0;"EUR";;"";;;"03";;;"";""')
    columns = ("Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;"
               "Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1;Belegfeld 2;Skonto;"
               "Buchungstext")
    return "\r\n".join([header, columns, *rows]).encode("cp1252")


DATEV_ROWS = ['119,00;"S";"EUR";;;;4930;1200;"9";0203;"RE-1";"";;"Bürobedarf Müller"',
              '238,00;"H";"EUR";;;;8400;1200;"3";0403;"AR-7";"";;"Beratung"',
              '500,00;"S";"EUR";;;;70001;1200;"";0503;"RE-9";"";;"Zahlung Lieferant"']


async def _lines(db: Database) -> list[tuple[str, str, int, str | None, str]]:
    async def run(session: AsyncSession) -> list[tuple[str, str, int, str | None, str]]:
        rows = (await session.exec(select(JournalLine).order_by(JournalLine.journal_number))).all()  # type: ignore[arg-type]
        return [(r.debit_account, r.credit_account, r.amount, r.tax_code, r.channel) for r in rows]
    return await db.read(run)


async def test_a_beancount_file_is_booked_once_however_often_it_is_imported(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "books.beancount"
    path.write_text(BEANCOUNT, encoding="utf-8")
    assert detect_format(path) == "beancount"
    report = await import_file(db, path, IMPORT)
    assert (report.transactions, report.written, report.replayed, report.lines) == (3, 3, 0, 3)
    assert await _lines(db) == [("4930", "1200", 4250, None, "IMPORT"), ("1200", "8400", 100000, None, "IMPORT"),
                                ("1000", "1200", 5000, None, "IMPORT")]

    async def references(session: AsyncSession) -> list[str | None]:
        return list((await session.exec(select(Intent.external_reference).order_by(Intent.booking_date))).all())
    assert await db.read(references) == ["RE-4711", None, None]
    again = await import_file(db, path, IMPORT)
    assert (again.written, again.replayed) == (0, 3)
    path.write_text(BEANCOUNT + '\n2026-03-05 * "Nachtrag"\n  Expenses:4930-Buerobedarf  1.00 EUR\n'
                                '  Assets:Bank:1200\n', encoding="utf-8")
    grown = await import_file(db, path, IMPORT)
    assert (grown.written, grown.replayed) == (1, 3)
    assert (await db.read(chain.verify_chain)).ok


async def test_a_journal_in_the_common_subset_is_booked_and_anything_else_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "books.journal"
    path.write_text(JOURNAL, encoding="utf-8")
    report = await import_file(db, path, IMPORT)
    assert report.written == 3
    assert await _lines(db) == [("4930", "1200", 11900, None, "IMPORT"), ("4210", "1200", 125000, None, "IMPORT"),
                                ("1000", "1200", 2000, None, "IMPORT")]
    bad = tmp_path / "bad.ledger"
    bad.write_text(JOURNAL + "\n2026-03-07 Tausch\n    Aktiva:1200  10 USD @ 0.9 EUR\n    Aktiva:1000\n"
                   "\ninclude other.journal\n\n2026-03-08 Nichts\n    Aktiva:1200  0.00\n    Aktiva:1000\n",
                   encoding="utf-8")
    with pytest.raises(ValidationFailed) as refused:
        await import_file(db, bad, IMPORT)
    problems = refused.value.details["problems"]
    assert len(problems) == 3 and problems[0].startswith("line 18:") and "prices" in problems[0]
    assert problems[1].startswith("line 21:") and problems[2] == "line 23: the transaction moves no amount"
    assert len(await _lines(db)) == 3


async def test_a_datev_file_maps_bu_keys_and_refuses_or_creates_unknown_accounts(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "EXTF_Buchungsstapel.csv"
    path.write_bytes(_datev(DATEV_ROWS))
    assert detect_format(path) == "datev"
    with pytest.raises(UnknownAccount) as refused:
        await import_file(db, path, IMPORT)
    assert refused.value.details["missing"] == [{"number": "70001", "source_name": "DATEV 70001",
                                                 "guessed_type": "liability"}]
    assert await _lines(db) == []
    report = await import_file(db, path, IMPORT, create_accounts=True)
    assert report.created_accounts == [("70001", "DATEV 70001", "liability", "from the source (DATEV 70001)")]
    assert [line[:4] for line in await _lines(db)] == [
        ("4930", "1200", 10000, "VSt19"), ("1576", "1200", 1900, "VSt19"),
        ("1200", "8400", 20000, "USt19"), ("1200", "1776", 3800, "USt19"), ("70001", "1200", 50000, None)]
    created = await db.read(lambda s: s.get(Account, "70001"))
    assert created is not None and created.category == "payables"


async def test_a_datev_row_that_cannot_be_read_names_its_row(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "EXTF_bad.csv"
    path.write_bytes(_datev([DATEV_ROWS[0], '1,00;"S";"EUR";;;;4930;1200;"77";0203;"";"";;"x"',
                             '2,00;"S";"EUR";;;;4930;1200;"";3102;"";"";;"y"']))
    with pytest.raises(ValidationFailed) as refused:
        await import_file(db, path, IMPORT)
    problems = refused.value.details["problems"]
    assert problems[0].startswith("row 4: BU-Schlüssel 77") and problems[1].startswith("row 5: Belegdatum")


async def test_the_command_line_imports_with_progress_and_a_second_run_imports_nothing(
        settings: Settings, tmp_path: Path) -> None:
    where = ["--database-url", settings.database_url, "--data-dir", str(settings.data_dir)]
    assert subprocess.run([ENTRY_POINT, "init", *where], capture_output=True, timeout=120).returncode == 0
    path = tmp_path / "EXTF_Buchungsstapel.csv"
    path.write_bytes(_datev(DATEV_ROWS))
    first = subprocess.run([ENTRY_POINT, "import", *where, str(path)], capture_output=True, text=True, timeout=120)
    assert first.returncode == 1 and "70001" in first.stderr and "--create-accounts" in first.stderr
    done = subprocess.run([ENTRY_POINT, "import", *where, str(path), "--create-accounts"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "created account 70001" in done.stdout and "3 imported (5 journal lines)" in done.stdout
    assert "3 / 3 transactions" in done.stderr
    again = subprocess.run([ENTRY_POINT, "import", *where, str(path)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 imported" in again.stdout and "3 already imported" in again.stdout


async def test_a_refused_chunk_names_its_lines_keeps_the_chunks_before_and_the_rerun_continues(
        db: Database, tmp_path: Path) -> None:
    path = tmp_path / "books.journal"
    path.write_text(JOURNAL + "\n2026-03-06 ! Barentnahme\n    Aktiva:1000 Kasse          EUR 20\n"
                    "    Aktiva:1200 Bank\n", encoding="utf-8")
    with pytest.raises(BatchRefused) as refused:
        await import_file(db, path, IMPORT, chunk=2)
    assert [(e["position"], e["code"]) for e in refused.value.details["errors"]] == [("line 17", "DUPLICATE_SUSPECTED")]
    assert "The 2 transactions before them are in the ledger" in refused.value.message
    assert len(await _lines(db)) == 2
    report = await import_file(db, path, IMPORT, chunk=2, allow_duplicates=True)
    assert (report.written, report.replayed) == (2, 2)

    async def overrides(session: AsyncSession) -> list[bool]:
        return list((await session.exec(select(Intent.duplicate_override).order_by(Intent.created_at))).all())
    assert sorted(await db.read(overrides)) == [False, False, False, True]
    assert (await db.read(chain.verify_chain)).ok


async def test_accounts_without_a_number_are_named_or_mapped(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "named.hledger"
    path.write_text("2026-03-09 Papier\n    expenses:office    12.00\n    assets:bank\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as refused:
        await import_file(db, path, IMPORT)
    assert refused.value.details["problems"] == [
        "line 2: account 'expenses:office' has no account number in its name (e.g. Expenses:4930-Office) and is "
        "not in the account map"]
    mapping = tmp_path / "accounts.csv"
    mapping.write_text("source_account,number\nexpenses:office,4930\nassets:bank,1200\n", encoding="utf-8")
    report = await import_file(db, path, IMPORT, account_map=mapping)
    assert report.written == 1 and await _lines(db) == [("4930", "1200", 1200, None, "IMPORT")]


async def test_an_import_leaves_one_event_per_part_and_a_repeat_none(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "books.beancount"
    path.write_text(BEANCOUNT, encoding="utf-8")

    async def outbox(session: AsyncSession) -> list[dict[str, Any]]:
        return [json.loads(p) for p in (await session.exec(select(OutboxEvent.payload)
                                                           .order_by(col(OutboxEvent.seq)))).all()]
    before = len(await db.read(outbox))
    await import_file(db, path, IMPORT, chunk=2)
    found = (await db.read(outbox))[before:]
    assert [e["type"] for e in found] == ["import.posted", "import.posted"]
    first, second = (e["data"] for e in found)
    assert (first["source"], first["format"], first["intents"], first["journal_lines"]) == (
        "books.beancount", "beancount", 2, 2)
    assert (first["journal_number_first"], first["journal_number_last"], second["journal_number_first"],
            second["journal_number_last"]) == (1, 2, 3, 3)
    assert (first["booking_date_first"], first["booking_date_last"], second["booking_date_first"]) == (
        "2026-03-02", "2026-03-03", "2026-03-04")

    async def intent_ids(session: AsyncSession) -> list[str]:
        return list((await session.exec(select(Intent.id).order_by(col(Intent.booking_date)))).all())
    ids = await db.read(intent_ids)
    assert (first["intent_id_first"], first["intent_id_last"], second["intent_id_first"]) == tuple(ids)
    assert events.topics_of(found[0]) == {f"intent:{ids[0]}", f"intent:{ids[1]}"}  # another process: the list
    await import_file(db, path, IMPORT, chunk=2)
    assert len(await db.read(outbox)) == before + 2  # nothing written, nothing announced
