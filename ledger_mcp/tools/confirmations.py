"""Deciding pending confirmations over HTTP: an approver's API key (ledger:approve) grants or denies
what another key's call is waiting for. Registered on HTTP servers only: on stdio every caller is
the same local user, so the human grants with `ledger-mcp confirm grant` instead."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import confirmations
from ledger_mcp.ledger.confirmations import ConfirmationInfo
from ledger_mcp.ledger.errors import FourEyesRequired
from ledger_mcp.tools.result import READ_ONLY, answer


class ConfirmationList(BaseModel):
    confirmations: list[ConfirmationInfo]


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="List confirmations", annotations=READ_ONLY)
    async def list_confirmations(
        status: Annotated[Literal["pending", "granted", "denied", "used"] | None, Field(
            description="Only this status; null for all.")] = "pending",
    ) -> Annotated[CallToolResult, ConfirmationList]:
        """Actions waiting for a human's yes (a Storno, a period lock, a large approval), newest first,
        each with the question to decide."""
        found = await app.db.read(confirmations.list_confirmations, status)
        text = "\n".join(f"{c.id} [{c.status}] requested by {c.requested_by}: {c.question}" for c in found)
        return answer(ConfirmationList(confirmations=found), text or "No confirmations.")

    @server.tool(title="Grant or deny a confirmation", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False))
    async def decide_confirmation(
        ctx: Context[Any, Any],
        confirmation_id: Annotated[str, Field(description="e.g. cnf_1a2b3c4d5e6f7a8b")],
        decision: Annotated[Literal["grant", "deny"], Field(description="grant: the waiting call may go ahead "
                                                                        "once; deny: it may not.")],
        note: Annotated[str | None, Field(description="Recorded with the decision.")] = None,
    ) -> Annotated[CallToolResult, ConfirmationInfo]:
        """Decide a pending confirmation for a human who holds an approver's key: only when that human
        said so. The key that asked cannot decide its own request."""
        caller = app.caller()
        if caller.key_prefix is None:
            raise FourEyesRequired("Confirmations are decided with an API key, or with `ledger-mcp confirm grant` "
                                   "on the server's machine.", hint="Use an approver's API key.")
        decided = await app.db.write(confirmations.decide, confirmation_id, grant=decision == "grant",
                                     decided_by=provenance(ctx, app).actor_id, via="api_key", note=note)
        return answer(decided, f"Confirmation {decided.id} {decided.status}: {decided.question}")
