"""Tool answers: structured content (the model), a short text summary, and resource links."""

from __future__ import annotations

from mcp_types import CallToolResult, ContentBlock, ResourceLink, TextContent
from mcp_types import ToolAnnotations as Annotations
from pydantic import BaseModel

READ_ONLY = Annotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def answer(model: BaseModel, summary: str, links: list[tuple[str, str]] | None = None) -> CallToolResult:
    """`links`: (uri, name) pairs, e.g. the intent a booking created."""
    content: list[ContentBlock] = [TextContent(type="text", text=summary)]
    content += [ResourceLink(type="resource_link", uri=uri, name=name, mime_type="application/json")
                for uri, name in links or []]
    return CallToolResult(content=content, structured_content=model.model_dump(mode="json"))


def intent_uri(intent_id: str) -> str:
    return f"ledger://intents/{intent_id}"
