"""Statement import: parse, drop what was imported before (by fingerprint), store the rest in one batch.

The fingerprint of a transaction is the bank's own reference (CAMT AcctSvcrRef, MT940 bank reference)
with date and amount when there is one; otherwise its date, amount, counterparty, references and text,
plus its occurrence number among identical lines of the same file, so two equal fees on one day stay
two transactions while a second import of either statement adds nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, Field
from sqlalchemy import insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain
from ledger_mcp.ledger.bank.accounts import get_bank_account
from ledger_mcp.ledger.bank.formats import (
    CsvMapping,
    CsvPreset,
    JsonRow,
    ParsedStatement,
    RowError,
    StatementFormat,
    StatementRow,
    parse,
    parse_json_rows,
)
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.documents import DocumentStore
from ledger_mcp.ledger.errors import StatementAccountMismatch, ValidationFailed
from ledger_mcp.ledger.models import BankAccount, BankImportBatch, BankTransaction, Document
from ledger_mcp.ledger.open_items import signed
from ledger_mcp.ledger.provenance import Provenance

Progress = Callable[[int, int, str], Awaitable[None]]
CHUNK = 2000
MIMES = {"camt": "application/xml", "mt940": "text/plain", "csv": "text/csv", "json": "application/json"}


class ImportRowError(BaseModel):
    row: int = Field(description="1-based row or entry number in the statement.")
    code: str
    message: str


class ImportResult(BaseModel):
    """What one import did. Re-importing the same statement gives imported 0."""

    batch_id: str
    bank_account_id: str
    format: str
    document_id: str | None = Field(description="The stored statement file (GoBD: the original is kept).")
    statement_id: str | None
    total_rows: int
    imported: int
    skipped_duplicates: int
    errors: list[ImportRowError]
    opening_balance: str | None = Field(description="The statement's booked opening balance, if it states one.")
    opening_date: str | None
    closing_balance: str | None = Field(description="The statement's booked closing balance, if it states one.")
    closing_date: str | None


class ImportRequest(BaseModel):
    bank_account_id: str
    format: StatementFormat = "auto"
    csv_preset: CsvPreset | None = None
    csv_mapping: CsvMapping | None = None
    filename: str | None = None


def fingerprints(bank_account_id: str, rows: Sequence[StatementRow]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for row in rows:
        day = row.booking_date.isoformat()
        if row.bank_reference:
            key = chain.canonical_json(["ref", bank_account_id, row.bank_reference, day, row.amount])
        else:
            key = chain.canonical_json([
                "row", bank_account_id, day, row.amount, row.counterparty_iban or "",
                (row.counterparty_name or "").casefold(), row.end_to_end_id or "", row.mandate_reference or "",
                " ".join((row.remittance_information or "").casefold().split())])
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        result.append(chain.sha256_hex(f"{key}#{occurrence}"))
    return result


async def import_statement(session: AsyncSession, request: ImportRequest, data: bytes | None,
                           rows: Sequence[JsonRow | dict[str, Any]] | None, provenance: Provenance,
                           store: DocumentStore | None = None, progress: Progress | None = None) -> ImportResult:
    """Import a statement file (`data`) or JSON rows into one bank account, in the caller's transaction."""
    account = await get_bank_account(session, request.bank_account_id)
    if (data is None) == (rows is None):
        raise ValidationFailed("Give a statement file or rows, not both and not neither.",
                               hint="Pass path or content_base64 for a file, or rows for transactions as JSON.")
    if data is not None:
        parsed = parse(data, request.format, filename=request.filename, default_currency=account.currency,
                       csv_preset=request.csv_preset, csv_mapping=request.csv_mapping)
    else:
        parsed = parse_json_rows(rows or [], account.currency)
    _check_account(account, parsed)
    document_id = await _store(session, data, parsed.format, request.filename, store, provenance) if data else None
    return await _insert(session, account, parsed, document_id, provenance, progress)


def _check_account(account: BankAccount, parsed: ParsedStatement) -> None:
    if parsed.account_iban and account.iban and parsed.account_iban != account.iban:
        raise StatementAccountMismatch(
            f"The statement is for IBAN {parsed.account_iban}, bank account {account.name!r} is {account.iban}.",
            hint="Import it into the bank account with that IBAN (create it with save_bank_account).",
            details={"statement_iban": parsed.account_iban, "account_iban": account.iban})
    for index, row in enumerate(parsed.rows):
        if isinstance(row, StatementRow) and row.currency != account.currency:
            parsed.rows[index] = RowError(index + 1, "CURRENCY_MISMATCH",
                                          f"{row.currency} transaction on a {account.currency} account; "
                                          "foreign-currency transactions are not supported yet.")


async def _store(session: AsyncSession, data: bytes, fmt: str, filename: str | None, store: DocumentStore | None,
                 provenance: Provenance) -> str | None:
    if store is None:
        return None
    mime = MIMES.get(fmt, "application/octet-stream")
    digest, relative = store.save(data, mime)
    if await session.get(Document, digest) is None:
        session.add(Document(id=digest, original_name=(filename or f"statement.{fmt}")[:300], mime=mime,
                             size=len(data), storage_path=relative, status="stored", created_at=utc_now(),
                             created_by=provenance.actor_display[:300]))
        await session.flush()
    return digest


async def _insert(session: AsyncSession, account: BankAccount, parsed: ParsedStatement, document_id: str | None,
                  provenance: Provenance, progress: Progress | None) -> ImportResult:
    good = [row for row in parsed.rows if isinstance(row, StatementRow)]
    errors = [ImportRowError(row=r.row, code=r.code, message=r.message) for r in parsed.rows
              if isinstance(r, RowError)]
    prints = fingerprints(account.id, good)
    known = set((await session.exec(
        select(BankTransaction.fingerprint).where(BankTransaction.bank_account_id == account.id))).all())
    now = utc_now()
    batch = BankImportBatch(
        id=str(uuid4()), bank_account_id=account.id, format=parsed.format, document_id=document_id,
        statement_id=parsed.statement_id, total_rows=len(parsed.rows), imported=0, skipped_duplicates=0,
        error_count=len(errors), opening_date=parsed.opening[0] if parsed.opening else None,
        opening_balance=parsed.opening[1] if parsed.opening else None,
        closing_date=parsed.closing[0] if parsed.closing else None,
        closing_balance=parsed.closing[1] if parsed.closing else None, created_at=now,
        created_by=provenance.actor_display[:300])
    session.add(batch)
    await session.flush()
    fresh: list[dict[str, Any]] = []
    for row, fingerprint in zip(good, prints, strict=True):
        if fingerprint in known:
            batch.skipped_duplicates += 1
            continue
        known.add(fingerprint)
        fresh.append({"id": str(uuid4()), "bank_account_id": account.id, "batch_id": batch.id,
                      "fingerprint": fingerprint, "created_at": now, **row.__dict__})
    table = BankTransaction.metadata.tables["bank_transaction"]
    connection = await session.connection()  # executemany in core: the rows need no ORM objects
    for start in range(0, len(fresh), CHUNK):
        await connection.execute(insert(table), fresh[start:start + CHUNK])
        if progress:
            done = min(start + CHUNK, len(fresh))
            await progress(done, len(fresh), f"imported {done} of {len(fresh)} transactions")
    batch.imported = len(fresh)
    session.add(batch)
    await session.flush()
    c = account.currency
    return ImportResult(
        batch_id=batch.id, bank_account_id=account.id, format=parsed.format, document_id=document_id,
        statement_id=parsed.statement_id, total_rows=batch.total_rows, imported=batch.imported,
        skipped_duplicates=batch.skipped_duplicates, errors=errors,
        opening_balance=signed(parsed.opening[1], c) if parsed.opening else None,
        opening_date=parsed.opening[0].isoformat() if parsed.opening else None,
        closing_balance=signed(parsed.closing[1], c) if parsed.closing else None,
        closing_date=parsed.closing[0].isoformat() if parsed.closing else None)



