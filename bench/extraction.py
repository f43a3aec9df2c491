"""Invoice extraction: time per document kind and field accuracy on the sample invoices, then the text
layer and OCR on public e-invoice PDFs read as if they had no XML.

    python bench/extraction.py            # 3 runs per document (median)
    python bench/extraction.py --runs 5
    python bench/extraction.py --corpus DIR --no-samples   # another folder of ZUGFeRD/Factur-X PDFs

Reads examples/invoices (see make_samples.py there) and expected.json. A field counts as correct when
the extracted value equals the true value exactly; a missing field counts as wrong.

Corpus part: every PDF with embedded e-invoice XML under tests/data/einvoice-corpus (or --corpus). The
XML gives the true values; the text layer (pypdf) and OCR (pages rendered as the cascade renders a
scan) are parsed without it, exactly as a PDF whose XML was removed. Amounts compare by sign-free
value, the seller name as vendor matching compares names (legal form, case and spacing aside).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytesseract

from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.extraction import ExtractedInvoice, detect_mime, extract
from ledger_mcp.ledger.extraction.documents import (
    Deadline,
    embedded_xml,
    open_pdf,
    page_count,
    page_texts,
    render_pages,
)
from ledger_mcp.ledger.extraction.einvoice import extract_einvoice
from ledger_mcp.ledger.extraction.ocr import LANGUAGES, ocr_image
from ledger_mcp.ledger.extraction.textparse import ParsedText, parse_text
from ledger_mcp.ledger.review_cases import name_key

SAMPLES = Path(__file__).resolve().parents[1] / "examples" / "invoices"
KINDS = {
    "facturx_en16931.pdf": "XML (Factur-X PDF)",
    "xrechnung_credit_note.xml": "XML (XRechnung CII)",
    "ubl_invoice.xml": "XML (UBL)",
    "text_de.pdf": "text PDF (de)",
    "text_en.pdf": "text PDF (en)",
    "scan_de.pdf": "OCR 1 page (scan)",
    "photo_en.png": "photo PNG",
}


CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "einvoice-corpus"
CORPUS_FIELDS = ("invoice_number", "invoice_date", "vendor_name", "vendor_vat_id", "total_net", "total_tax",
                 "total_gross")


def matches(name: str, got: str | None, true: str | None) -> bool:
    """Whether an extracted value counts as right: exactly, amounts sign-free, names as vendor matching compares."""
    if got is None or true is None:
        return got == true
    if name.startswith("total_"):
        return abs(Decimal(got)) == abs(Decimal(true))
    if name == "vendor_name":  # as vendor matching compares names: legal forms and case aside
        return name_key(got) == name_key(true)
    return got == true


def corpus(folder: Path, ocr_pages: int) -> None:
    """Per-field accuracy and time of the text-layer and OCR paths on PDFs whose XML is the truth."""
    paths = sorted(p for p in folder.rglob("*.pdf"))
    rows: list[tuple[str, ExtractedInvoice, str, ParsedText | None, float, float, int]] = []
    for path in paths:
        data = path.read_bytes()
        xml = embedded_xml(data)
        if xml is None:
            continue
        try:
            truth = extract_einvoice(xml)
        except LedgerError:
            continue
        reader = open_pdf(data)
        pages = min(page_count(reader), ocr_pages)
        start = time.perf_counter()
        layer = "\n\f".join(page_texts(reader, page_count(reader), Deadline(60)))
        parse_text(layer)
        text_time = time.perf_counter() - start
        ocr, ocr_time = None, 0.0
        if pages:
            start = time.perf_counter()
            images = list(render_pages(data, pages, Deadline(120)))
            ocr_text = "\n\f".join(ocr_image(image, 120).text for image in images)
            ocr = parse_text(ocr_text, source="ocr", scale=0.9)
            ocr_time = time.perf_counter() - start
        rows.append((str(path.relative_to(folder)), truth, layer, ocr, text_time, ocr_time, pages))
    print(f"\ncorpus {folder}: {len(rows)} PDFs with e-invoice XML, read without it")
    for label, index in (("text layer", 0), ("OCR", 1)):
        hits = dict.fromkeys(CORPUS_FIELDS, 0)
        counted = 0
        misses: list[str] = []
        for name, truth, layer, ocr, *_ in rows:
            parsed = parse_text(layer) if index == 0 else ocr
            if parsed is None:
                continue
            counted += 1
            for key in CORPUS_FIELDS:
                got = parsed.fields[key].value if key in parsed.fields else None
                if matches(key, got, truth.value(key)):
                    hits[key] += 1
                else:
                    misses.append(f"    {name}: {key} = {got!r}, true {truth.value(key)!r}")
        total = sum(hits.values())
        print(f"  {label}: " + ", ".join(f"{k} {v}/{counted}" for k, v in hits.items())
              + f"; all {total}/{counted * len(CORPUS_FIELDS)} = {total / max(1, counted * len(CORPUS_FIELDS)):.0%}")
        if misses and "-v" in sys.argv:
            print("\n".join(misses))
    text_times = [r[4] for r in rows]
    ocr_times = [r[5] / r[6] for r in rows if r[6]]
    print(f"  time: text layer median {statistics.median(text_times):.3f} s per PDF; OCR median "
          f"{statistics.median(ocr_times) if ocr_times else 0:.1f} s per page, max {max(ocr_times, default=0):.1f} s "
          f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


def engines(rounds: int) -> None:
    """One A4 page (the sample scan) through tesseract in-process (C API, language data loaded once) and through
    the tesseract program (pytesseract: a process and the language data per page), interleaved."""
    image = next(iter(render_pages((SAMPLES / "scan_de.pdf").read_bytes(), 1, Deadline(60))))
    ocr_image(image, 120)  # the first call loads the language data
    times: dict[str, list[float]] = {"in-process": [], "program": []}
    for _ in range(rounds):
        start = time.perf_counter()
        ocr_image(image, 120)
        times["in-process"].append(time.perf_counter() - start)
        start = time.perf_counter()
        pytesseract.image_to_data(image.convert("L"), lang=LANGUAGES, config="--psm 4")
        times["program"].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nOCR of one A4 page ({image.width}x{image.height} px), {rounds} rounds: "
          + ", ".join(f"{name} median {value:.2f} s (max {max(times[name]):.2f})" for name, value in medians.items())
          + f"; program / in-process {medians['program'] / medians['in-process']:.2f}x"
          + f" (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--ocr-pages", type=int, default=10,
                        help="OCR the first N pages of each corpus PDF (default: as many as the cascade reads)")
    parser.add_argument("--no-samples", action="store_true")
    parser.add_argument("-v", action="store_true", help="list the misses")
    args = parser.parse_args()
    if not args.no_samples:
        samples(args.runs)
        engines(args.runs * 2)
    corpus(args.corpus, args.ocr_pages)


def samples(runs: int) -> None:
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    print(f"Python {platform.python_version()}, tesseract {pytesseract.get_tesseract_version()}, "
          f"{runs} runs per document\n")  # fmt: skip
    print(f"{'document':28} {'kind':22} {'method':6} {'median s':>9} {'fields':>7} {'taxes':>6} {'lines':>6}")
    by_method: dict[str, list[int]] = {}
    misses: list[str] = []
    for name, kind in KINDS.items():
        data = (SAMPLES / name).read_bytes()
        mime = detect_mime(data, name)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = extract(data, mime)
            times.append(time.perf_counter() - start)
        spec = expected[name]
        correct = sum(result.value(key) == value for key, value in spec["fields"].items())
        total = len(spec["fields"])
        misses += [f"  {name}: {key} = {result.value(key)!r}, true {value!r}"
                   for key, value in spec["fields"].items() if result.value(key) != value]  # fmt: skip
        taxes_ok = [{"rate": t.rate, "net": t.net, "tax": t.tax} for t in result.taxes] == spec["taxes"]
        lines_ok = sum(line.model_dump() in spec["lines"] for line in result.lines)
        tally = by_method.setdefault(spec["method"], [0, 0])
        tally[0] += correct
        tally[1] += total
        print(f"{name:28} {kind:22} {result.method:6} {statistics.median(times):9.3f} {correct:>3}/{total:<3} "
              f"{'ok' if taxes_ok else 'wrong':>6} {lines_ok:>2}/{len(spec['lines']):<3}")  # fmt: skip
    print("\nfield accuracy (correct / expected):")
    all_correct = sum(c for c, _ in by_method.values())
    all_total = sum(t for _, t in by_method.values())
    for method, (correct, total) in by_method.items():
        print(f"  {method:5} {correct}/{total} = {correct / total:.0%}")
    print(f"  all   {all_correct}/{all_total} = {all_correct / all_total:.0%}")
    if misses:
        print("\nwrong or missing fields:")
        print("\n".join(misses))


if __name__ == "__main__":
    main()
