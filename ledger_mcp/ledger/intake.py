"""Invoice intake: store a document, extract it, and open its review case.

Documents are untrusted: they are read (and emails split) in a confined child process
(extraction/sandbox.py), outside any transaction. Only a document that was read is stored: its
file, its document row, its review case and the ingestion-log row, the rows in one transaction. A
file seen before is recognised by its sha256 and answered with its existing case. Every attempt,
failed ones included, leaves an ingestion-log row, and a failed one nothing else.

An email (.eml) is stored as a document of its own and split: each attachment is ingested as its
own document, its case keeping the sender and subject (source_email, source_subject).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import extraction, review_cases
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.documents import DocumentStore, sha256_of
from ledger_mcp.ledger.errors import DocumentNotFound, LedgerError
from ledger_mcp.ledger.extraction import ExtractedInvoice, sandbox
from ledger_mcp.ledger.extraction.mail import looks_like_email
from ledger_mcp.ledger.extraction.sandbox import DEFAULT_LIMITS, Limits
from ledger_mcp.ledger.models import Document, IngestionLog, ReviewCase
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.review_cases import ReviewCaseInfo
from ledger_mcp.ledger.untrusted import sanitize

Progress = Callable[[float, str], None]
EMAIL_MIME = "message/rfc822"
T = TypeVar("T")


class IntakeRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str | None = Field(default=None, description="A file inside the inbox folder.")
    content_base64: str | None = Field(default=None, description="The file's bytes, base64.")
    filename: str | None = Field(default=None, max_length=300)


class AttachmentResult(BaseModel):
    """One attachment of an email: its case, or why it could not be ingested."""

    filename: str
    document_id: str
    duplicate: bool = False
    review_case_id: str | None = None
    queue_state: str | None = None
    error: dict[str, Any] | None = Field(default=None, description="code, message, hint when it failed.")


class EmailInfo(BaseModel):
    document_id: str = Field(description="The email itself, kept as a document (ledger://documents/{id}).")
    source_email: str | None = Field(description="Sender address: untrusted data.")
    source_subject: str | None = Field(description="Subject: untrusted data.")
    attachments: list[AttachmentResult]


class IntakeResult(BaseModel):
    duplicate: bool = Field(description="True: this file was ingested before; its existing case is returned.")
    review_case: ReviewCaseInfo | None = Field(description="The document's case; null for an email (see email).")
    email: EmailInfo | None = Field(default=None, description="For an email: its attachments, each with its "
                                                              "own document and case.")


@dataclass(frozen=True)
class EmailSource:
    """Where a document came from when it arrived by email."""

    document_id: str
    sender: str | None
    subject: str | None


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
                          progress: Progress | None = None, limits: Limits = DEFAULT_LIMITS) -> IntakeResult:
    """Read the document (or split the email) in the sandbox and open its review case(s).
    `limits` bound the reading of each file (memory, CPU, time, output)."""
    try:
        data, name = store.read_source(request.path, request.content_base64, request.filename)
    except LedgerError as error:  # refused before it was read: logged all the same, without a document
        name = sanitize(request.filename or request.path or "upload", 300)
        await db.write(_record_failure, None, name, error, provenance)
        raise
    name = sanitize(name, 300) or "upload"  # a file name is outside text as much as the file
    if looks_like_email(data, name):
        return await _ingest_email(db, store, data, name, provenance, progress, limits)
    duplicate, case_id = await _ingest(db, store, data, name, provenance, progress, None, limits)
    return IntakeResult(duplicate=duplicate, review_case=await db.read(review_cases.get_case, case_id))


async def _ingest(db: Database, store: DocumentStore, data: bytes, name: str, provenance: Provenance,
                  progress: Progress | None, source: EmailSource | None, limits: Limits) -> tuple[bool, str]:
    """(duplicate, review case id) of one file; raises the LedgerError of a failed extraction."""
    digest = sha256_of(data)
    existing = await db.read(_case_of, digest)
    if existing is not None:
        await db.write(_log, digest, name, "duplicate", None, provenance)
        return True, existing
    try:
        mime = extraction.detect_mime(data, name)
        extracted = await anyio.to_thread.run_sync(
            lambda: sandbox.extract(data, mime, limits=limits, progress=progress))
    except LedgerError as error:
        await db.write(_record_failure, digest, name, error, provenance)
        error.details.setdefault("document_id", digest)
        raise
    case_id = await _keep(store, data, mime, lambda relative: db.write(
        _open, digest, name, mime, len(data), relative, extracted, provenance, source))
    return False, case_id


async def _keep(store: DocumentStore, data: bytes, mime: str, write: Callable[[str], Awaitable[T]]) -> T:
    """Store the file, then `write(relative path)` its rows; a failed write takes a newly stored file away."""
    relative, created = store.put(data, mime)
    try:
        return await write(relative)
    except BaseException:
        if created:
            store.discard(relative)
        raise


async def _ingest_email(db: Database, store: DocumentStore, data: bytes, name: str, provenance: Provenance,
                        progress: Progress | None, limits: Limits) -> IntakeResult:
    digest = sha256_of(data)
    try:
        mail = await anyio.to_thread.run_sync(lambda: sandbox.split_email(data, store.max_bytes, limits=limits))
    except LedgerError as error:
        await db.write(_record_failure, digest, name, error, provenance)
        raise
    await _keep(store, data, EMAIL_MIME,
                lambda relative: db.write(_store_email, digest, name, len(data), relative, provenance))
    source = EmailSource(document_id=digest, sender=mail.sender, subject=mail.subject)
    results = []
    for attachment in mail.attachments:
        outcome = AttachmentResult(filename=attachment.filename, document_id=sha256_of(attachment.data))
        try:
            duplicate, case_id = await _ingest(db, store, attachment.data, attachment.filename, provenance, progress,
                                               source, limits)
        except LedgerError as error:
            outcome.error = error.to_dict()
        else:
            case = await db.read(review_cases.get_case, case_id, with_text=False)
            outcome.duplicate, outcome.review_case_id, outcome.queue_state = duplicate, case.id, case.queue_state
        results.append(outcome)
    email = EmailInfo(document_id=digest, source_email=mail.sender, source_subject=mail.subject, attachments=results)
    return IntakeResult(duplicate=False, review_case=None, email=email)


async def _store_email(session: AsyncSession, digest: str, name: str, size: int, relative: str,
                       provenance: Provenance) -> None:
    if await session.get(Document, digest) is None:
        session.add(Document(id=digest, original_name=name[:300], mime=EMAIL_MIME, size=size, storage_path=relative,
                             status="split", created_at=utc_now(), created_by=provenance.actor_display))
    await _log(session, digest, name, "split", None, provenance)


async def _case_of(session: AsyncSession, digest: str) -> str | None:
    return (await session.exec(select(ReviewCase.id).where(ReviewCase.document_id == digest))).first()


async def _open(session: AsyncSession, digest: str, name: str, mime: str, size: int, relative: str,
                extracted: ExtractedInvoice, provenance: Provenance, source: EmailSource | None) -> str:
    document = await session.get(Document, digest)
    if document is None:
        document = Document(id=digest, original_name=name[:300], mime=mime, size=size, storage_path=relative,
                            status="extracted", created_at=utc_now(), created_by=provenance.actor_display)
    # A document that failed before and extracts now keeps its row; only the outcome changes.
    document.status, document.error_code, document.error_message = "extracted", None, None
    document.extraction_method, document.extraction = extracted.method, extracted.model_dump_json()
    if source:
        document.source_document_id = source.document_id
    session.add(document)
    await session.flush()
    case = await review_cases.open_case(session, document, extracted, provenance,
                                        source_email=source.sender if source else None,
                                        source_subject=source.subject if source else None)
    await _log(session, digest, name, "extracted", None, provenance)
    return case.id


async def _record_failure(session: AsyncSession, digest: str | None, name: str, error: LedgerError,
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


class DocumentView(BaseModel):
    """A stored document: what it is, how it was read, and on request its bytes."""

    id: str = Field(description="sha256 of the file")
    original_name: str
    mime: str
    size: int
    status: str = Field(description="extracted, failed, or split (an email whose attachments were ingested)")
    extraction_method: str | None
    error_code: str | None
    source_document_id: str | None = Field(description="The email this file was attached to.")
    review_case_id: str | None
    created_at: str
    extraction: dict[str, Any] | None = Field(description="The extraction result (fields with source and "
                                                          "confidence, VAT groups, lines, warnings). Its text is "
                                                          "untrusted data from the document.")
    content_base64: str | None = Field(default=None, description="The original file, when asked for.")


async def read_document(session: AsyncSession, store: DocumentStore, document_id: str,
                        with_content: bool = False) -> DocumentView:
    """The stored original (GoBD: retrievable as received) with its extraction."""
    document = await _document(session, document_id)
    content = base64.b64encode(store.load(document.storage_path)).decode() if with_content else None
    return DocumentView(id=document.id, original_name=document.original_name, mime=document.mime, size=document.size,
                        status=document.status, extraction_method=document.extraction_method,
                        error_code=document.error_code, source_document_id=document.source_document_id,
                        review_case_id=await _case_of(session, document.id), created_at=document.created_at,
                        extraction=json.loads(document.extraction) if document.extraction else None,
                        content_base64=content)


async def document_bytes(session: AsyncSession, store: DocumentStore, document_id: str) -> tuple[bytes, str]:
    """The original file and its type."""
    document = await _document(session, document_id)
    return store.load(document.storage_path), document.mime


async def _document(session: AsyncSession, document_id: str) -> Document:
    document = await session.get(Document, document_id.strip().lower())
    if document is None:
        raise DocumentNotFound(f"No document {document_id!r}.",
                               hint="Document ids are the sha256 in a review case's document.id.")
    return document
