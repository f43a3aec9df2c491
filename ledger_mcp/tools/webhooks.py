"""The webhooks tool (toolset `events`, scope ledger:admin): endpoints and the delivery log. Endpoints on
private addresses are registered only on the server's machine (`ledger-mcp webhooks add --allow-private`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import webhooks
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.webhooks import DeliveryInfo, EndpointInfo
from ledger_mcp.tools.booking import APPEND
from ledger_mcp.tools.result import answer

WebhookAction = Literal["add", "list", "remove", "deliveries", "replay"]


class WebhooksAnswer(BaseModel):
    """add/list/remove: the endpoints (add: with its secret, shown once); deliveries/replay: the log."""

    endpoints: list[EndpointInfo] = []
    secret: str | None = None
    deliveries: list[DeliveryInfo] = []


def _required(value: Any, name: str, action: str) -> Any:
    if not value:
        raise ValidationFailed(f"Action {action} needs {name}.", hint=f"Pass {name}.")
    return value


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Webhooks", annotations=APPEND)
    async def manage_webhooks(
        ctx: Context[Any, Any],
        action: Annotated[WebhookAction, Field(description="What to do.")],
        url: Annotated[str | None, Field(description="add: https URL.")] = None,
        events: Annotated[str | None, Field(description="add: e.g. intent.posted,period.locked or *")] = None,
        id: Annotated[str | None, Field(description="remove: endpoint id; replay, deliveries: event id")] = None,
    ) -> Annotated[CallToolResult, WebhooksAnswer]:
        """Webhooks: signed events after each commit (README "Events"). add (secret shown once), list, remove,
        deliveries (the log), replay an event."""
        if action == "add":
            added = await app.db.write(webhooks.add_endpoint, _required(url, "url", action),
                                       webhooks.parse_events(_required(events, "events", action)), False,
                                       provenance(ctx, app))
            return answer(WebhooksAnswer(endpoints=[added], secret=added.secret),
                          f"Endpoint {added.id} added; keep its secret, it is not shown again.")
        if action == "list":
            listed = await app.db.read(webhooks.list_endpoints)
            return answer(WebhooksAnswer(endpoints=listed), f"{len(listed)} webhook endpoints.")
        if action == "remove":
            removed = await app.db.write(webhooks.remove_endpoint, _required(id, "id", action))
            return answer(WebhooksAnswer(endpoints=[removed]), f"Endpoint {removed.id} removed.")
        if action == "replay":
            pending = await app.db.write(webhooks.replay, _required(id, "id", action))
            log = await app.db.read(webhooks.list_deliveries, id)
            return answer(WebhooksAnswer(deliveries=log), f"{pending} deliveries of {id} pending.")
        log = await app.db.read(webhooks.list_deliveries, id)
        return answer(WebhooksAnswer(deliveries=log), f"{len(log)} deliveries.")
