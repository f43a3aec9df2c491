"""Generate the sample invoices in this directory, deterministically, plus expected.json.

    python examples/invoices/make_samples.py

Needs the `samples` extra (fpdf2) besides the runtime dependencies. Produces:

| file | kind |
| --- | --- |
| facturx_en16931.pdf | Factur-X/ZUGFeRD PDF (EN 16931 profile): visual PDF + embedded CII XML |
| xrechnung_credit_note.xml | bare XRechnung CII XML (a credit note) |
| ubl_invoice.xml | bare UBL 2.1 invoice |
| text_de.pdf | German PDF with a text layer: 19 % and 7 % VAT, IBAN, USt-IdNr., payment terms |
| text_en.pdf | English PDF with a text layer, English number and date formats |
| scan_de.pdf | text_de.pdf rendered to an image (noise, slight rotation), image-only PDF |
| photo_en.png | text_en.pdf as a photo: perspective, rotation, blur, noise |
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import facturx
import pypdfium2
from fpdf import FPDF
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
FIXED_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    rate: Decimal

    @property
    def net(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Party:
    name: str
    street: str
    postcode: str
    city: str
    country: str
    vat_id: str | None = None
    tax_id: str | None = None
    country_name: str | None = None  # printed after the city in a letterhead abroad


@dataclass(frozen=True)
class Invoice:
    number: str
    issue_date: date
    vendor: Party
    buyer: Party
    lines: list[Line]
    iban: str
    bic: str
    currency: str = "EUR"
    delivery_date: date | None = None
    due_date: date | None = None
    payment_terms: str | None = None
    credit_note: bool = False
    notes: list[str] = field(default_factory=list)

    def taxes(self) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(rate, net, tax) per rate, highest rate first; tax rounded per rate as EN 16931 does."""
        by_rate: dict[Decimal, Decimal] = {}
        for line in self.lines:
            by_rate[line.rate] = by_rate.get(line.rate, Decimal(0)) + line.net
        return [(rate, net, (net * rate / 100).quantize(CENT, ROUND_HALF_UP))
                for rate, net in sorted(by_rate.items(), reverse=True)]  # fmt: skip

    @property
    def total_net(self) -> Decimal:
        return sum((net for _, net, _ in self.taxes()), Decimal(0))

    @property
    def total_tax(self) -> Decimal:
        return sum((tax for _, _, tax in self.taxes()), Decimal(0))

    @property
    def total_gross(self) -> Decimal:
        return self.total_net + self.total_tax


def rate_text(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def qty_text(quantity: Decimal) -> str:
    return format(quantity.normalize(), "f")


def expected(invoice: Invoice, *, xml: bool) -> dict[str, object]:
    """The true field values as extraction should normalize them."""
    vendor, buyer = invoice.vendor, invoice.buyer
    address = f"{vendor.street}, {vendor.postcode} {vendor.city}"
    if xml:
        address += f", {vendor.country}"
    elif vendor.country_name:
        address += f", {vendor.country_name}"
    fields: dict[str, str | None] = {
        "vendor_name": vendor.name,
        "vendor_vat_id": vendor.vat_id,
        "vendor_tax_id": vendor.tax_id,
        "vendor_iban": invoice.iban,
        "vendor_bic": invoice.bic,
        "vendor_address": address,
        "buyer_name": buyer.name,
        "buyer_vat_id": buyer.vat_id,
        "invoice_number": invoice.number,
        "invoice_date": invoice.issue_date.isoformat(),
        "delivery_date": invoice.delivery_date.isoformat() if invoice.delivery_date else None,
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "payment_terms": invoice.payment_terms,
        "currency": invoice.currency,
        "total_net": str(invoice.total_net),
        "total_tax": str(invoice.total_tax),
        "total_gross": str(invoice.total_gross),
        "document_type": "credit_note" if invoice.credit_note else "invoice",
    }
    return {
        "fields": {key: value for key, value in fields.items() if value is not None},
        "taxes": [{"rate": rate_text(rate), "net": str(net), "tax": str(tax)} for rate, net, tax in invoice.taxes()],
        "lines": [{"description": line.description, "quantity": qty_text(line.quantity),
                   "unit_price": str(line.unit_price), "net_amount": str(line.net), "tax_rate": rate_text(line.rate)}
                  for line in invoice.lines],
    }


# --- the invoices ---------------------------------------------------------------------------------

BUYER_DE = Party("Muster Handwerk GmbH", "Werkstraße 5", "80331", "München", "DE", vat_id="DE298765435")

TEXT_DE = Invoice(
    number="RE-2026-0147",
    issue_date=date(2026, 3, 2),
    delivery_date=date(2026, 2, 27),
    due_date=date(2026, 3, 16),
    payment_terms="Zahlbar innerhalb von 14 Tagen ohne Abzug.",
    vendor=Party("Bürowelt Schmidt GmbH", "Hauptstraße 12", "10115", "Berlin", "DE",
                 vat_id="DE136695976", tax_id="27/123/45678"),
    buyer=BUYER_DE,
    lines=[
        Line("Kopierpapier A4, 500 Blatt", Decimal(10), Decimal("4.50"), Decimal(19)),
        Line("Toner schwarz TN-2420", Decimal(2), Decimal("62.00"), Decimal(19)),
        Line("Fachbuch Buchhaltung kompakt", Decimal(1), Decimal("39.90"), Decimal(7)),
    ],
    iban="DE89370400440532013000",
    bic="COBADEFFXXX",
)

TEXT_EN = Invoice(
    number="INV-10492",
    issue_date=date(2026, 3, 2),
    due_date=date(2026, 4, 1),
    payment_terms="Payment due within 30 days of the invoice date.",
    vendor=Party("Northwind Software Ltd", "4 Harbour Square", "D02 X285", "Dublin", "IE", vat_id="IE6388047V",
                 country_name="Ireland"),
    buyer=Party("Muster Handwerk GmbH", "Werkstraße 5", "80331", "München", "DE"),
    lines=[
        Line("Annual licence Ledger Pro", Decimal(1), Decimal("1200.00"), Decimal(23)),
        Line("Support hours", Decimal(3), Decimal("95.00"), Decimal(23)),
    ],
    iban="IE29AIBK93115212345678",
    bic="AIBKIE2D",
)

FACTURX = Invoice(
    number="ZF-2026-0815",
    issue_date=date(2026, 3, 5),
    delivery_date=date(2026, 3, 3),
    due_date=date(2026, 4, 4),
    payment_terms="Zahlbar bis 04.04.2026 ohne Abzug.",
    vendor=Party("Elektro Weber GmbH", "Industriestraße 8", "50667", "Köln", "DE",
                 vat_id="DE812345673", tax_id="215/5678/9012"),
    buyer=BUYER_DE,
    lines=[
        Line("LED-Panel 60x60 cm", Decimal(12), Decimal("38.40"), Decimal(19)),
        Line("Montage (Stunden)", Decimal("3.5"), Decimal("68.00"), Decimal(19)),
    ],
    iban="DE02120300000000202051",
    bic="BYLADEM1001",
)

XRECHNUNG_CREDIT = Invoice(
    number="GS-2026-0042",
    issue_date=date(2026, 3, 10),
    due_date=date(2026, 3, 24),
    payment_terms="Der Betrag wird Ihrem Konto gutgeschrieben.",
    credit_note=True,
    vendor=Party("Stadtwerke Musterstadt GmbH", "Am Wasserturm 1", "04109", "Leipzig", "DE",
                 vat_id="DE314159262"),
    buyer=BUYER_DE,
    lines=[Line("Gutschrift Abschlag Strom Februar", Decimal(1), Decimal("84.03"), Decimal(19))],
    iban="DE12500105170648489890",
    bic="INGDDEFFXXX",
)

UBL = Invoice(
    number="UBL-7781",
    issue_date=date(2026, 3, 12),
    delivery_date=date(2026, 3, 11),
    due_date=date(2026, 4, 11),
    payment_terms="30 Tage netto",
    vendor=Party("Nordsee Logistik GmbH", "Kaiserkai 20", "20457", "Hamburg", "DE", vat_id="DE214582303"),
    buyer=BUYER_DE,
    lines=[
        Line("Palettentransport Hamburg-München", Decimal(2), Decimal("310.00"), Decimal(19)),
        Line("Zeitschriften-Versand", Decimal(40), Decimal("1.25"), Decimal(7)),
    ],
    iban="DE34200505501234567890",
    bic="HASPDEHHXXX",
)


# --- XML -------------------------------------------------------------------------------------------

END_REG = "</ram:SpecifiedTaxRegistration>"


def cii_xml(invoice: Invoice, *, xrechnung: bool) -> bytes:
    def party(p: Party) -> str:
        regs = ""
        if p.tax_id:
            regs += f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="FC">{p.tax_id}</ram:ID>{END_REG}'
        if p.vat_id:
            regs += f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{p.vat_id}</ram:ID>{END_REG}'
        return (f"<ram:Name>{escape(p.name)}</ram:Name><ram:PostalTradeAddress><ram:PostcodeCode>{p.postcode}"
                f"</ram:PostcodeCode><ram:LineOne>{escape(p.street)}</ram:LineOne><ram:CityName>{escape(p.city)}"
                f"</ram:CityName><ram:CountryID>{p.country}</ram:CountryID></ram:PostalTradeAddress>{regs}")

    def d(value: date) -> str:
        return f'<udt:DateTimeString format="102">{value:%Y%m%d}</udt:DateTimeString>'

    guideline = ("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0" if xrechnung
                 else "urn:cen.eu:en16931:2017")  # fmt: skip
    items = "".join(
        f"<ram:IncludedSupplyChainTradeLineItem><ram:AssociatedDocumentLineDocument><ram:LineID>{i}</ram:LineID>"
        f"</ram:AssociatedDocumentLineDocument><ram:SpecifiedTradeProduct><ram:Name>{escape(line.description)}"
        f"</ram:Name></ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice>"
        f"<ram:ChargeAmount>{line.unit_price}</ram:ChargeAmount></ram:NetPriceProductTradePrice>"
        f'</ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">'
        f"{qty_text(line.quantity)}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>"
        f"<ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode>"
        f"<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{rate_text(line.rate)}"
        f"</ram:RateApplicablePercent></ram:ApplicableTradeTax><ram:SpecifiedTradeSettlementLineMonetarySummation>"
        f"<ram:LineTotalAmount>{line.net}</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>"
        f"</ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>"
        for i, line in enumerate(invoice.lines, 1)
    )
    taxes = "".join(
        f"<ram:ApplicableTradeTax><ram:CalculatedAmount>{tax}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode>"
        f"<ram:BasisAmount>{net}</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode>"
        f"<ram:RateApplicablePercent>{rate_text(rate)}</ram:RateApplicablePercent></ram:ApplicableTradeTax>"
        for rate, net, tax in invoice.taxes()
    )
    delivery = (f"<ram:ActualDeliverySupplyChainEvent><ram:OccurrenceDateTime>{d(invoice.delivery_date)}"
                f"</ram:OccurrenceDateTime></ram:ActualDeliverySupplyChainEvent>" if invoice.delivery_date else "")
    terms = "<ram:SpecifiedTradePaymentTerms>"
    if invoice.payment_terms:
        terms += f"<ram:Description>{escape(invoice.payment_terms)}</ram:Description>"
    if invoice.due_date:
        terms += f"<ram:DueDateDateTime>{d(invoice.due_date)}</ram:DueDateDateTime>"
    terms += "</ram:SpecifiedTradePaymentTerms>"
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" \
xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" \
xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100" \
xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{guideline}</ram:ID>\
</ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>{invoice.number}</ram:ID><ram:TypeCode>{381 if invoice.credit_note else 380}\
</ram:TypeCode><ram:IssueDateTime>{d(invoice.issue_date)}</ram:IssueDateTime></rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction>{items}
<ram:ApplicableHeaderTradeAgreement><ram:BuyerReference>04011000-12345-34</ram:BuyerReference>\
<ram:SellerTradeParty>{party(invoice.vendor)}</ram:SellerTradeParty>\
<ram:BuyerTradeParty>{party(invoice.buyer)}</ram:BuyerTradeParty></ram:ApplicableHeaderTradeAgreement>
<ram:ApplicableHeaderTradeDelivery>{delivery}</ram:ApplicableHeaderTradeDelivery>
<ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>{invoice.currency}</ram:InvoiceCurrencyCode>\
<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode><ram:PayeePartyCreditorFinancialAccount>\
<ram:IBANID>{invoice.iban}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount>\
<ram:PayeeSpecifiedCreditorFinancialInstitution><ram:BICID>{invoice.bic}</ram:BICID>\
</ram:PayeeSpecifiedCreditorFinancialInstitution></ram:SpecifiedTradeSettlementPaymentMeans>{taxes}{terms}
<ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:LineTotalAmount>{invoice.total_net}</ram:LineTotalAmount>\
<ram:TaxBasisTotalAmount>{invoice.total_net}</ram:TaxBasisTotalAmount>\
<ram:TaxTotalAmount currencyID="{invoice.currency}">{invoice.total_tax}</ram:TaxTotalAmount>\
<ram:GrandTotalAmount>{invoice.total_gross}</ram:GrandTotalAmount>\
<ram:DuePayableAmount>{invoice.total_gross}</ram:DuePayableAmount>\
</ram:SpecifiedTradeSettlementHeaderMonetarySummation></ram:ApplicableHeaderTradeSettlement>
</rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
"""
    return xml.encode()


def ubl_xml(invoice: Invoice) -> bytes:
    cur = invoice.currency

    def party(p: Party) -> str:
        vat = (f"<cac:PartyTaxScheme><cbc:CompanyID>{p.vat_id}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID>"
               f"</cac:TaxScheme></cac:PartyTaxScheme>" if p.vat_id else "")  # fmt: skip
        return (f"<cac:Party><cac:PartyName><cbc:Name>{escape(p.name)}</cbc:Name></cac:PartyName><cac:PostalAddress>"
                f"<cbc:StreetName>{escape(p.street)}</cbc:StreetName><cbc:CityName>{escape(p.city)}</cbc:CityName>"
                f"<cbc:PostalZone>{p.postcode}</cbc:PostalZone><cac:Country><cbc:IdentificationCode>{p.country}"
                f"</cbc:IdentificationCode></cac:Country></cac:PostalAddress>{vat}<cac:PartyLegalEntity>"
                f"<cbc:RegistrationName>{escape(p.name)}</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party>")

    subtotals = "".join(
        f'<cac:TaxSubtotal><cbc:TaxableAmount currencyID="{cur}">{net}</cbc:TaxableAmount>'
        f'<cbc:TaxAmount currencyID="{cur}">{tax}</cbc:TaxAmount><cac:TaxCategory><cbc:ID>S</cbc:ID>'
        f"<cbc:Percent>{rate_text(rate)}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        f"</cac:TaxCategory></cac:TaxSubtotal>"
        for rate, net, tax in invoice.taxes()
    )
    lines = "".join(
        f'<cac:InvoiceLine><cbc:ID>{i}</cbc:ID><cbc:InvoicedQuantity unitCode="C62">{qty_text(line.quantity)}'
        f'</cbc:InvoicedQuantity><cbc:LineExtensionAmount currencyID="{cur}">{line.net}</cbc:LineExtensionAmount>'
        f"<cac:Item><cbc:Name>{escape(line.description)}</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID>"
        f"<cbc:Percent>{rate_text(line.rate)}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        f'</cac:ClassifiedTaxCategory></cac:Item><cac:Price><cbc:PriceAmount currencyID="{cur}">{line.unit_price}'
        f"</cbc:PriceAmount></cac:Price></cac:InvoiceLine>"
        for i, line in enumerate(invoice.lines, 1)
    )
    delivery = (f"<cac:Delivery><cbc:ActualDeliveryDate>{invoice.delivery_date.isoformat()}</cbc:ActualDeliveryDate>"
                f"</cac:Delivery>" if invoice.delivery_date else "")  # fmt: skip
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" \
xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" \
xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0</cbc:CustomizationID>
<cbc:ID>{invoice.number}</cbc:ID>
<cbc:IssueDate>{invoice.issue_date.isoformat()}</cbc:IssueDate>
<cbc:DueDate>{invoice.due_date.isoformat() if invoice.due_date else ""}</cbc:DueDate>
<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
<cbc:DocumentCurrencyCode>{cur}</cbc:DocumentCurrencyCode>
<cbc:BuyerReference>04011000-12345-34</cbc:BuyerReference>
<cac:AccountingSupplierParty>{party(invoice.vendor)}</cac:AccountingSupplierParty>
<cac:AccountingCustomerParty>{party(invoice.buyer)}</cac:AccountingCustomerParty>
{delivery}
<cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode><cac:PayeeFinancialAccount><cbc:ID>{invoice.iban}\
</cbc:ID><cac:FinancialInstitutionBranch><cbc:ID>{invoice.bic}</cbc:ID></cac:FinancialInstitutionBranch>\
</cac:PayeeFinancialAccount></cac:PaymentMeans>
<cac:PaymentTerms><cbc:Note>{escape(invoice.payment_terms or "")}</cbc:Note></cac:PaymentTerms>
<cac:TaxTotal><cbc:TaxAmount currencyID="{cur}">{invoice.total_tax}</cbc:TaxAmount>{subtotals}</cac:TaxTotal>
<cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="{cur}">{invoice.total_net}</cbc:LineExtensionAmount>\
<cbc:TaxExclusiveAmount currencyID="{cur}">{invoice.total_net}</cbc:TaxExclusiveAmount>\
<cbc:TaxInclusiveAmount currencyID="{cur}">{invoice.total_gross}</cbc:TaxInclusiveAmount>\
<cbc:PayableAmount currencyID="{cur}">{invoice.total_gross}</cbc:PayableAmount></cac:LegalMonetaryTotal>
{lines}
</Invoice>
"""
    return xml.encode()


# --- visual PDFs -----------------------------------------------------------------------------------

def de_amount(value: Decimal) -> str:
    whole, cents = f"{value:,.2f}".split(".")
    return f"{whole.replace(',', '.')},{cents}"


def en_amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def new_pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = "windows-1252"  # the core fonts then cover €, umlauts and ß
    pdf.set_creation_date(FIXED_TIME)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    return pdf


def german_pdf(invoice: Invoice) -> bytes:
    v, b = invoice.vendor, invoice.buyer
    pdf = new_pdf()
    pdf.set_font("Helvetica", "B", 18)
    pdf.set_xy(20, 15)
    pdf.cell(text=v.name)
    pdf.set_font("Helvetica", size=9)
    pdf.set_xy(20, 24)
    pdf.cell(text=f"{v.street} · {v.postcode} {v.city} · Telefon 030 1234567")
    pdf.set_font("Helvetica", size=7)
    pdf.set_xy(20, 45)
    pdf.cell(text=f"{v.name} · {v.street} · {v.postcode} {v.city}")
    pdf.set_font("Helvetica", size=10)
    for i, text in enumerate([b.name, "z. Hd. Frau Anna Beispiel", b.street, f"{b.postcode} {b.city}"]):
        pdf.set_xy(20, 52 + 5 * i)
        pdf.cell(text=text)
    meta = [("Rechnungsnummer:", invoice.number), ("Rechnungsdatum:", f"{invoice.issue_date:%d.%m.%Y}")]
    if invoice.delivery_date:
        meta.append(("Lieferdatum:", f"{invoice.delivery_date:%d.%m.%Y}"))
    meta.append(("Kundennummer:", "K-10023"))
    if b.vat_id:
        meta.append(("Ihre USt-IdNr.:", b.vat_id))
    for i, (label, value) in enumerate(meta):
        pdf.set_xy(125, 52 + 5 * i)
        pdf.cell(w=32, text=label)
        pdf.cell(text=value)
    pdf.set_font("Helvetica", "B", 14)
    pdf.set_xy(20, 90)
    pdf.cell(text="Gutschrift" if invoice.credit_note else "Rechnung")
    pdf.set_font("Helvetica", size=10)
    pdf.set_xy(20, 98)
    pdf.cell(text="Sehr geehrte Damen und Herren, wir berechnen Ihnen folgende Lieferungen und Leistungen:")
    columns = [(20, 10, "L"), (30, 80, "L"), (110, 18, "R"), (128, 25, "R"), (153, 14, "R"), (167, 25, "R")]
    y = 108
    pdf.set_font("Helvetica", "B", 10)
    for (x, w, align), head in zip(columns, ["Pos.", "Bezeichnung", "Menge", "Einzelpreis", "USt.", "Betrag"],
                                   strict=True):
        pdf.set_xy(x, y)
        pdf.cell(w=w, text=head, align=align)
    pdf.line(20, y + 6, 192, y + 6)
    pdf.set_font("Helvetica", size=10)
    for i, line in enumerate(invoice.lines, 1):
        y += 7
        row = [str(i), line.description, qty_text(line.quantity).replace(".", ","), f"{de_amount(line.unit_price)} €",
               f"{rate_text(line.rate)} %", f"{de_amount(line.net)} €"]
        for (x, w, align), text in zip(columns, row, strict=True):
            pdf.set_xy(x, y)
            pdf.cell(w=w, text=text, align=align)
    y += 8
    pdf.line(110, y, 192, y)
    totals = [("Zwischensumme (netto)", de_amount(invoice.total_net))]
    totals += [(f"zzgl. {rate_text(rate)} % USt. auf {de_amount(net)} €", de_amount(tax))
               for rate, net, tax in invoice.taxes()]  # fmt: skip
    totals.append(("Gesamtbetrag", de_amount(invoice.total_gross)))
    for label, value in totals:
        y += 6
        pdf.set_font("Helvetica", "B" if label == "Gesamtbetrag" else "", 10)
        pdf.set_xy(95, y)
        pdf.cell(w=72, text=label)
        pdf.set_xy(167, y)
        pdf.cell(w=25, text=f"{value} €", align="R")
    pdf.set_font("Helvetica", size=10)
    for text in [invoice.payment_terms or "", "Vielen Dank für Ihren Auftrag!"]:
        y += 12
        pdf.set_xy(20, y)
        pdf.cell(text=text)
    pdf.line(20, 270, 192, 270)
    pdf.set_font("Helvetica", size=7)
    footer = [
        f"{v.name} · Geschäftsführer: Klaus Schmidt · Amtsgericht Charlottenburg HRB 123456 B",
        f"USt-IdNr.: {v.vat_id} · Steuernummer: {v.tax_id}" if v.tax_id else f"USt-IdNr.: {v.vat_id}",
        f"Bankverbindung: Commerzbank · IBAN: {spaced(invoice.iban)} · BIC: {invoice.bic}",
    ]
    for i, text in enumerate(footer):
        pdf.set_xy(20, 272 + 4 * i)
        pdf.cell(text=text)
    return bytes(pdf.output())


def english_pdf(invoice: Invoice) -> bytes:
    v, b = invoice.vendor, invoice.buyer
    pdf = new_pdf()
    pdf.set_font("Helvetica", "B", 20)
    pdf.set_xy(20, 18)
    pdf.cell(text=v.name)
    pdf.set_font("Helvetica", size=10)
    pdf.set_xy(20, 27)
    pdf.cell(text=f"{v.street}, {v.postcode} {v.city}, {v.country_name}")
    pdf.set_xy(20, 32)
    pdf.cell(text=f"VAT No.: {v.vat_id}")
    pdf.set_font("Helvetica", "B", 16)
    pdf.set_xy(140, 18)
    pdf.cell(text="INVOICE")
    pdf.set_font("Helvetica", size=10)
    meta = [("Invoice No.:", invoice.number), ("Invoice date:", f"{invoice.issue_date:%B} {invoice.issue_date.day}, "
            f"{invoice.issue_date.year}")]  # fmt: skip
    if invoice.due_date:
        meta.append(("Due date:", f"{invoice.due_date:%B} {invoice.due_date.day}, {invoice.due_date.year}"))
    for i, (label, value) in enumerate(meta):
        pdf.set_xy(140, 27 + 5 * i)
        pdf.cell(w=25, text=label)
        pdf.cell(text=value)
    pdf.set_font("Helvetica", "B", 10)
    pdf.set_xy(20, 50)
    pdf.cell(text="Bill to:")
    pdf.set_font("Helvetica", size=10)
    for i, text in enumerate([b.name, b.street, f"{b.postcode} {b.city}", "Germany"]):
        pdf.set_xy(20, 56 + 5 * i)
        pdf.cell(text=text)
    columns = [(20, 95, "L"), (115, 15, "R"), (130, 30, "R"), (160, 32, "R")]
    y = 90
    pdf.set_font("Helvetica", "B", 10)
    for (x, w, align), head in zip(columns, ["Description", "Qty", "Unit price", "Amount"], strict=True):
        pdf.set_xy(x, y)
        pdf.cell(w=w, text=head, align=align)
    pdf.line(20, y + 6, 192, y + 6)
    pdf.set_font("Helvetica", size=10)
    for line in invoice.lines:
        y += 7
        row = [line.description, qty_text(line.quantity), en_amount(line.unit_price), en_amount(line.net)]
        for (x, w, align), text in zip(columns, row, strict=True):
            pdf.set_xy(x, y)
            pdf.cell(w=w, text=text, align=align)
    y += 8
    pdf.line(115, y, 192, y)
    totals = [("Subtotal", invoice.total_net)]
    totals += [(f"VAT {rate_text(rate)}%", tax) for rate, _, tax in invoice.taxes()]
    totals.append(("Total due", invoice.total_gross))
    for label, value in totals:
        y += 6
        pdf.set_font("Helvetica", "B" if label == "Total due" else "", 10)
        pdf.set_xy(115, y)
        pdf.cell(w=45, text=label)
        pdf.set_xy(160, y)
        pdf.cell(w=32, text=f"EUR {en_amount(value)}", align="R")
    pdf.set_font("Helvetica", size=10)
    for text in [invoice.payment_terms or "", f"Bank: AIB · IBAN: {spaced(invoice.iban)} · BIC: {invoice.bic}"]:
        y += 12
        pdf.set_xy(20, y)
        pdf.cell(text=text)
    return bytes(pdf.output())


def spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


# --- images ----------------------------------------------------------------------------------------

def render(pdf: bytes, dpi: int) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[0].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        document.close()


def add_noise(image: Image.Image, rng: random.Random, strength: float, speckles: int) -> Image.Image:
    """Seeded grain plus dark speckles, like a cheap scanner or camera sensor."""
    size = (image.width // 3, image.height // 3)  # coarse grain keeps the files small
    grain = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    mixed = Image.blend(image, grain.resize(image.size), strength)
    pixels = mixed.load()
    assert pixels is not None
    for _ in range(speckles):
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        pixels[x, y] = rng.randrange(0, 90)
    return mixed


def scanned_pdf(pdf: bytes, rng: random.Random) -> bytes:
    image = render(pdf, 200)
    image = image.rotate(0.6, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    image = add_noise(image, rng, 0.07, 1500)
    out = io.BytesIO()
    image.save(out, "PDF", resolution=200.0, quality=35, creationDate=FIXED_TIME.timetuple(),
               modDate=FIXED_TIME.timetuple())
    return out.getvalue()


def photo_png(pdf: bytes, rng: random.Random) -> bytes:
    page = render(pdf, 130)
    page = page.crop((0, 0, page.width, int(page.height * 0.62)))  # the photo shows the invoice's upper part
    # A table-grey background, the sheet slightly rotated and seen in perspective.
    w, h = page.size
    canvas = Image.new("L", (w + 120, h + 120), 150)
    canvas.paste(page, (60, 60))
    canvas = canvas.rotate(-1.8, resample=Image.Resampling.BICUBIC, fillcolor=150)
    dx = 0.03 * w
    # Pillow's QUAD is upper-left, lower-left, lower-right, upper-right of the source area.
    quad = (dx, 0, 0, canvas.height, canvas.width, canvas.height, canvas.width - dx, 0)
    canvas = canvas.transform(canvas.size, Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=150)
    # Uneven light: darker towards the bottom right.
    shade = Image.linear_gradient("L").rotate(45, expand=False).resize(canvas.size)
    canvas = Image.blend(canvas, Image.eval(shade, lambda v: 255 - v // 3), 0.15)
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.8))
    canvas = add_noise(canvas, rng, 0.06, 500)
    out = io.BytesIO()
    canvas.quantize(8).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    rng = random.Random(20260302)
    # factur-x stamps the current time into the PDF metadata; pin it so the output is reproducible.
    facturx.facturx._get_metadata_timestamp = lambda: FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%S+00:00")  # type: ignore[attr-defined]
    pdf_timestamp = facturx.facturx._get_pdf_timestamp  # type: ignore[attr-defined]
    facturx.facturx._get_pdf_timestamp = lambda date=None: pdf_timestamp(date or FIXED_TIME)  # type: ignore[attr-defined]
    de = german_pdf(TEXT_DE)
    en = english_pdf(TEXT_EN)
    facturx_pdf = facturx.generate_from_binary(
        german_pdf(FACTURX), cii_xml(FACTURX, xrechnung=False), flavor="factur-x", level="en16931",
        check_xsd=True, pdf_metadata={"author": FACTURX.vendor.name, "title": f"Rechnung {FACTURX.number}"},
    )
    files: dict[str, tuple[bytes, Invoice, str, bool]] = {
        "facturx_en16931.pdf": (facturx_pdf, FACTURX, "xml", True),
        "xrechnung_credit_note.xml": (cii_xml(XRECHNUNG_CREDIT, xrechnung=True), XRECHNUNG_CREDIT, "xml", True),
        "ubl_invoice.xml": (ubl_xml(UBL), UBL, "xml", True),
        "text_de.pdf": (de, TEXT_DE, "text", False),
        "text_en.pdf": (en, TEXT_EN, "text", False),
        "scan_de.pdf": (scanned_pdf(de, rng), TEXT_DE, "ocr", False),
        "photo_en.png": (photo_png(en, rng), TEXT_EN, "ocr", False),
    }
    facturx.xml_check_xsd(cii_xml(XRECHNUNG_CREDIT, xrechnung=True), flavor="factur-x", level="en16931")
    manifest: dict[str, object] = {}
    for name, (data, invoice, method, xml) in files.items():
        (HERE / name).write_bytes(data)
        manifest[name] = {"method": method, **expected(invoice, xml=xml)}
        print(f"{name}: {len(data) // 1024} KB")
    (HERE / "expected.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
