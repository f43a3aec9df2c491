"""What tools and resources share: the open ledger and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.documents import DocumentStore
from ledger_mcp.ledger.provenance import Channel, Provenance


@dataclass(frozen=True)
class AppContext:
    """One per server. actor/actor_type: the identity this instance books for; documents: the store
    invoices are ingested into."""

    db: Database
    actor: str
    documents: DocumentStore
    actor_type: str = "user"


def provenance(ctx: Context[Any, Any], app: AppContext) -> Provenance:
    """Channel MCP, the configured actor, and the client as it introduced itself."""
    params = getattr(ctx.request_context.session, "client_params", None)
    info = getattr(params, "client_info", None)
    return Provenance(surface="mcp", channel=Channel.MCP, actor_type=app.actor_type, actor_label=app.actor,
                      client_name=getattr(info, "name", None), client_version=getattr(info, "version", None))
