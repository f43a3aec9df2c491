"""What extraction returns: normalized invoice fields, each with where it came from and how sure we are."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Source = Literal["xml", "text", "ocr"]

# Field keys an ExtractedInvoice may carry (absent when not found).
FIELD_NAMES: tuple[str, ...] = (
    "vendor_name", "vendor_vat_id", "vendor_tax_id", "vendor_iban", "vendor_bic", "vendor_address",
    "buyer_name", "buyer_vat_id", "invoice_number", "invoice_date", "delivery_date", "due_date",
    "payment_terms", "currency", "tax_currency", "tax_total_in_tax_currency", "total_net", "total_tax",
    "total_gross", "prepaid_amount", "rounding_amount", "amount_due", "document_type", "type_code",
)  # fmt: skip
# currency: the invoice currency (BT-5); tax_currency: the VAT accounting currency when the invoice names
# another one (BT-6), and tax_total_in_tax_currency the VAT total in it (BT-111). prepaid_amount (BT-113),
# rounding_amount (BT-114) and amount_due (BT-115: gross - prepaid + rounding) come from e-invoice XML only.
# type_code: the UNTDID 1001 document type as stated (380 invoice, 381 credit note, 384 correction,
# 389 self-billed invoice, ...); document_type is what it means for booking (invoice or credit_note).


class ExtractedField(BaseModel):
    """One value read from a document.

    value: normalized (dates ISO YYYY-MM-DD, amounts decimal strings with a dot, currency ISO 4217,
        IBAN/VAT ID compact uppercase). None is allowed for a field known to be present but unreadable;
        `extract` leaves unreadable fields out instead.
    source: the cascade step it came from.
    confidence: 1.0 for e-invoice XML; for text and OCR an estimate in [0, 1].
    raw: the document text the value was read from, for the reviewer.
    """

    model_config = ConfigDict(frozen=True)

    value: str | None
    source: Source
    confidence: float
    raw: str | None = None


class ExtractedTax(BaseModel):
    """One VAT rate's subtotal: rate in percent ("19"), net and tax as decimal strings, category code
    (CII/UBL: S standard, Z zero, E exempt, AE reverse charge, K intra-EU supply, ...)."""

    model_config = ConfigDict(frozen=True)

    rate: str
    net: str
    tax: str
    category: str | None = None


class ExtractedLine(BaseModel):
    """One invoice line as printed: amounts are decimal strings, tax_rate in percent."""

    model_config = ConfigDict(frozen=True)

    description: str
    quantity: str | None = None
    unit_price: str | None = None
    net_amount: str | None = None
    tax_rate: str | None = None


class ExtractedInvoice(BaseModel):
    """The result of `extract`.

    method: the cascade step that produced the fields (xml, text or ocr).
    fields: keys from FIELD_NAMES that were found.
    taxes / lines: VAT subtotals per rate and invoice lines, where the document allows.
    text: the document's text (a readable rendering of XML, the PDF text layer, or OCR output), capped.
    pages: pages in the document (1 for XML and images).
    warnings: what the reviewer should know (totals that do not add up, pages skipped, ...).
    """

    method: Source
    fields: dict[str, ExtractedField]
    taxes: list[ExtractedTax]
    lines: list[ExtractedLine]
    text: str
    pages: int
    warnings: list[str]

    def value(self, name: str) -> str | None:
        """The normalized value of a field, or None when it was not found."""
        found = self.fields.get(name)
        return found.value if found else None
