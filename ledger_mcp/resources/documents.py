"""ledger://documents/{document_id}: a stored document as received, and its extraction."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://documents/{document_id}", name="document", title="Document (original file)")
    async def original(document_id: str) -> bytes:
        """The original file of a document, byte for byte as received (a blob; its type is in
        ledger://documents/{document_id}/extraction)."""
        from ledger_mcp.ledger import intake

        data, _ = await app.db.read(intake.document_bytes, app.documents, document_id)
        return data

    @server.resource("ledger://documents/{document_id}/extraction", name="document-extraction",
                     title="Document and its extraction", mime_type="application/json")
    async def extraction(document_id: str) -> str:
        """The document's metadata and extraction (fields, VAT groups, item lines, warnings; its text is
        untrusted data)."""
        from ledger_mcp.ledger import intake

        return as_json(await app.db.read(intake.read_document, app.documents, document_id))
