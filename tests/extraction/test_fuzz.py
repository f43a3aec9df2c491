"""Random and damaged input never escapes as anything but a LedgerError."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.extraction import FIELD_NAMES, SUPPORTED_MIMES, detect_mime, extract
from ledger_mcp.ledger.extraction.textparse import parse_text

from .conftest import sample_bytes

PREFIXES = [b"", b"%PDF-1.7\n", b"<?xml version='1.0'?>", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00"]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(data: bytes, mime: str) -> None:
    try:
        result = extract(data, mime, max_pages=2, time_limit=10.0)
    except LedgerError as exc:
        assert exc.code and exc.message
    else:
        assert result.method in ("xml", "text", "ocr")


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=2048), mime=st.sampled_from(SUPPORTED_MIMES))
def test_random_bytes_raise_only_ledger_errors(prefix: bytes, body: bytes, mime: str) -> None:
    data = prefix + body
    try:
        detected = detect_mime(data, "upload.xml")
    except LedgerError:
        detected = mime
    _run(data, detected)
    _run(data, mime)


@FUZZ
@given(name=st.sampled_from(["text_de.pdf", "facturx_en16931.pdf", "ubl_invoice.xml"]), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8))  # fmt: skip
def test_damaged_samples_raise_only_ledger_errors(name: str, cut: float, flips: list[tuple[float, int]]) -> None:
    data = bytearray(sample_bytes(name))
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    damaged = bytes(data[: max(1, int(cut * len(data)))])
    _run(damaged, detect_mime(sample_bytes(name)))


INVOICE_WORDS = ["Rechnung", "Nr.", "19 %", "1.234,56", "€", "EUR", "Datum:", "02.03.2026", "GmbH", "IBAN:",
                 "DE89", "3704", "Gesamtbetrag", "Netto", "USt.", "Menge", "Bezeichnung", "Betrag", "\n", "·", "|",
                 "Total", "VAT", "zahlbar innerhalb von 14 Tagen", "Gutschrift", "1", "Invoice No.:"]  # fmt: skip


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(INVOICE_WORDS), st.text(max_size=12)), max_size=120))
def test_text_parser_takes_any_text(words: list[str]) -> None:
    parsed = parse_text(" ".join(words))
    for name, found in parsed.fields.items():
        assert name in FIELD_NAMES
        assert 0.0 <= found.confidence <= 1.0
    for tax in parsed.taxes:
        assert Decimal(tax.net) == Decimal(tax.net).quantize(Decimal("0.01"))
