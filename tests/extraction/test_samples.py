"""Every kind of sample invoice, extracted for real, compared exactly with expected.json."""

from __future__ import annotations

from decimal import Decimal

import pytest
from facturx import generate_from_binary, get_xml_from_pdf

from ledger_mcp.ledger.extraction import FIELD_NAMES, extract

from .conftest import EXPECTED, extracted, sample_bytes

XML_AND_TEXT = [name for name, spec in EXPECTED.items() if spec["method"] in ("xml", "text")]


@pytest.mark.parametrize("name", XML_AND_TEXT)
def test_every_field_taxes_and_lines_exactly(name: str) -> None:
    result = extracted(name)
    spec = EXPECTED[name]
    assert result.method == spec["method"]
    assert {key: result.value(key) for key in spec["fields"]} == spec["fields"]
    # Nothing is invented: no field the document does not carry.
    assert set(result.fields) == set(spec["fields"])
    assert [{"rate": t.rate, "net": t.net, "tax": t.tax} for t in result.taxes] == spec["taxes"]
    assert [line.model_dump() for line in result.lines] == spec["lines"]
    assert result.warnings == []


@pytest.mark.parametrize("name", XML_AND_TEXT)
def test_field_sources_and_confidences(name: str) -> None:
    result = extracted(name)
    assert set(result.fields) <= set(FIELD_NAMES)
    for key, found in result.fields.items():
        assert found.source == result.method, key
        assert 0.0 <= found.confidence <= 1.0
        if result.method == "xml":
            assert found.confidence == 1.0
    if result.method == "text":
        # Totals that add up and validated identifiers are trusted more than a merely labelled value.
        assert result.fields["total_gross"].confidence > result.fields["invoice_number"].confidence
        assert result.fields["vendor_iban"].confidence > result.fields["invoice_number"].confidence


def test_facturx_xml_wins_over_the_visible_text() -> None:
    result = extracted("facturx_en16931.pdf")
    assert result.method == "xml"
    assert result.pages == 1
    # The reviewer sees the visible PDF text next to the XML values.
    assert "Rechnungsnummer" in result.text
    assert [t.category for t in result.taxes] == ["S"]


def test_credit_note_and_ubl_specifics() -> None:
    credit = extracted("xrechnung_credit_note.xml")
    assert credit.value("document_type") == "credit_note"
    assert "GS-2026-0042" in credit.text
    ubl = extracted("ubl_invoice.xml")
    assert [t.rate for t in ubl.taxes] == ["19", "7"]


def test_german_text_pdf_derived_due_date_is_less_certain() -> None:
    result = extracted("text_de.pdf")
    # The due date is derived from "innerhalb von 14 Tagen" and the invoice date, so less certain.
    assert result.fields["due_date"].confidence < result.fields["invoice_date"].confidence
    assert result.fields["vendor_vat_id"].raw is not None and "USt-IdNr" in result.fields["vendor_vat_id"].raw
    assert sum(Decimal(t.tax) for t in result.taxes) == Decimal(result.value("total_tax") or "")


OCR_FIELDS = ("invoice_number", "invoice_date", "total_net", "total_tax", "total_gross", "vendor_vat_id",
              "vendor_iban", "currency")  # fmt: skip


def test_scanned_pdf_by_ocr() -> None:
    """The scan (200 dpi, noise, 0.6° rotation) read by tesseract. Asserted exactly: number, dates, totals,
    VAT IDs, IBAN, BIC, currency, vendor name, tax subtotals. Not asserted exactly: vendor_tax_id, buyer_name
    and line items, which depend on how tesseract splits the address and table columns into blocks (it
    also drops decimal commas in unit prices: "450€"); lines that are found must carry true net amounts."""
    result = extracted("scan_de.pdf")
    spec = EXPECTED["scan_de.pdf"]
    assert result.method == "ocr"
    reliable = (*OCR_FIELDS, "due_date", "delivery_date", "vendor_bic", "buyer_vat_id", "vendor_name", "document_type")
    assert {key: result.value(key) for key in reliable} == {key: spec["fields"][key] for key in reliable}
    assert [{"rate": t.rate, "net": t.net, "tax": t.tax} for t in result.taxes] == spec["taxes"]
    true_nets = {line["net_amount"] for line in spec["lines"]}
    assert all(line.net_amount in true_nets for line in result.lines)
    for key, found in result.fields.items():
        assert found.source == "ocr"
        # OCR is never as certain as a text layer.
        assert found.confidence <= 0.9, key


def test_photo_by_ocr() -> None:
    """A photo (perspective, rotation, blur, noise, 8 grey levels) of the English invoice. Asserted exactly:
    invoice number, dates, totals, IBAN, currency. The VAT ID is unreliable here (tesseract reads the 6 of
    IE6388047V as B at this resolution), so it is only required to be absent or flagged by a low confidence."""
    result = extracted("photo_en.png")
    spec = EXPECTED["photo_en.png"]
    assert result.method == "ocr"
    assert result.pages == 1
    reliable = ("invoice_number", "invoice_date", "due_date", "total_net", "total_tax", "total_gross", "vendor_iban",
                "currency")  # fmt: skip
    assert {key: result.value(key) for key in reliable} == {key: spec["fields"][key] for key in reliable}
    vat = result.fields.get("vendor_vat_id")
    assert vat is None or vat.value == spec["fields"]["vendor_vat_id"] or vat.confidence <= 0.5


def test_facturx_whose_visible_pdf_disagrees_with_its_xml_is_flagged() -> None:
    xml = extract(sample_bytes("facturx_en16931.pdf"), "application/pdf")
    assert xml.method == "xml"
    _, embedded = get_xml_from_pdf(sample_bytes("facturx_en16931.pdf"), check_xsd=False)
    # The XML of one invoice attached to the visible PDF of another.
    mixed = generate_from_binary(sample_bytes("text_de.pdf"), embedded, flavor="factur-x", level="en16931",
                                 check_xsd=False)  # fmt: skip
    result = extract(mixed, "application/pdf")
    assert result.method == "xml"
    assert result.value("invoice_number") == "ZF-2026-0815"
    assert any("visible PDF shows invoice number RE-2026-0147" in warning for warning in result.warnings)
    assert any("gross total 243.80" in warning for warning in result.warnings)
