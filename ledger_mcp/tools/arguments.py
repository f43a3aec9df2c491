"""Arguments a tool does not know are refused, never dropped: a misspelt `idempotencyKey` would
otherwise turn a safe retry into a second booking."""

from __future__ import annotations

import difflib
from typing import Any

from ledger_mcp.ledger.errors import ValidationFailed


def refuse_unknown_arguments(tool: str, arguments: dict[str, Any], schema: dict[str, Any]) -> None:
    """A misspelt argument (e.g. `idempotencyKey`, or `taxCode` inside a line) must not be dropped
    silently: refuse the call, naming each unknown field with its closest known one."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    unknown: list[str] = []
    suggestions: dict[str, str] = {}

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        ref = node.get("$ref")
        if isinstance(ref, str):
            node = definitions.get(ref.rsplit("/", 1)[-1], {})
        for option in node.get("anyOf", []):
            if isinstance(value, dict) == (option.get("type") == "object" or "$ref" in option):
                walk(value, option, path)
        if isinstance(value, list) and isinstance(node.get("items"), dict):
            for i, item in enumerate(value):
                walk(item, node["items"], f"{path}[{i}]")
        if not isinstance(value, dict) or "properties" not in node:
            return
        known = list(node["properties"])
        for name, sub in value.items():
            where = f"{path}.{name}" if path else name
            if name in node["properties"]:
                walk(sub, node["properties"][name], where)
                continue
            unknown.append(where)
            match = difflib.get_close_matches(_snake(name), known, n=1, cutoff=0.6)
            if match:
                suggestions[where] = f"{path}.{match[0]}" if path else match[0]

    walk(arguments, schema, "")
    if not unknown:
        return
    did_you_mean = "; ".join(f"{name} -> {right}" for name, right in suggestions.items())
    top = ", ".join(schema.get("properties", {}))
    raise ValidationFailed(
        f"{tool} does not take {', '.join(unknown)}; nothing was written.",
        hint=(f"Did you mean: {did_you_mean}. " if did_you_mean else "") + f"Arguments of {tool}: {top}.",
        details={"unknown_arguments": unknown, "did_you_mean": suggestions})


def _snake(name: str) -> str:
    """idempotencyKey -> idempotency_key, so camelCase spellings find their argument."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_").replace("-", "_")
