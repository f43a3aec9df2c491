"""Invoice intake: store a document, extract it, and open its review case.

Extraction can take seconds (OCR), so it runs outside any transaction in a worker thread; the
document row, its review case and the ingestion-log row are then written in one transaction. A
file seen before is recognised by its sha256 and answered with its existing case. Every attempt,
failed ones included, leaves an ingestion-log row.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import extraction, review_cases
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.documents import DocumentStore, sha256_of
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.extraction import ExtractedInvoice
from ledger_mcp.ledger.models import Document, IngestionLog, ReviewCase
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.review_cases import ReviewCaseInfo

Progress = Callable[[float, str], None]


class IntakeRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str | None = Field(default=None, description="A file inside the inbox folder.")
    content_base64: str | None = Field(default=None, description="The file's bytes, base64.")
    filename: str | None = Field(default=None, max_length=300)


class IntakeResult(BaseModel):
    duplicate: bool = Field(description="True: this file was ingested before; its existing case is returned.")
    review_case: ReviewCaseInfo


class LogEntry(BaseModel):
    id: int
    document_id: str | None
    original_name: str
    outcome: str
    code: str | None
    message: str | None
    created_at: str
    created_by: str


async def ingest_document(db: Database, store: DocumentStore, request: IntakeRequest, provenance: Provenance,
                          progress: Progress | None = None) -> IntakeResult:
    data, name = store.read_source(request.path, request.content_base64, request.filename)
    digest = sha256_of(data)
    existing = await db.read(_case_of, digest)
    if existing is not None:
        await db.write(_log, digest, name, "duplicate", None, provenance)
        return IntakeResult(duplicate=True, review_case=await db.read(review_cases.get_case, existing))
    try:
        mime = extraction.detect_mime(data, name)
        _, relative = store.save(data, mime)
        extracted = await anyio.to_thread.run_sync(lambda: extraction.extract(data, mime, progress=progress))
    except LedgerError as error:
        await db.write(_record_failure, digest, name, error, provenance)
        error.details.setdefault("document_id", digest)
        raise
    case_id = await db.write(_open, digest, name, mime, len(data), relative, extracted, provenance)
    return IntakeResult(duplicate=False, review_case=await db.read(review_cases.get_case, case_id))


async def _case_of(session: AsyncSession, digest: str) -> str | None:
    return (await session.exec(select(ReviewCase.id).where(ReviewCase.document_id == digest))).first()


async def _open(session: AsyncSession, digest: str, name: str, mime: str, size: int, relative: str,
                extracted: ExtractedInvoice, provenance: Provenance) -> str:
    document = await session.get(Document, digest)
    if document is None:
        document = Document(id=digest, original_name=name[:300], mime=mime, size=size, storage_path=relative,
                            status="extracted", created_at=utc_now(), created_by=provenance.actor_display)
    # A document that failed before and extracts now keeps its row; only the outcome changes.
    document.status, document.error_code, document.error_message = "extracted", None, None
    document.extraction_method, document.extraction = extracted.method, extracted.model_dump_json()
    session.add(document)
    await session.flush()
    case = await review_cases.open_case(session, document, extracted, provenance)
    await _log(session, digest, name, "extracted", None, provenance)
    return case.id


async def _record_failure(session: AsyncSession, digest: str, name: str, error: LedgerError,
                          provenance: Provenance) -> None:
    await _log(session, digest, name, "failed", error, provenance)


async def _log(session: AsyncSession, digest: str | None, name: str, outcome: str, error: LedgerError | None,
               provenance: Provenance) -> None:
    session.add(IngestionLog(document_id=digest, original_name=name[:300], outcome=outcome,
                             code=error.code if error else None,
                             message=json.dumps(error.to_dict()) if error else None, created_at=utc_now(),
                             created_by=provenance.actor_display))


async def ingestion_log(session: AsyncSession, outcome: str | None = None, limit: int = 50) -> list[LogEntry]:
    """Most recent first."""
    stmt = select(IngestionLog)
    if outcome:
        stmt = stmt.where(IngestionLog.outcome == outcome)
    rows = (await session.exec(stmt.order_by(col(IngestionLog.id).desc()).limit(limit))).all()
    return [LogEntry(id=r.id or 0, document_id=r.document_id, original_name=r.original_name, outcome=r.outcome,
                     code=r.code, message=r.message, created_at=r.created_at, created_by=r.created_by) for r in rows]
