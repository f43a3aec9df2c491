"""extract(): e-invoice XML first, then the PDF text layer, then OCR."""

from __future__ import annotations

import re
from collections.abc import Callable

from PIL import Image

from ledger_mcp.ledger.errors import (
    DocumentCorrupt,
    DocumentEmpty,
    DocumentTooComplex,
    LedgerError,
    UnsupportedDocument,
)
from ledger_mcp.ledger.extraction.documents import (
    SUPPORTED_MIMES,
    Deadline,
    embedded_xml,
    open_image,
    open_pdf,
    page_count,
    page_texts,
    render_pages,
)
from ledger_mcp.ledger.extraction.einvoice import TEXT_CAP, extract_einvoice
from ledger_mcp.ledger.extraction.models import ExtractedInvoice, Source
from ledger_mcp.ledger.extraction.normalize import clean_text
from ledger_mcp.ledger.extraction.ocr import ocr_image
from ledger_mcp.ledger.extraction.textparse import parse_text
from ledger_mcp.ledger.untrusted import sanitize_all

Progress = Callable[[float, str], None]

# A text layer with fewer letters than this per page is a scan with at most a stray caption.
MIN_LETTERS_PER_PAGE = 40
# OCR confidences are the text confidences scaled by tesseract's own word confidence, capped here:
# even a clean OCR read misreads single characters (6/B, 0/O) more often than a text layer does.
OCR_SCALE_MAX = 0.9
OCR_SCALE_MIN = 0.4
# An e-invoice of a thousand lines has some 100,000 tags.
MAX_XML_TAGS = 500_000


def extract(data: bytes, mime: str, *, max_pages: int = 10, time_limit: float = 60.0,
            progress: Progress | None = None) -> ExtractedInvoice:  # fmt: skip
    """Read an invoice document into normalized fields.

    Synchronous and CPU-bound (run it in a worker thread). `mime` comes from `detect_mime`. At most
    `max_pages` pages are read and the whole call stops after `time_limit` seconds with
    ExtractionTimeout. `progress(fraction, message)` is called per step and page.
    Raises only LedgerErrors: UnsupportedDocument, DocumentEncrypted, DocumentCorrupt, DocumentEmpty,
    ExtractionTimeout, OcrUnavailable, DocumentTooComplex.
    """
    report: Progress = progress or (lambda fraction, message: None)
    max_pages = max(1, max_pages)
    deadline = Deadline(time_limit)
    if mime not in SUPPORTED_MIMES:
        raise UnsupportedDocument(
            f"Documents of type {mime!r} cannot be extracted.",
            hint=f"Send one of: {', '.join(SUPPORTED_MIMES)}.",
        )
    if not data:
        raise DocumentEmpty("The document is empty (0 bytes).", hint="Send the file's content.")
    try:
        if mime == "application/xml":
            report(0.0, "reading e-invoice XML")
            result = _read_xml(data)
        elif mime == "application/pdf":
            result = _extract_pdf(data, max_pages, deadline, report)
        else:
            result = _extract_image(data, max_pages, deadline, report)
    except LedgerError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise DocumentTooComplex(f"The document is too complex to read ({type(exc).__name__}).",
                                 hint="Send a simpler export of the invoice.") from None  # fmt: skip
    except Exception as exc:  # a reader library failing on a malformed file: the caller gets one error
        raise DocumentCorrupt(f"The document could not be read ({type(exc).__name__}).",
                              hint="Send the original file again, or a PDF/e-invoice export of it.") from None
    report(1.0, "done")
    return _clean(result)


def _read_xml(data: bytes) -> ExtractedInvoice:
    """An e-invoice XML, refused unparsed when it has more elements than any invoice has: a tree of millions of
    nodes costs far more memory than its bytes."""
    if data.count(b"<") > MAX_XML_TAGS:
        raise DocumentTooComplex(f"The XML has more than {MAX_XML_TAGS} tags; e-invoices have far fewer.",
                                 hint="Send the invoice XML as issued (CII or UBL).")
    return extract_einvoice(data)


def _clean(result: ExtractedInvoice) -> ExtractedInvoice:
    """Every string of the result sanitized and bounded (untrusted.sanitize_all), whatever the document held."""
    return ExtractedInvoice.model_validate(sanitize_all(result.model_dump(), text_limit=TEXT_CAP))


def _extract_pdf(data: bytes, max_pages: int, deadline: Deadline, report: Progress) -> ExtractedInvoice:
    report(0.0, "opening PDF")
    reader = open_pdf(data)
    total = page_count(reader)
    if total == 0:
        raise DocumentEmpty("The PDF has no pages.", hint="Send the complete invoice PDF.")
    pages = min(total, max_pages)
    warnings: list[str] = []
    if total > max_pages:
        warnings.append(f"The PDF has {total} pages; only the first {max_pages} were read.")
    report(0.05, "looking for embedded e-invoice XML")
    xml = embedded_xml(data)
    texts: list[str] = []
    for number, text in enumerate(page_texts(reader, pages, deadline)):
        texts.append(clean_text(text))
        report(0.1 + 0.2 * (number + 1) / pages, f"text layer of page {number + 1}/{pages}")
    layer = "\n\f".join(texts)
    if xml is not None:
        try:
            result = _read_xml(xml)
        except LedgerError as exc:
            warnings.append(f"The embedded e-invoice XML could not be read ({exc.code}); the visible PDF was used.")
        else:
            if "total_gross" not in result.fields and _letters(layer) >= MIN_LETTERS_PER_PAGE * pages:
                warnings.append("The embedded e-invoice XML has no totals; the visible PDF was read instead.")
                return _from_text(layer, "text", 1.0, total, warnings)
            # The XML is the invoice; the visible text is what a reviewer compares it with.
            warnings += result.warnings + _visible_differences(result, layer)
            return result.model_copy(update={"text": (layer or result.text)[:TEXT_CAP], "pages": total,
                                             "warnings": warnings})  # fmt: skip
    if _letters(layer) >= MIN_LETTERS_PER_PAGE * pages:
        return _from_text(layer, "text", 1.0, total, warnings)
    report(0.3, "no usable text layer; running OCR")
    images = list(render_pages(data, pages, deadline))
    return _ocr(images, total, warnings, deadline, report, start=0.35)


def _visible_differences(xml: ExtractedInvoice, layer: str) -> list[str]:
    """Where the visible PDF shows another invoice number or gross total than its embedded XML: the XML is
    what counts, but a reviewer should know the two disagree."""
    if not layer.strip():
        return []
    try:
        visible = parse_text(layer[:TEXT_CAP])
    except Exception:  # the visible text is a cross-check only: it never sinks valid XML
        return []
    out = []
    for name, label in (("invoice_number", "invoice number"), ("total_gross", "gross total")):
        shown = visible.fields.get(name)
        if shown is not None and shown.value and xml.value(name) and shown.value != xml.value(name):
            out.append(f"The visible PDF shows {label} {shown.value}, the embedded XML {xml.value(name)}; "
                       "the XML values were used.")  # fmt: skip
    return out


def _letters(text: str) -> int:
    return len(re.findall(r"[A-Za-zÄÖÜäöüß0-9]", text))


def _extract_image(data: bytes, max_pages: int, deadline: Deadline, report: Progress) -> ExtractedInvoice:
    report(0.0, "opening image")
    frames, total = open_image(data, max_pages)
    warnings: list[str] = []
    if total > max_pages:
        warnings.append(f"The image has {total} pages; only the first {max_pages} were read.")
    return _ocr(frames, total, warnings, deadline, report, start=0.1)


def _ocr(images: list[Image.Image], total: int, warnings: list[str], deadline: Deadline, report: Progress,
         start: float) -> ExtractedInvoice:  # fmt: skip
    """OCR every page; when the result lacks totals that add up, read the pages again carefully (for photos
    and noisy scans) and keep the better of the two readings."""
    first = _ocr_pass(images, deadline, report, start, False)
    result = _from_ocr(*first, total, warnings)
    if _complete(result) or deadline.remaining() <= 0:
        return result
    second = _ocr_pass(images, deadline, report, start, True)
    careful = _from_ocr(*second, total, warnings)
    return careful if _score(careful) > _score(result) else result


def _ocr_pass(images: list[Image.Image], deadline: Deadline, report: Progress, start: float,
              careful: bool) -> tuple[list[str], list[float]]:  # fmt: skip
    texts: list[str] = []
    confidences: list[float] = []
    span = (0.95 - start) / 2
    offset = start + (span if careful else 0.0)
    for number, image in enumerate(images):
        deadline.check(f"OCR of page {number + 1}")
        page = ocr_image(image, deadline.remaining(), careful=careful)
        texts.append(page.text)
        confidences.append(page.confidence)
        what = "careful OCR" if careful else "OCR"
        report(offset + span * (number + 1) / len(images), f"{what} of page {number + 1}/{len(images)}")
    return texts, confidences


def _complete(result: ExtractedInvoice) -> bool:
    """Totals found and adding up: nothing a second reading could improve much."""
    return all(key in result.fields for key in ("total_net", "total_tax", "total_gross")) and not any(
        "do not add up" in warning or "could not be cross-checked" in warning for warning in result.warnings
    )


def _score(result: ExtractedInvoice) -> float:
    return sum(found.confidence for found in result.fields.values()) + (5.0 if _complete(result) else 0.0)


def _from_ocr(texts: list[str], confidences: list[float], total: int, warnings: list[str]) -> ExtractedInvoice:
    text = "\n\f".join(texts)
    if not re.search(r"[A-Za-z0-9]{2}", text):
        raise DocumentEmpty(
            "The document has no text layer and OCR recognized no text.",
            hint="Send a sharper scan (300 dpi, upright, good contrast) or the original PDF.",
        )
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    scale = max(OCR_SCALE_MIN, min(OCR_SCALE_MAX, mean))
    return _from_text(text, "ocr", scale, total, warnings)


def _from_text(text: str, source: Source, scale: float, pages: int, warnings: list[str]) -> ExtractedInvoice:
    parsed = parse_text(text[:TEXT_CAP], source=source, scale=scale)
    warnings = warnings + parsed.warnings
    if "total_gross" not in parsed.fields:
        where = "The PDF has a text layer but" if source == "text" else "OCR ran but"
        warnings.append(f"{where} no gross total was found; check the document by eye.")
    return ExtractedInvoice(
        method=source, fields=parsed.fields, taxes=parsed.taxes, lines=parsed.lines, text=text[:TEXT_CAP],
        pages=pages, warnings=warnings,
    )
