"""Invoice extraction: supplier invoice files (e-invoice XML, ZUGFeRD/Factur-X PDF, PDF with a text
layer, scanned PDF, photo) -> normalized fields, each with its source and a confidence.

    mime = detect_mime(data, filename)
    invoice = extract(data, mime, max_pages=10, time_limit=60.0, progress=callback)
"""

from ledger_mcp.ledger.extraction.cascade import extract
from ledger_mcp.ledger.extraction.documents import SUPPORTED_MIMES, detect_mime
from ledger_mcp.ledger.extraction.models import (
    FIELD_NAMES,
    ExtractedField,
    ExtractedInvoice,
    ExtractedLine,
    ExtractedTax,
    Source,
)

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
