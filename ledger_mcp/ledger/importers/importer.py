"""Booking a source file into the ledger through the bulk write path.

Before anything is written the whole file is read and checked: a line that cannot be read, an
account with no number, an account missing from the chart (unless `create_accounts`) stops the
import with the full list. The transactions are then booked in chunks, one database transaction per
chunk. Every transaction carries an idempotency key derived from its content (importers.with_keys),
so the same file imported again writes nothing, and an import that stopped (a refused booking, a
crash) resumes where it stopped when it is run again: committed chunks are recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import bulk
from ledger_mcp.ledger.accounts import NewAccount, create_account, nearest_accounts
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import BatchRefused, UnknownAccount, ValidationFailed
from ledger_mcp.ledger.importers import (
    SourceAccount,
    SourceBooks,
    SourceTransaction,
    beancount_file,
    datev,
    journal,
    read_account_map,
    with_keys,
)
from ledger_mcp.ledger.models import Account, TaxCode
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Provenance

Format = Literal["beancount", "journal", "datev"]
FORMATS: tuple[str, ...] = ("beancount", "journal", "datev")
CHUNK = 20_000
"""Transactions per database transaction: each commit costs a WAL checkpoint and fsyncs (100,000 bookings
took 1.9x as long in parts of 5,000 as of 25,000), while the write lock is held a few seconds at most."""
_LISTED = 20  # problems named in an error message


@dataclass
class ImportReport:
    """What an import did. created_accounts: (number, name, type, how the type was chosen)."""

    format: str
    transactions: int
    written: int = 0
    replayed: int = 0
    lines: int = 0
    created_accounts: list[tuple[str, str, str, str]] = field(default_factory=list)


def detect_format(path: Path) -> Format:
    """By content (DATEV's EXTF header) and file name; journals are the rest."""
    with path.open("rb") as handle:
        if handle.read(6).lstrip(b'"').startswith(b"EXTF"):
            return "datev"
    return "beancount" if path.suffix.lower() in (".beancount", ".bean") else "journal"


async def import_file(db: Database, path: Path, provenance: Provenance, *, format: Format | None = None,
                      create_accounts: bool = False, account_map: Path | None = None,
                      allow_duplicates: bool = False, chunk: int = CHUNK,
                      progress: Callable[[int, int], None] | None = None) -> ImportReport:
    chosen = format or detect_format(path)
    books = await _read(db, path, chosen, read_account_map(account_map))
    books.problems += [f"{t.position}: the transaction moves no amount" for t in books.transactions if not t.lines]
    if books.problems:
        raise ValidationFailed(
            f"{path.name}: {len(books.problems)} problem(s), nothing was imported: " + "; ".join(
                books.problems[:_LISTED]) + (" ..." if len(books.problems) > _LISTED else ""),
            hint="Fix the file (or map the accounts with --account-map) and run the import again.",
            details={"problems": books.problems})
    with_keys(books, chosen)
    report = ImportReport(chosen, len(books.transactions))
    report.created_accounts = await db.write(_accounts, books, create_accounts)
    total = len(books.transactions)
    with bulk.collector_paused():  # the requests, like the bulk path's rows, form no reference cycles
        for start in range(0, total, chunk):
            part = books.transactions[start:start + chunk]
            requests = [_request(t, path.name) for t in part]  # per chunk: a million requests need not coexist
            try:
                outcome = await db.write(bulk.post_many, requests, provenance, with_results=False,
                                         allow_duplicates=allow_duplicates,
                                         summary={"source": path.name, "format": chosen})
            except BatchRefused as exc:
                raise _refused_chunk(exc, part, report) from None
            report.written += outcome.written
            report.replayed += outcome.replayed
            report.lines += outcome.lines
            if progress:
                progress(min(start + chunk, total), total)
    return report


def _refused_chunk(exc: BatchRefused, chunk: list[SourceTransaction], report: ImportReport) -> BatchRefused:
    """The chunk's refusals named by their place in the file, and what is in the ledger already."""
    errors = [{**e, "position": chunk[e["index"] - 1].position} for e in exc.details["errors"]]
    listed = "; ".join(f"{e['position']}: {e['message']}" for e in errors[:_LISTED])
    return BatchRefused(
        f"{len(errors)} transaction(s) refused: {listed}. The {report.written + report.replayed:,} transactions "
        "before them are in the ledger; nothing of this chunk was written.",
        hint="Fix the transactions named (or the ledger, e.g. a missing tax code) and run the same import again: "
             "what is in is skipped and the import continues.", details={"errors": errors})


async def _read(db: Database, path: Path, format: Format, account_map: dict[str, str]) -> SourceBooks:
    if format == "beancount":
        return beancount_file.read(path, account_map)
    if format == "journal":
        return journal.read(path, account_map)

    async def bu_keys(session: AsyncSession) -> dict[str, str]:
        rows = (await session.exec(select(TaxCode.datev_bu_key, TaxCode.code).where(
            col(TaxCode.is_active), col(TaxCode.datev_bu_key).is_not(None)))).all()
        return {key.lstrip("0"): code for key, code in rows if key}
    return datev.read(path, await db.read(bu_keys))


async def _accounts(session: AsyncSession, books: SourceBooks, create: bool) -> list[tuple[str, str, str, str]]:
    """Refuse accounts the chart lacks, listing them, or create them with a guessed type."""
    wanted = set(books.accounts)
    existing = set((await session.exec(select(Account.number).where(col(Account.number).in_(wanted)))).all())
    missing = [books.accounts[n] for n in sorted(wanted - existing)]
    if not missing:
        return []
    guessed = [(a, *await _guess(session, a)) for a in missing]
    if not create:
        listed = ", ".join(f"{a.number} ({a.name}, {kind})" for a, kind, _, _ in guessed[:_LISTED])
        raise UnknownAccount(
            f"{len(missing)} account(s) of the file are not in the chart: {listed}"
            + (" ..." if len(missing) > _LISTED else ""),
            hint="Create them with create_account, map them to existing accounts with --account-map, or run the "
                 "import with --create-accounts (types guessed as listed).",
            details={"missing": [{"number": a.number, "source_name": a.name, "guessed_type": kind}
                                 for a, kind, _, _ in guessed]})
    created = []
    for account, kind, category, how in guessed:
        if not (account.number.isdigit() and 4 <= len(account.number) <= 8):
            raise ValidationFailed(f"Account {account.number} ({account.name}) cannot be created: numbers have 4 to "
                                   "8 digits.", hint="Map it to an account with --account-map.")
        await create_account(session, NewAccount(number=account.number, name=account.name[:200], type=kind,  # type: ignore[arg-type]
                                                 category=category))
        created.append((account.number, account.name, kind, how))
    return created


async def _guess(session: AsyncSession, account: SourceAccount) -> tuple[str, str, str]:
    """(type, category, how it was chosen): the source's, else that of the closest account of the chart."""
    if account.type:
        return account.type, account.category or "", f"from the source ({account.name})"
    neighbours = await nearest_accounts(session, account.number, limit=1)
    if not neighbours:
        return "expense", "", "no neighbour in the chart: default"
    neighbour = neighbours[0]
    return neighbour.type, neighbour.category, f"like the neighbouring account {neighbour.number} {neighbour.name}"


def _request(t: SourceTransaction, source: str) -> BookingRequest:
    return BookingRequest(
        booking_date=t.booking_date.isoformat(), description=t.description[:500], currency=t.currency,
        external_reference=t.reference[:200] if t.reference else None, idempotency_key=t.key,
        # Opening and migrated balances of receivables/payables arrive without their open items.
        control_account_reason=f"imported from {source}"[:500],
        lines=[BookingLine(debit_account=line.debit, credit_account=line.credit, amount=str(line.amount),
                           tax_code=line.tax_code) for line in t.lines])
