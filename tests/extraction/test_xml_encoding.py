"""E-invoice XML whose declared encoding is wrong is read anyway, with a warning; broken XML still is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_mcp.ledger.errors import DocumentCorrupt
from ledger_mcp.ledger.extraction import extract
from ledger_mcp.ledger.extraction.einvoice import extract_einvoice

CORPUS = Path(__file__).resolve().parents[1] / "data" / "einvoice-corpus" / "ZUGFeRD-corpus"
CII = (CORPUS / "XML-Rechnung/CII/XRECHNUNG_Einfach.cii.xml").read_bytes()


def _body(xml: bytes) -> bytes:
    """The document without its XML declaration."""
    return xml[xml.index(b"?>") + 2 :]


def test_factur_x_pdf_with_an_unknown_encoding_name_is_read_from_its_xml() -> None:
    # Its attachment declares encoding="UTF-8-W/O-BOM", which no XML parser knows.
    pdf = (CORPUS / "ZUGFeRDv2/fail/Mustangproject/factur-x-invalid-xml-encoding-attribute.pdf").read_bytes()
    result = extract(pdf, "application/pdf")
    assert result.method == "xml"
    assert (result.value("invoice_number"), result.value("total_gross")) == ("RE-20201121/508", "571.04")
    assert any("UTF-8-W/O-BOM" in w and "read as UTF-8" in w for w in result.warnings)


def test_windows_1252_bytes_declared_as_utf_8_keep_their_umlauts() -> None:
    truth = extract_einvoice(CII)
    assert "ß" in (truth.value("vendor_address") or "") + (truth.value("buyer_name") or "") + truth.text
    wrong = b'<?xml version="1.0" encoding="UTF-8"?>' + _body(CII).decode("utf-8").encode("cp1252")
    result = extract_einvoice(wrong)
    assert result.fields == truth.fields
    assert [w for w in result.warnings if "Windows-1252" in w]
    assert not [w for w in truth.warnings if "encoding" in w]


def test_latin_1_declared_for_utf_8_bytes_is_not_second_guessed() -> None:
    # Well-formed as declared: the parser cannot tell mojibake from text, so nothing is changed or warned.
    latin = b'<?xml version="1.0" encoding="ISO-8859-1"?>' + _body(CII)
    result = extract_einvoice(latin)
    assert result.value("total_gross") == extract_einvoice(CII).value("total_gross")
    assert not [w for w in result.warnings if "encoding" in w]


def test_xml_that_is_not_well_formed_stays_refused() -> None:
    broken = b'<?xml version="1.0" encoding="UTF-8-W/O-BOM"?>' + _body(CII)[:-200]
    with pytest.raises(DocumentCorrupt):
        extract_einvoice(broken)
