"""What tools/list shows an agent: strict, compact input schemas and lean output schemas.

Agents pay for tools/list on every turn, so every schema is trimmed of what carries no meaning
(pydantic's generated titles, `default: null`, `anyOf [X, null]` spelt out). Input schemas keep
their full structure and refuse unknown arguments (`additionalProperties: false`). Output schemas
name each top-level field, with its type where it is not a string (enums spelt out); nested objects
are typed `object`. Tool annotations keep the hints that differ from the protocol's defaults. What
a result means is said in the tool's description and in the text summary that comes with every
result, whose fields are self-describing JSON.
"""

from __future__ import annotations

from typing import Any

from mcp_types import ToolAnnotations

_SIMPLE = {"type", "format", "pattern", "enum", "maxLength", "minLength", "maximum", "minimum", "items",
           "additionalProperties", "description", "maxItems", "minItems"}


def compact(schema: Any, *, in_properties: bool = False) -> Any:
    """`schema` without generated titles, null defaults and verbose nullable unions."""
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and not in_properties:
            continue
        if key == "default" and value is None:
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        else:
            out[key] = compact(value)
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
        other = next(item for item in any_of if item != {"type": "null"})
        if isinstance(other.get("type"), str) and set(other) <= _SIMPLE:
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
            if "enum" in other:  # the enum must admit null too, or a null value fails validation
                out["enum"] = [*other["enum"], None]
    return out


# Arguments many tools share, described once: a tool's own description of one wins.
SHARED_ARGUMENTS = {
    "intent_id": "An intent's id (uuid), e.g. from post_booking or list_intents.",
    "invoice_id": "An invoice's id (uuid), from create_invoice or list_invoices.",
    "party_id": "A vendor's or customer's id (uuid), from save_party or find_parties.",
    "review_case_id": "A review case's id (uuid), from ingest_document or list_review_cases.",
    "document_id": "A stored document's id (its sha256), from ingest_document.",
    "idempotency_key": "Unique per write; a retry with it returns the original, never writes twice.",
    "currency": "ISO 4217 code, e.g. EUR; default the ledger's base currency.",
    "limit": "Most rows to return.",
    "offset": "Rows to skip, for the next page.",
    "cursor": "next_cursor of the previous page.",
    "notes": "Free text kept with the record.",
    "external_reference": "Invoice or document number (DATEV Belegfeld 1).",
    "reference": "Payment reference, e.g. the bank statement's text.",
    "description": "Booking text.",
}


def strict_input(schema: dict[str, Any]) -> dict[str, Any]:
    """The compact input schema, refusing arguments it does not name (nested models too), shared
    arguments described. An optional argument is simply left out, so its type does not spell out null."""
    schema = compact(schema)
    for model in (schema, *schema.get("$defs", {}).values()):
        if "properties" not in model:
            continue
        model["additionalProperties"] = False
        required = set(model.get("required", []))
        for name, sub in model["properties"].items():
            if not sub.get("description") and name in SHARED_ARGUMENTS:
                sub["description"] = SHARED_ARGUMENTS[name]
            kinds = sub.get("type")
            if name not in required and isinstance(kinds, list) and len(kinds) == 2 and "null" in kinds:
                sub["type"] = next(kind for kind in kinds if kind != "null")
                if "enum" in sub:
                    sub["enum"] = [value for value in sub["enum"] if value is not None]
    return schema


def lean_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The top level of an output schema, nested objects reduced to their type and description."""
    if schema is None:
        return None
    schema = compact(schema)
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def shallow(node: Any) -> Any:
        if isinstance(node, list):
            return [shallow(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = definitions.get(ref.rsplit("/", 1)[-1], {})
            if target.get("enum"):
                return {key: target[key] for key in ("type", "enum") if key in target}
            return {"type": "object"}
        reduced = {key: (value if key == "required" else shallow(value)) for key, value in node.items()
                   if key not in ("description", "default")}
        if reduced.get("items") == {"type": "object"}:
            del reduced["items"]  # an array of objects: the objects describe themselves
        options = reduced.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            other = next(option for option in options if option != {"type": "null"})
            if set(other) == {"type"} and isinstance(other["type"], str):  # a nested object that may be null
                del reduced["anyOf"]
                reduced["type"] = [other["type"], "null"]
        return reduced

    # Every field of a result is always present (null when empty), so `required` names them all; a field's
    # type is spelt out only where it is not a string (or null), the common case.
    fields = {name: shallow(sub) for name, sub in schema.get("properties", {}).items()}
    typed = {name: sub for name, sub in fields.items() if sub.get("type") not in ("string", ["string", "null"])
             or "enum" in sub}
    return {"type": "object", "properties": typed, "required": list(fields)}


def lean_annotations(annotations: ToolAnnotations | None) -> ToolAnnotations | None:
    """The hints that differ from the protocol's defaults (readOnlyHint false, destructiveHint true,
    idempotentHint false, openWorldHint true); destructive and idempotent mean nothing for a reader."""
    if annotations is None:
        return None
    hints = annotations.model_dump(exclude_none=True)
    defaults = {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": False, "open_world_hint": True}
    if hints.get("read_only_hint"):
        hints.pop("destructive_hint", None)
        hints.pop("idempotent_hint", None)
    return ToolAnnotations(**{key: value for key, value in hints.items() if defaults.get(key) != value})


def tidy_description(text: str | None) -> str | None:
    """A docstring's wrapped lines joined: paragraphs and list items ("- ...") stay, line breaks inside
    them go."""
    if not text:
        return text
    items: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("- ") or not items or not items[-1]:
            items.append(line)
        else:
            items[-1] += " " + line
    return "\n".join(items)
