"""OCR with tesseract (deu+eng): recognized text with a per-page mean word confidence."""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import pairwise

import pytesseract
from PIL import Image, ImageFilter, ImageOps

from ledger_mcp.ledger.errors import DocumentCorrupt, ExtractionTimeout, OcrUnavailable

LANGUAGES = "deu+eng"
# Tesseract's OpenMP threads contend for the cores with everything else on a shared machine: one thread
# per page read 4-6 times faster here (bench/extraction.py). An operator's own setting wins.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Text smaller than this (image width in pixels for a page) is upscaled: tesseract wants ~30 px letters.
MIN_WIDTH = 2000
# The second, careful pass for photos and poor scans upscales further and binarizes.
CAREFUL_WIDTH = 2400


@dataclass(frozen=True)
class OcrPage:
    text: str
    confidence: float  # mean word confidence of tesseract, 0..1


def ocr_image(image: Image.Image, timeout: float, *, careful: bool = False) -> OcrPage:
    """Recognize one page. Lines are rebuilt from tesseract's word boxes so that table columns stay on
    one line, separated by wider gaps.

    The default pass lets tesseract find the layout's columns (psm 4). The careful pass is for photos and
    noisy scans, where layout analysis throws whole text regions away as pictures: it removes grain
    (median filter), binarizes (Otsu) and reads the page as one block of text (psm 6).
    """
    if timeout <= 0:
        raise ExtractionTimeout("No time left for OCR.", hint="Send fewer pages or allow more time.")
    prepared = image.convert("L")
    width = CAREFUL_WIDTH if careful else MIN_WIDTH
    if prepared.width < width:
        factor = width / max(prepared.width, 1)
        prepared = prepared.resize((width, max(1, int(prepared.height * factor))), Image.Resampling.LANCZOS)
    if careful:
        prepared = ImageOps.autocontrast(prepared.filter(ImageFilter.MedianFilter(3)), cutoff=1)
        threshold = _otsu(prepared)
        prepared = prepared.point(lambda value: 255 if value > threshold else 0)
    else:
        prepared = ImageOps.autocontrast(prepared, cutoff=1)
    try:
        data = pytesseract.image_to_data(prepared, lang=LANGUAGES, config=f"--psm {6 if careful else 4}",
                                         timeout=timeout, output_type=pytesseract.Output.DICT)  # fmt: skip
    except pytesseract.TesseractNotFoundError:
        raise OcrUnavailable(
            "OCR is not available: the tesseract program is not installed.",
            hint="Install tesseract-ocr with the deu and eng languages (scripts/install-system-deps).",
        ) from None
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise ExtractionTimeout("OCR of a page took too long.",
                                    hint="Send fewer pages or a document with a text layer.") from None  # fmt: skip
        raise DocumentCorrupt(f"OCR failed: {str(exc)[:200]}", hint="Send a clearer scan.") from None
    except pytesseract.TesseractError as exc:
        if "language" in str(exc).lower():
            raise OcrUnavailable(f"OCR languages missing: {str(exc)[:200]}",
                                 hint="Install tesseract-ocr-deu and tesseract-ocr-eng.") from None  # fmt: skip
        raise DocumentCorrupt(f"OCR failed: {str(exc)[:200]}", hint="Send a clearer scan.") from None
    return _assemble(data)


def _assemble(data: dict[str, list[object]]) -> OcrPage:
    lines: dict[tuple[int, int, int], list[tuple[int, int, str]]] = {}
    confidences: list[float] = []
    for i, word in enumerate(data["text"]):
        text = str(word).strip()
        if not text:
            continue
        key = (int(str(data["block_num"][i])), int(str(data["par_num"][i])), int(str(data["line_num"][i])))
        left, width = int(str(data["left"][i])), int(str(data["width"][i]))
        lines.setdefault(key, []).append((left, left + width, text))
        confidence = float(str(data["conf"][i]))
        if confidence >= 0:
            confidences.append(confidence)
    out: list[str] = []
    previous_block = None
    for key in sorted(lines):
        if previous_block is not None and key[0] != previous_block:
            out.append("")
        previous_block = key[0]
        words = sorted(lines[key])
        parts = [words[0][2]]
        for (_, prev_end, _), (start, _, text) in pairwise(words):
            # A gap wider than about three letters is a column break: keep it visible as two spaces.
            parts.append(("   " if start - prev_end > 60 else " ") + text)
        out.append("".join(parts))
    mean = sum(confidences) / len(confidences) / 100 if confidences else 0.0
    return OcrPage(text="\n".join(out), confidence=mean)


def _otsu(image: Image.Image) -> int:
    """The grey level that best separates ink from paper (Otsu's method on the histogram)."""
    histogram = image.histogram()[:256]
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    background = weighted = 0.0
    best, threshold = -1.0, 128
    for level, count in enumerate(histogram):
        background += count
        if background == 0:
            continue
        foreground = total - background
        if foreground == 0:
            break
        weighted += level * count
        mean_back = weighted / background
        mean_fore = (weighted_total - weighted) / foreground
        spread = background * foreground * (mean_back - mean_fore) ** 2
        if spread > best:
            best, threshold = spread, level
    return threshold
