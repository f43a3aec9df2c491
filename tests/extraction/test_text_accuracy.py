"""The text parser on the kept corpus PDFs read as if they had no XML, through the text layer and through
OCR: at least 90 % of invoice number, date, seller name, seller VAT ID, net, VAT and gross right, their
own XML being the truth (as bench/extraction.py measures it on the full corpora). Some files show other
values than their XML (the Konik sample, the encoding test file); they count as misses, as they would
for a reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.extraction import CORPUS_FIELDS, matches
from ledger_mcp.ledger.extraction.documents import (
    Deadline,
    embedded_xml,
    open_pdf,
    page_count,
    page_texts,
    render_pages,
)
from ledger_mcp.ledger.extraction.einvoice import extract_einvoice
from ledger_mcp.ledger.extraction.ocr import ocr_image
from ledger_mcp.ledger.extraction.textparse import ParsedText, parse_text

CORPUS = Path(__file__).resolve().parents[1] / "data" / "einvoice-corpus"
GOAL = 0.90
OCR_MAX_PAGES = 2  # OCR takes seconds per page: the files of up to two pages (most of them)


def _accuracy(read: Callable[[bytes, int], ParsedText | None]) -> tuple[int, int, list[str]]:
    """(fields right, fields compared, the misses) over the kept PDFs that `read` reads."""
    hits, total, misses = 0, 0, []
    for path in sorted(CORPUS.rglob("*.pdf")):
        data = path.read_bytes()
        xml = embedded_xml(data)
        parsed = read(data, page_count(open_pdf(data))) if xml is not None else None
        if parsed is None:
            continue
        truth = extract_einvoice(xml or b"")
        for key in CORPUS_FIELDS:
            got = parsed.fields[key].value if key in parsed.fields else None
            total += 1
            if matches(key, got, truth.value(key)):
                hits += 1
            else:
                misses.append(f"{path.name}: {key} = {got!r}, true {truth.value(key)!r}")
    return hits, total, misses


def test_text_layer_reads_nine_in_ten_header_fields_of_the_kept_corpus() -> None:
    def layer(data: bytes, pages: int) -> ParsedText:
        return parse_text("\n\f".join(page_texts(open_pdf(data), pages, Deadline(60))))

    hits, total, misses = _accuracy(layer)
    print(f"\ntext layer: {hits}/{total} = {hits / total:.1%}")
    assert total >= 20 * len(CORPUS_FIELDS)
    assert hits / total >= GOAL, "\n".join(misses)


def test_ocr_reads_nine_in_ten_header_fields_of_the_kept_corpus() -> None:
    def ocr(data: bytes, pages: int) -> ParsedText | None:
        if pages > OCR_MAX_PAGES:
            return None
        text = "\n\f".join(ocr_image(image, 120).text for image in render_pages(data, pages, Deadline(300)))
        return parse_text(text, source="ocr", scale=0.9)

    hits, total, misses = _accuracy(ocr)
    print(f"\nOCR: {hits}/{total} = {hits / total:.1%}")
    assert total >= 15 * len(CORPUS_FIELDS)
    assert hits / total >= GOAL, "\n".join(misses)
