"""Text from outside (documents, emails, file names, names taken from them) is data, never instructions.

- `sanitize`: what may be stored and sent: no control characters (tab, newline and form feed kept where
  a text has lines), no bidirectional overrides or invisible format characters (which make text read
  differently from what it is), no lone surrogates, and bounded in length.
- `mark`: how such text appears inside a sentence the ledger writes (a tool summary, an error message):
  sanitized, on one line, shortened, JSON-quoted and labelled with its source, e.g.
  `[from the document: "Nordsee Logistik GmbH"]`. An agent reading the sentence sees where the
  ledger's words end and the document's begin; the quotes cannot be closed from inside.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

# C0 and C1 controls except tab, newline, form feed (kept in multi-line text), DEL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0d-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Invisible format characters: bidi embeddings, overrides and isolates, marks, zero-width characters, BOM.
_FORMAT = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
_SPACE = re.compile(r"\s+")
ELLIPSIS = "…"


def sanitize(text: str, limit: int = 500, *, lines: bool = False) -> str:
    """`text` without control, bidi and invisible format characters or lone surrogates, at most `limit`
    characters. `lines`: keep tab, newline and form feed (a document's text); else one line."""
    text = _SURROGATE.sub("\ufffd", text)  # halves of an emoji (pypdf) cannot be encoded, stored or sent
    text = _FORMAT.sub("", _CONTROL.sub(" ", unicodedata.normalize("NFC", text)))
    if not lines:
        text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def sanitize_all(value: Any, limit: int = 2000, *, text_limit: int = 200_000) -> Any:
    """Every string in a JSON-like value sanitized, lines kept: at most `limit` characters, a string under the
    key "text" (a document's whole text) at most `text_limit`."""

    def walk(item: Any, key: str | None) -> Any:
        if isinstance(item, str):
            return sanitize(item, text_limit if key == "text" else limit, lines=True)
        if isinstance(item, dict):
            return {walk(k, None): walk(v, k if isinstance(k, str) else None) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, key) for v in item]
        return item

    return walk(value, None)


def mark(text: str | None, source: str = "document", limit: int = 80) -> str:
    """Outside text as it may appear in a sentence of the ledger's own: `[from the <source>: "..."]`."""
    if text is None:
        return f"[no {source} value]"
    return f"[from the {source}: {json.dumps(sanitize(text, limit), ensure_ascii=False)}]"
