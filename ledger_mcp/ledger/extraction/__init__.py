"""Invoice extraction: supplier invoice files (e-invoice XML, ZUGFeRD/Factur-X PDF, PDF with a text
layer, scanned PDF, photo) -> normalized fields, each with its source and a confidence.

    mime = detect_mime(data, filename)
    invoice = extract(data, mime, max_pages=10, time_limit=60.0, progress=callback)
"""

from typing import TYPE_CHECKING, Any

from ledger_mcp.ledger.extraction.models import (
    FIELD_NAMES,
    ExtractedField,
    ExtractedInvoice,
    ExtractedLine,
    ExtractedTax,
    Source,
)

if TYPE_CHECKING:
    from ledger_mcp.ledger.extraction.cascade import extract
    from ledger_mcp.ledger.extraction.documents import SUPPORTED_MIMES, detect_mime

# The readers (pypdf, factur-x, pdfium, tesseract) take about half a second to import: loaded on
# first use, so a server that never ingests a document starts without them.
_LAZY = {"extract": "cascade", "detect_mime": "documents", "SUPPORTED_MIMES": "documents"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FIELD_NAMES",
    "SUPPORTED_MIMES",
    "ExtractedField",
    "ExtractedInvoice",
    "ExtractedLine",
    "ExtractedTax",
    "Source",
    "detect_mime",
    "extract",
]
