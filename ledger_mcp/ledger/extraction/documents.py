"""Reading the containers: file type detection, PDFs (text layer, embedded XML, page rendering) and images.

Everything here is bounded (pages, pixels, time) and turns library failures on bad input into
LedgerErrors, because documents arrive from outside and may be broken or hostile.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pypdfium2
from facturx import get_xml_from_pdf
from PIL import Image, ImageOps
from pypdf import PdfReader

from ledger_mcp.ledger.errors import (
    DocumentCorrupt,
    DocumentEncrypted,
    DocumentTooComplex,
    ExtractionTimeout,
    UnsupportedDocument,
)
from ledger_mcp.ledger.untrusted import mark

SUPPORTED_MIMES = ("application/pdf", "application/xml", "image/png", "image/jpeg", "image/tiff")
# Pillow refuses anything larger than this outright (decompression bombs); a 600 dpi A3 scan fits.
MAX_IMAGE_PIXELS = 80_000_000
# Pages are rendered for OCR at this resolution, scaled down when a page would exceed the pixel budget.
# 250 dpi kept table rows together better than 300 on the sample scans, and is faster.
OCR_DPI = 250
MAX_RENDER_PIXELS = 20_000_000


class Deadline:
    """The time budget of one extraction."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self, step: str) -> None:
        if self.remaining() <= 0:
            raise ExtractionTimeout(
                f"Extraction took longer than {self.seconds:g} s (stopped at {step}).",
                hint="Send fewer pages or a document with a text layer or embedded e-invoice XML.",
            )


def detect_mime(data: bytes, filename: str | None = None) -> str:
    """The document type by its magic bytes; the file name only tells XML from other text.
    UnsupportedDocument for anything extraction cannot read."""
    head = data[:1024]
    if head.startswith(b"%PDF-") or b"%PDF-" in head:
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<?xml") or (stripped.startswith(b"<") and (filename or "").lower().endswith(".xml")):
        return "application/xml"
    if stripped.startswith(b"<") and b"Invoice" in head:
        return "application/xml"
    name = f" ({filename})" if filename else ""
    raise UnsupportedDocument(
        f"The file{name} is not a PDF, e-invoice XML, PNG, JPEG or TIFF.",
        hint="Send the invoice as PDF, ZUGFeRD/Factur-X PDF, XRechnung/UBL XML, or a PNG/JPEG/TIFF scan or photo.",
    )


@contextmanager
def _quiet() -> Iterator[None]:
    """pypdf logs and warns about every irregularity of a broken file; the caller gets one error instead."""
    loggers = [logging.getLogger(name) for name in ("pypdf", "factur-x")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _corrupt(what: str, exc: BaseException) -> DocumentCorrupt | DocumentTooComplex:
    if isinstance(exc, MemoryError):  # the sandbox's memory limit, not a broken file
        return DocumentTooComplex(f"The {what} needs more memory to read than extraction allows.",
                                  hint="Send a smaller scan (300 dpi is enough) or a PDF with a text layer.")
    return DocumentCorrupt(
        f"The {what} cannot be read: {type(exc).__name__} {mark(str(exc), 'reader', 200)}",
        hint="Send the original file again; it may be truncated or damaged.",
    )


def open_pdf(data: bytes) -> PdfReader:
    """A pypdf reader; DocumentEncrypted when a password is needed, DocumentCorrupt when unreadable."""
    try:
        with _quiet():
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                # Many PDFs are encrypted with an empty user password (only editing is restricted).
                try:
                    opened = bool(reader.decrypt(""))
                except Exception:
                    opened = False
                if not opened:
                    raise DocumentEncrypted(
                        "The PDF is password-protected.",
                        hint="Send an unprotected copy (print to PDF without a password, or remove the protection).",
                    )
            _ = len(reader.pages)
            return reader
    except DocumentEncrypted:
        raise
    except RecursionError as exc:
        raise _corrupt("PDF", exc) from None
    except Exception as exc:
        raise _corrupt("PDF", exc) from None


def page_count(reader: PdfReader) -> int:
    with _quiet():
        return len(reader.pages)


def embedded_xml(data: bytes) -> bytes | None:
    """The e-invoice XML attached to a PDF (ZUGFeRD/Factur-X/XRechnung), if any."""
    try:
        with _quiet():
            _, xml = get_xml_from_pdf(data, check_xsd=False)
    except Exception:
        return None
    return xml if isinstance(xml, bytes) and xml else _named_attachment(data)


# The names the e-invoice standards give their attachment.
EINVOICE_ATTACHMENTS = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")


def _named_attachment(data: bytes) -> bytes | None:
    """An e-invoice attachment the factur-x library skipped as not well-formed (an unknown encoding name, say):
    the XML reader decides what can be read of it."""
    try:
        with _quiet():
            for attachment in PdfReader(io.BytesIO(data)).attachment_list:
                if attachment.name.lower() in EINVOICE_ATTACHMENTS and attachment.content:
                    return bytes(attachment.content)
    except Exception:
        return None
    return None


def page_texts(reader: PdfReader, pages: int, deadline: Deadline) -> Iterator[str]:
    """The text layer of the first `pages` pages, one string per page."""
    for number in range(pages):
        deadline.check(f"text layer of page {number + 1}")
        try:
            with _quiet():
                text = reader.pages[number].extract_text() or ""
        except Exception:
            text = ""
        yield text


def render_pages(data: bytes, pages: int, deadline: Deadline) -> Iterator[Image.Image]:
    """The first `pages` pages as greyscale images for OCR (pypdfium2: no poppler needed)."""
    try:
        document = pypdfium2.PdfDocument(data)
    except Exception as exc:
        raise _corrupt("PDF", exc) from None
    try:
        for number in range(min(pages, len(document))):
            deadline.check(f"rendering page {number + 1}")
            yield _render(document, number)
    finally:
        document.close()


def _render(document: pypdfium2.PdfDocument, number: int) -> Image.Image:
    try:
        page = document[number]
    except Exception as exc:
        raise _corrupt(f"page {number + 1} of the PDF", exc) from None
    try:
        width, height = page.get_size()
        scale = OCR_DPI / 72
        if width * height * scale * scale > MAX_RENDER_PIXELS:
            scale = (MAX_RENDER_PIXELS / max(width * height, 1.0)) ** 0.5
        image: Image.Image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
        return image
    except Exception as exc:
        raise _corrupt(f"page {number + 1} of the PDF", exc) from None
    finally:
        page.close()


def open_image(data: bytes, pages: int) -> tuple[list[Image.Image], int]:
    """The frames of an image file (several for a multi-page TIFF), upright and greyscale, and the frame count."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # broken EXIF and similar: the pixels are what matter
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DocumentCorrupt(
                    f"The image is {image.width}x{image.height} pixels, more than OCR accepts.",
                    hint="Scan at 300 dpi; a page needs no more than about 9 million pixels.",
                )
            total = getattr(image, "n_frames", 1)
            frames = []
            for index in range(min(total, pages)):
                image.seek(index)
                frames.append(ImageOps.exif_transpose(image.convert("RGB")).convert("L"))
            return frames, total
    except DocumentCorrupt:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DocumentCorrupt(f"The image is too large to process: {exc}",
                              hint="Send a smaller scan (300 dpi is enough).") from None  # fmt: skip
    except Exception as exc:
        raise _corrupt("image", exc) from None
