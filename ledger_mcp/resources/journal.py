"""ledger://intents (recent first, paginated), ledger://intents/{intent_id}."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://intents", name="intents", title="Recent intents", mime_type="application/json")
    async def recent_intents() -> str:
        """The 50 most recent intents; next_cursor leads to ledger://intents/page/{cursor}."""
        from ledger_mcp.ledger import journal

        return as_json(await app.db.read(journal.list_intents))

    @server.resource("ledger://intents/page/{cursor}", name="intents-page", title="Intents page",
                     mime_type="application/json")
    async def intents_page(cursor: str) -> str:
        """A further page of intents, most recent first."""
        from ledger_mcp.ledger import journal

        return as_json(await app.db.read(journal.list_intents, cursor=cursor))

    @server.resource("ledger://intents/{intent_id}", name="intent", title="Intent audit view",
                     mime_type="application/json")
    async def intent(intent_id: str) -> str:
        """Full audit view of one intent: lines, provenance, hash chain, reversal and settlement links."""
        from ledger_mcp.ledger import journal

        return as_json(await app.db.read(journal.get_intent, intent_id))
