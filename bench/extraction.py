"""Invoice extraction: time per document kind and field accuracy on the sample invoices.

    python bench/extraction.py            # 3 runs per document (median)
    python bench/extraction.py --runs 5

Reads examples/invoices (see make_samples.py there) and expected.json. A field counts as correct when
the extracted value equals the true value exactly; a missing field counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import pytesseract

from ledger_mcp.ledger.extraction import detect_mime, extract

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    print(f"Python {platform.python_version()}, tesseract {pytesseract.get_tesseract_version()}, "
          f"{args.runs} runs per document\n")  # fmt: skip
    print(f"{'document':28} {'kind':22} {'method':6} {'median s':>9} {'fields':>7} {'taxes':>6} {'lines':>6}")
    by_method: dict[str, list[int]] = {}
    misses: list[str] = []
    for name, kind in KINDS.items():
        data = (SAMPLES / name).read_bytes()
        mime = detect_mime(data, name)
        times = []
        for _ in range(args.runs):
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
