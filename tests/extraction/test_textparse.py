"""The text parser and normalizers on invoice texts as PDF text layers and OCR deliver them."""

from __future__ import annotations

import pytest

from ledger_mcp.ledger.extraction.normalize import parse_amount, parse_date, rate_string, valid_iban, valid_vat_id
from ledger_mcp.ledger.extraction.textparse import parse_text


@pytest.mark.parametrize(
    ("text", "iso"),
    [("02.03.2026", "2026-03-02"), ("Datum: 2. März 2026", "2026-03-02"), ("March 2, 2026", "2026-03-02"),
     ("2 March 2026", "2026-03-02"), ("2026-03-02", "2026-03-02"), ("02.03.26", "2026-03-02"),
     ("Dec. 31st, 2025", "2025-12-31"), ("31.02.2026", None), ("Seite 1 von 2", None)],
)  # fmt: skip
def test_dates(text: str, iso: str | None) -> None:
    assert parse_date(text) == iso


@pytest.mark.parametrize(
    ("text", "amount"),
    [("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("1234,56", "1234.56"), ("-12,00", "-12.00"),
     ("1 234,56", "1234.56"), ("0,99", "0.99"), ("1.234.567,89", "1234567.89"), ("12", "12.00"), ("abc", None)],
)  # fmt: skip
def test_amounts(text: str, amount: str | None) -> None:
    assert parse_amount(text) == amount


def test_rates_and_identifiers() -> None:
    assert [rate_string(r) for r in ("19,00 %", "7.0", "5,5", "101")] == ["19", "7", "5.5", None]
    assert valid_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert valid_iban("DE89 3704 0044 0532 0130 01") is None
    assert valid_vat_id("DE 136 695 976") == "DE136695976"
    assert valid_vat_id("DE136695977") is None


GERMAN = """Bäckerei Korn KG
Mühlenweg 3 · 34117 Kassel
Gutschrift Nr. GS-77
Datum: 9. Januar 2026
Rechnungsempfänger: Café Mokka GmbH
USt-IdNr. DE 136 695 976
Nettobetrag 100,00 EUR
MwSt. 7 % 7,00 EUR
Bruttobetrag 107,00 EUR
Zahlungsziel: 30 Tage netto
Korrektur zu Rechnung R-70
"""


def test_a_gutschrift_without_words_of_correction_is_a_self_billed_invoice() -> None:
    self_billed = GERMAN.replace("Korrektur zu Rechnung R-70\n", "")
    values = {key: found.value for key, found in parse_text(self_billed).fields.items()}
    assert (values["document_type"], values["type_code"]) == ("invoice", "389")


INTARSYS = """Handelsrechnung Nr. 471102 vom 05.03.2018
Verkäufer:
Globale Nummer: 4000001123452 (GTIN)
Lieferant GmbH
Lieferantenstraße 20
DE 80333 München
USt.-Id.-Nr. : DE123456789
Käufer/Leistungsempfänger:
Globale Nummer: 4000001987658 (GTIN)
Kunden AG Mitte
USt.-Id.-Nr. : DE136695976
Rechnungssumme ohne USt. 473,00
Steuerbetrag in EUR  56,87
Bruttosumme 529,87
Erhaltene Anzahlungen -100,00
Zahlbetrag 429,87
"""


def test_seller_and_buyer_blocks_and_the_amount_payable() -> None:
    values = {key: found.value for key, found in parse_text(INTARSYS).fields.items()}
    assert values["invoice_number"] == "471102"
    assert (values["vendor_name"], values["vendor_vat_id"]) == ("Lieferant GmbH", "DE123456789")
    assert values["buyer_vat_id"] == "DE136695976"
    assert (values["total_net"], values["total_tax"], values["total_gross"]) == ("473.00", "56.87", "529.87")
    assert values["amount_due"] == "429.87"


def test_french_labels() -> None:
    text = "Au bon moulin SARL\nFacture FA-2017-0010\nDate de facture 13/11/2017\nN° TVA client FR19787878784\n" \
           "TVA : FR11999999998\nTotal HT 624,90 €\nTotal taxes 46,25 €\nTotal TTC 671,15 €\nSolde à payer 470,15 €\n"
    values = {key: found.value for key, found in parse_text(text).fields.items()}
    assert values["invoice_number"] == "FA-2017-0010" and values["vendor_vat_id"] == "FR11999999998"
    assert (values["total_net"], values["total_tax"], values["total_gross"], values["amount_due"]) == (
        "624.90", "46.25", "671.15", "470.15")


def test_german_credit_note_with_month_name_and_payment_term() -> None:
    parsed = parse_text(GERMAN)
    values = {key: found.value for key, found in parsed.fields.items()}
    assert values["document_type"] == "credit_note"
    assert values["invoice_number"] == "GS-77"
    assert values["invoice_date"] == "2026-01-09"
    assert values["due_date"] == "2026-02-08"  # 30 days after the invoice date, derived
    assert values["vendor_name"] == "Bäckerei Korn KG"
    assert values["vendor_address"] == "Mühlenweg 3, 34117 Kassel"
    assert values["buyer_name"] == "Café Mokka GmbH"
    assert values["vendor_vat_id"] == "DE136695976"
    assert (values["total_net"], values["total_tax"], values["total_gross"]) == ("100.00", "7.00", "107.00")
    assert [(t.rate, t.net, t.tax) for t in parsed.taxes] == [("7", "100.00", "7.00")]
    assert values["currency"] == "EUR"
    assert parsed.fields["due_date"].confidence < parsed.fields["invoice_date"].confidence
    assert parsed.warnings == []


def test_totals_that_do_not_add_up_are_flagged() -> None:
    text = "ACME GmbH\nRechnung Nr. 5\nRechnungsdatum 01.02.2026\nNetto 100,00 €\nUSt. 19 % 19,00 €\nGesamt 120,00 €\n"
    parsed = parse_text(text)
    assert parsed.fields["total_gross"].value == "120.00"
    assert parsed.fields["total_gross"].confidence <= 0.5
    assert any("do not add up" in warning for warning in parsed.warnings)
    consistent = parse_text(text.replace("120,00", "119,00"))
    assert consistent.fields["total_gross"].confidence > 0.9
    assert consistent.warnings == []


ENGLISH = """Globex Inc.
Invoice # 2026-001
Invoice date: 03/15/2026
Invoice Date: March 15, 2026
Bill to: Initech LLC
Net amount $2,500.00
Tax (8.5%) $212.50
Amount due $2,712.50
Payment terms: Net 15
"""


def test_english_dollars_and_net_terms() -> None:
    values = {key: found.value for key, found in parse_text(ENGLISH).fields.items()}
    assert values["invoice_number"] == "2026-001"
    assert values["currency"] == "USD"
    assert (values["total_net"], values["total_tax"], values["total_gross"]) == ("2500.00", "212.50", "2712.50")
    assert values["buyer_name"] == "Initech LLC"
    assert values["vendor_name"] == "Globex Inc."
    assert values["payment_terms"] == "Payment terms: Net 15"


def test_reverse_charge_gets_category_ae_and_a_warning() -> None:
    text = ("Cloud Ltd\nInvoice No.: C-9\nInvoice date: 2026-03-01\nSubtotal EUR 500.00\nTotal EUR 500.00\n"
            "Reverse charge: VAT to be accounted for by the recipient.\n")  # fmt: skip
    parsed = parse_text(text)
    assert [(t.rate, t.net, t.tax, t.category) for t in parsed.taxes] == [("0", "500.00", "0.00", "AE")]
    assert any("reverse charge" in warning for warning in parsed.warnings)


def test_invalid_iban_and_unlabelled_wrong_vat_id_are_not_taken() -> None:
    text = "X GmbH\nIBAN: DE89 3704 0044 0532 0130 01\nRef DE123456789\nRechnung Nr. 7\n"
    fields = parse_text(text).fields
    assert "vendor_iban" not in fields
    assert "vendor_vat_id" not in fields


def test_buyer_vat_id_is_told_apart_from_the_vendors() -> None:
    text = "X GmbH\nIhre USt-IdNr.: DE298765435\nUSt-IdNr.: DE136695976\n"
    fields = parse_text(text).fields
    assert fields["buyer_vat_id"].value == "DE298765435"
    assert fields["vendor_vat_id"].value == "DE136695976"


def test_ocr_look_alikes_in_a_vat_country_code() -> None:
    fields = parse_text("VAT No.: 1E6388047V\n", source="ocr", scale=0.8).fields
    assert fields["vendor_vat_id"].value == "IE6388047V"
    assert fields["vendor_vat_id"].source == "ocr"
    assert fields["vendor_vat_id"].confidence <= 0.8


def test_document_text_is_data_only() -> None:
    text = "Rechnungsnummer: __import__('os').system('x')\nGesamtbetrag 10,00 €\n"
    fields = parse_text(text).fields
    assert "invoice_number" not in fields  # not an invoice number's shape; kept in the text, nothing else
    assert fields["total_gross"].value == "10.00"


def test_stacked_labels_and_values() -> None:
    text = ("Hansa Druck GmbH\nRechnungsnummer\nHD-2026-3\nRechnungsdatum\n17.02.2026\nfällig am\n03.03.2026\n"
            "Summe netto\n50,00 €\nMwSt. 19% auf 50,00 € 9,50 €\nRechnungsbetrag\n59,50 €\n")  # fmt: skip
    parsed = parse_text(text)
    values = {key: found.value for key, found in parsed.fields.items()}
    assert values["invoice_number"] == "HD-2026-3"
    assert (values["invoice_date"], values["due_date"]) == ("2026-02-17", "2026-03-03")
    assert (values["total_net"], values["total_tax"], values["total_gross"]) == ("50.00", "9.50", "59.50")
    assert [(t.rate, t.net, t.tax) for t in parsed.taxes] == [("19", "50.00", "9.50")]
    assert parsed.warnings == []


def test_english_credit_note() -> None:
    text = ("Credit note\nCredit note No.: CN-12\nDate: 4 February 2026\nSubtotal 10.00 GBP\nVAT 20% 2.00 GBP\n"
            "Total 12.00 GBP\n")
    values = {key: found.value for key, found in parse_text(text).fields.items()}
    assert values["document_type"] == "credit_note"
    assert values["invoice_number"] == "CN-12"
    assert values["invoice_date"] == "2026-02-04"
    assert values["currency"] == "GBP"
    assert values["total_gross"] == "12.00"


def test_totals_printed_as_a_table_with_a_unit_gross_price_above() -> None:
    text = ("Rechnung Nr. 4711\n"
            "   Bruttopreis: 30,0000 €    Artikelgesamtrabatt: -1,80 €\n"
            "   Warenwert  Zu-/Abschlag    Nettobetrag    MwSt-Betrag  MwSt-%     Endbetrag\n"
            "      326,50      -8,10            321,40          61,07   19,0          382,47\n"
            "      130,70      -3,11            127,59           8,93    7,0          136,52\n"
            "      457,20     -11,21            448,99          70,00    EUR          518,99\n")
    values = {key: found.value for key, found in parse_text(text).fields.items()}
    assert (values["total_net"], values["total_tax"], values["total_gross"]) == ("448.99", "70.00", "518.99")


def test_title_with_document_type_code_number_and_date() -> None:
    parsed = parse_text("Beispiel GmbH\nRechnungskorrektur (384) 16.09.2018   Nr. RK21012345   vom\nWährung: EUR\n")
    values = {key: found.value for key, found in parsed.fields.items()}
    assert (values["invoice_number"], values["invoice_date"]) == ("RK21012345", "2018-09-16")


def _values(text: str, *names: str) -> tuple[str | None, ...]:
    fields = parse_text(text).fields
    return tuple(fields[name].value if name in fields else None for name in names)


def test_a_date_in_the_payment_terms_is_no_net_amount() -> None:
    text = ("Zahlbar innerhalb 30 Tagen netto bis 04.04.2018\n"
            "Rechnungssumme ohne USt. 473,00\nSteuerbetrag 56,87\nBruttosumme 529,87")
    assert _values(text, "total_net", "total_tax", "total_gross") == ("473.00", "56.87", "529.87")


def test_titles_before_the_number_and_a_date_on_the_next_line() -> None:
    text = ("ZUGFeRD-Version: 2.1 vom 24.03.2020\n"
            "Gutschrift (Selbst ausgestellte Rechnung) Nr. 471102 vom\n05.03.2018\n"
            "Rechnung gemäß Bestellung Nr. 2018-471331 vom 01.03.2018.")
    assert _values(text, "invoice_number", "invoice_date", "type_code") == ("471102", "2018-03-05", "389")
    assert _values("Rechnung des Versicherers Nr. 00.123.456.7-2018-1 vom 11.03.2018", "invoice_number") == (
        "00.123.456.7-2018-1",)


def test_slash_dates_are_month_first_only_where_the_document_writes_them_so() -> None:
    assert _values("Invoice Date 11/03/2017\nPaid 11/17/2017", "invoice_date") == ("2017-11-03",)
    assert _values("Date de facture 11/03/2017\nPayé 13/03/2017", "invoice_date") == ("2017-03-11",)


def test_a_gross_no_line_shows_is_net_plus_vat_at_low_confidence() -> None:
    parsed = parse_text("Rechnungssumme ohne USt. 198,00\nSteuerbetrag 37,62\nBr uttosumme 235,62")
    assert parsed.fields["total_gross"].value == "235.62"
    assert parsed.fields["total_gross"].confidence < 0.6
