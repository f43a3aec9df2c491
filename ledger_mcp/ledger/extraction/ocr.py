"""OCR with tesseract (deu+eng): recognized text with a per-page mean word confidence.

Tesseract runs in-process through its C API (libtesseract, loaded with ctypes) where the library is
installed: the language data is loaded once per engine (pooled, one per page being read at a time), not
for every page as the tesseract program (pytesseract) must. Without the library the program is used.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import threading
import time
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
    psm = 6 if careful else 4
    engine = _take_engine()
    if engine is not None:
        try:
            return _assemble(engine.read(prepared, psm, timeout))
        finally:
            with _library_lock:
                _idle.append(engine)
    try:
        data = pytesseract.image_to_data(prepared, lang=LANGUAGES, config=f"--psm {psm}",
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


class _Engine:
    """One initialised TessBaseAPI; used by one thread at a time (the API is not thread-safe)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.api = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit3(self.api, None, LANGUAGES.encode()) != 0:
            lib.TessBaseAPIDelete(self.api)
            raise OcrUnavailable(f"OCR languages missing: tesseract could not load {LANGUAGES}.",
                                 hint="Install tesseract-ocr-deu and tesseract-ocr-eng.")  # fmt: skip
        # Its diagnostics ("Estimating resolution as ...") would go to the server's stderr.
        lib.TessBaseAPISetVariable(self.api, b"debug_file", os.devnull.encode())
        with _library_lock:
            _engines.append(self)

    def close(self) -> None:
        self.lib.TessBaseAPIEnd(self.api)
        self.lib.TessBaseAPIDelete(self.api)

    def read(self, image: Image.Image, psm: int, timeout: float) -> dict[str, list[object]]:
        """Word boxes as pytesseract's image_to_data gives them, from tesseract's TSV output."""
        lib, api = self.lib, self.api
        pixels = image.tobytes()
        lib.TessBaseAPISetImage(api, pixels, image.width, image.height, 1, image.width)
        lib.TessBaseAPISetPageSegMode(api, psm)
        monitor = lib.TessMonitorCreate()
        lib.TessMonitorSetDeadlineMSecs(monitor, max(1, int(timeout * 1000)))
        started = time.monotonic()
        try:
            failed = lib.TessBaseAPIRecognize(api, monitor) != 0
            if failed and time.monotonic() - started >= timeout:
                raise ExtractionTimeout("OCR of a page took too long.",
                                        hint="Send fewer pages or a document with a text layer.")  # fmt: skip
            if failed:
                raise DocumentCorrupt("OCR failed on a page.", hint="Send a clearer scan.")
            text = lib.TessBaseAPIGetTsvText(api, 0)
            try:
                tsv = ctypes.string_at(text).decode("utf-8", "replace") if text else ""
            finally:
                lib.TessDeleteText(text)
        finally:
            lib.TessMonitorDelete(monitor)
            lib.TessBaseAPIClear(api)
        columns = ("level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width",
                   "height", "conf", "text")
        data: dict[str, list[object]] = {name: [] for name in columns}
        for row in tsv.splitlines():
            cells = row.split("\t")
            if len(cells) == len(columns):
                for name, cell in zip(columns, cells, strict=True):
                    data[name].append(cell)
        return data


# Engines are pooled: as many as pages are read at the same time, each kept for the next page.
_idle: list[_Engine] = []
_engines: list[_Engine] = []  # all of them, to release the language data at exit
_library: list[ctypes.CDLL | None] = []  # loaded once: [the library] or [None] when it is not installed
_library_lock = threading.Lock()


def _take_engine() -> _Engine | None:
    """An idle in-process tesseract, or a new one; None without libtesseract. Give it back to _idle."""
    lib = _load_library()
    if lib is None:
        return None
    with _library_lock:
        if _idle:
            return _idle.pop()
    return _Engine(lib)


def _load_library() -> ctypes.CDLL | None:
    with _library_lock:
        if not _library:
            _library.append(_bind(ctypes.util.find_library("tesseract") or "libtesseract.so.5"))
            atexit.register(_close_all)
        return _library[0]


def _close_all() -> None:
    with _library_lock:
        while _engines:
            _engines.pop().close()


def _bind(name: str) -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(name)
        lib.TessVersion.restype = ctypes.c_char_p
        version = lib.TessVersion() or b""
    except (OSError, AttributeError):
        return None
    if not version[:1].isdigit() or int(version.split(b".")[0]) < 4:  # the C API used here is tesseract 4's
        return None
    void, text, number = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name_, restype, argtypes in (
        ("TessBaseAPICreate", void, []), ("TessBaseAPIInit3", number, [void, text, text]),
        ("TessBaseAPIDelete", None, [void]), ("TessBaseAPIClear", None, [void]), ("TessBaseAPIEnd", None, [void]),
        ("TessBaseAPISetVariable", number, [void, text, text]),
        ("TessBaseAPISetImage", None, [void, text, number, number, number, number]),
        ("TessBaseAPISetPageSegMode", None, [void, number]), ("TessBaseAPIRecognize", number, [void, void]),
        ("TessBaseAPIGetTsvText", void, [void, number]), ("TessDeleteText", None, [void]),
        ("TessMonitorCreate", void, []), ("TessMonitorDelete", None, [void]),
        ("TessMonitorSetDeadlineMSecs", None, [void, number]),
    ):
        function = getattr(lib, name_)
        function.restype, function.argtypes = restype, argtypes
    return lib


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
