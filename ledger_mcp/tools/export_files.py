"""Exported files as tool content: one embedded resource per file, named by its filename."""

from __future__ import annotations

import base64
import hashlib

from mcp_types import BlobResourceContents, EmbeddedResource, TextResourceContents
from pydantic import BaseModel, Field

from ledger_mcp.ledger.exports.files import ExportFile


class ExportedFile(BaseModel):
    filename: str
    mime_type: str
    rows: int = Field(description="Data rows: DATEV records, Beancount transactions, or parties.")
    size_bytes: int
    sha256: str
    uri: str = Field(description="The embedded resource holding the file in this result.")


class ExportResult(BaseModel):
    files: list[ExportedFile]


def embed(files: list[ExportFile], *, binary: bool) -> tuple[ExportResult, list[EmbeddedResource]]:
    """The files' descriptions and contents; `binary`: exact bytes as a blob (DATEV's cp1252), else
    text. The files are removed from disk."""
    infos, blocks = [], []
    try:
        for exported in files:
            data = exported.read_bytes()
            uri = f"ledger://exports/{exported.filename}"
            meta = {"filename": exported.filename}
            contents: BlobResourceContents | TextResourceContents = (
                BlobResourceContents(uri=uri, mime_type=exported.mime_type, blob=base64.b64encode(data).decode(),
                                     meta=meta) if binary else
                TextResourceContents(uri=uri, mime_type=exported.mime_type, text=data.decode(), meta=meta))
            blocks.append(EmbeddedResource(type="resource", resource=contents))
            infos.append(ExportedFile(filename=exported.filename, mime_type=exported.mime_type, rows=exported.rows,
                                      size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), uri=uri))
    finally:
        for exported in files:
            exported.discard()
    return ExportResult(files=infos), blocks
