"""E-invoice XML (UN/CEFACT CII as in ZUGFeRD 2.x/Factur-X/XRechnung, its predecessor ZUGFeRD 1.0, and
OASIS UBL 2.1) -> ExtractedInvoice.

Parsed with lxml by local element names, so CII and UBL customizations (XRechnung, Peppol) and
namespace prefixes do not matter. ZUGFeRD 1.0 (CrossIndustryDocument) has the same structure as
CII under older element names, read through ZF1_NAMES. The parser never resolves entities, loads DTDs or touches the
network; values are taken as data only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from ledger_mcp.ledger.errors import DocumentCorrupt, UnsupportedDocument
from ledger_mcp.ledger.extraction.models import ExtractedField, ExtractedInvoice, ExtractedLine, ExtractedTax
from ledger_mcp.ledger.extraction.normalize import compact, currency_code, rate_string, xml_amount
from ledger_mcp.ledger.untrusted import mark

MAX_XML_BYTES = 20 * 1024 * 1024
TEXT_CAP = 200_000

CREDIT_NOTE_TYPES = {"381", "261", "262", "296", "308", "396", "420", "458", "532"}

_PARSER_OPTIONS = {
    "resolve_entities": False, "no_network": True, "load_dtd": False, "dtd_validation": False,
    "huge_tree": False, "remove_comments": True, "remove_pis": True,
}  # fmt: skip


def parse_xml(data: bytes, warnings: list[str] | None = None) -> etree._Element:
    """Parse untrusted XML safely; DocumentCorrupt when it is not well-formed or declares entities.

    XML whose declaration names an encoding that is unknown or does not fit its bytes ("UTF-8-W/O-BOM",
    UTF-8 declared over Windows-1252 bytes) is read anyway, decoded as its bytes allow; `warnings` says so.
    """
    if len(data) > MAX_XML_BYTES:
        raise DocumentCorrupt(
            f"XML document is {len(data)} bytes; e-invoices are far smaller.",
            hint=f"Send an invoice XML under {MAX_XML_BYTES // (1024 * 1024)} MB.",
        )
    if b"<!ENTITY" in data:
        raise DocumentCorrupt(
            "XML declares entities, which e-invoices never do; it was not parsed.",
            hint="Send the invoice XML as issued (CII or UBL, without a DOCTYPE).",
        )
    try:
        return _parse(data)
    except (etree.XMLSyntaxError, ValueError, LookupError) as exc:
        redeclared = _redeclared(data)
        if redeclared is not None and b"<!ENTITY" not in redeclared[0]:
            try:
                root = _parse(redeclared[0])
            except (etree.XMLSyntaxError, ValueError, LookupError):
                pass
            else:
                if warnings is not None:
                    warnings.append(redeclared[1])
                return root
        raise DocumentCorrupt(
            f"XML is not well-formed: {mark(str(exc), 'XML parser', 200)}",
            hint="Send the complete invoice XML; the file may be truncated.",
        ) from None


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))  # type: ignore[call-overload,no-any-return]


_DECLARATION = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']{0,40})[\"'][^>]*\?>")
_BOM = b"\xef\xbb\xbf"


def _redeclared(data: bytes) -> tuple[bytes, str] | None:
    """The document re-encoded as UTF-8 under a plain declaration, and a warning naming what was wrong; None
    when its declaration names no encoding (then the encoding was not the fault)."""
    body = data.removeprefix(_BOM)
    match = _DECLARATION.match(body)
    if match is None:
        return None
    declared = match.group(1).decode("ascii", "replace")
    rest = body[match.end() :]
    try:
        text, used = rest.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        text, used = rest.decode("cp1252", "replace"), "Windows-1252"
    warning = (f"The e-invoice XML declares the encoding {declared!r}, which does not fit its content; it was read "
               f"as {used}. Check names and addresses for misread characters and ask the sender to fix the file.")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + text.encode("utf-8"), warning


def _local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


# ZUGFeRD 1.0 names of the CII elements read here (the 2.x name on the left).
ZF1_NAMES = {
    "ExchangedDocument": "HeaderExchangedDocument",
    "SupplyChainTradeTransaction": "SpecifiedSupplyChainTradeTransaction",
    "ApplicableHeaderTradeAgreement": "ApplicableSupplyChainTradeAgreement",
    "ApplicableHeaderTradeDelivery": "ApplicableSupplyChainTradeDelivery",
    "ApplicableHeaderTradeSettlement": "ApplicableSupplyChainTradeSettlement",
    "SpecifiedTradeSettlementHeaderMonetarySummation": "SpecifiedTradeSettlementMonetarySummation",
    "SpecifiedTradeSettlementLineMonetarySummation": "SpecifiedTradeSettlementMonetarySummation",
    "SpecifiedLineTradeAgreement": "SpecifiedSupplyChainTradeAgreement",
    "SpecifiedLineTradeDelivery": "SpecifiedSupplyChainTradeDelivery",
    "SpecifiedLineTradeSettlement": "SpecifiedSupplyChainTradeSettlement",
    "RateApplicablePercent": "ApplicablePercent",
}


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    other = ZF1_NAMES.get(name)
    for child in element:
        if _local(child) in (name, other):
            yield child


def _all(element: etree._Element | None, path: str) -> list[etree._Element]:
    """Elements at a slash-separated path of local names below `element`."""
    if element is None:
        return []
    current = [element]
    for step in path.split("/"):
        current = [child for node in current for child in _children(node, step)]
    return current


def _first(element: etree._Element | None, path: str) -> etree._Element | None:
    found = _all(element, path)
    return found[0] if found else None


def _text(element: etree._Element | None, path: str) -> str | None:
    node = _first(element, path)
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.split())
    return text or None


def _cii_date(element: etree._Element | None, path: str) -> str | None:
    """CII dates are DateTimeString with format 102 (YYYYMMDD); some senders use ISO anyway."""
    raw = _text(element, path)
    if raw is None:
        return None
    digits = raw.replace("-", "")
    if len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return None


def _iso_date(raw: str | None) -> str | None:
    if raw and len(raw) >= 10 and raw[4] == "-" and raw[7] == "-" and raw[:4].isdigit():
        return raw[:10]
    return None


def _address(parts: list[str | None]) -> str | None:
    present = [p for p in parts if p]
    return ", ".join(present) or None


def extract_einvoice(data: bytes) -> ExtractedInvoice:
    """Read a CII or UBL invoice/credit note. UnsupportedDocument for any other XML."""
    warnings: list[str] = []
    root = parse_xml(data, warnings)
    name = _local(root)
    if name in ("CrossIndustryInvoice", "CrossIndustryDocument"):
        fields, taxes, lines = _read_cii(root)
    elif name in ("Invoice", "CreditNote"):
        fields, taxes, lines = _read_ubl(root)
    else:
        raise UnsupportedDocument(
            f"XML root element {mark(name)} is not an e-invoice.",
            hint="Send a CII (ZUGFeRD 1.0/2.x, Factur-X, XRechnung) or a UBL Invoice/CreditNote.",
        )
    extracted = {key: ExtractedField(value=value, source="xml", confidence=1.0, raw=value)
                 for key, value in fields.items() if value is not None}  # fmt: skip
    if "total_gross" not in extracted:
        warnings.append("The e-invoice XML has no grand total.")
    return ExtractedInvoice(
        method="xml", fields=extracted, taxes=taxes, lines=lines, text=_render(root)[:TEXT_CAP],
        pages=1, warnings=warnings,
    )


Fields = dict[str, str | None]


def _read_cii(root: etree._Element) -> tuple[Fields, list[ExtractedTax], list[ExtractedLine]]:
    document = _first(root, "ExchangedDocument")
    transaction = _first(root, "SupplyChainTradeTransaction")
    agreement = _first(transaction, "ApplicableHeaderTradeAgreement")
    settlement = _first(transaction, "ApplicableHeaderTradeSettlement")
    seller = _first(agreement, "SellerTradeParty")
    buyer = _first(agreement, "BuyerTradeParty")
    currency = currency_code(_text(settlement, "InvoiceCurrencyCode"))
    tax_currency = currency_code(_text(settlement, "TaxCurrencyCode"))

    def registration(party: etree._Element | None, scheme: str) -> str | None:
        for node in _all(party, "SpecifiedTaxRegistration/ID"):
            if node.get("schemeID") == scheme and node.text:
                return compact(node.text) if scheme == "VA" else node.text.strip()
        return None

    address = _first(seller, "PostalTradeAddress")
    postcode_city = " ".join(p for p in (_text(address, "PostcodeCode"), _text(address, "CityName")) if p)
    means = _all(settlement, "SpecifiedTradeSettlementPaymentMeans")
    iban = next((_text(m, "PayeePartyCreditorFinancialAccount/IBANID") for m in means
                 if _text(m, "PayeePartyCreditorFinancialAccount/IBANID")), None)  # fmt: skip
    bic = next((_text(m, "PayeeSpecifiedCreditorFinancialInstitution/BICID") for m in means
                if _text(m, "PayeeSpecifiedCreditorFinancialInstitution/BICID")), None)  # fmt: skip
    terms = _first(settlement, "SpecifiedTradePaymentTerms")
    summation = _first(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    tax_total, tax_in_tax_currency = _tax_totals(_all(summation, "TaxTotalAmount"), currency, tax_currency)
    type_code = _text(document, "TypeCode")
    fields: Fields = {
        "vendor_name": _text(seller, "Name"),
        "vendor_vat_id": registration(seller, "VA"),
        "vendor_tax_id": registration(seller, "FC"),
        "vendor_iban": compact(iban) if iban else None,
        "vendor_bic": compact(bic) if bic else None,
        "vendor_address": _address([_text(address, "LineOne"), _text(address, "LineTwo"), postcode_city or None,
                                    _text(address, "CountryID")]),
        "buyer_name": _text(buyer, "Name"),
        "buyer_vat_id": registration(buyer, "VA"),
        "invoice_number": _text(document, "ID"),
        "invoice_date": _cii_date(document, "IssueDateTime/DateTimeString"),
        "delivery_date": _cii_date(transaction,
                                   "ApplicableHeaderTradeDelivery/ActualDeliverySupplyChainEvent/"
                                   "OccurrenceDateTime/DateTimeString"),
        "due_date": _cii_date(terms, "DueDateDateTime/DateTimeString"),
        "payment_terms": _text(terms, "Description"),
        "currency": currency,
        "tax_currency": tax_currency,
        "tax_total_in_tax_currency": tax_in_tax_currency,
        "total_net": xml_amount(_text(summation, "TaxBasisTotalAmount")),
        "total_tax": tax_total,
        "total_gross": xml_amount(_text(summation, "GrandTotalAmount")),
        "prepaid_amount": xml_amount(_text(summation, "TotalPrepaidAmount")),
        "rounding_amount": xml_amount(_text(summation, "RoundingAmount")),
        "amount_due": xml_amount(_text(summation, "DuePayableAmount")),
        "document_type": _document_type(type_code),
        "type_code": type_code,
    }
    taxes = []
    for node in _all(settlement, "ApplicableTradeTax"):
        tax_rate = rate_string(_text(node, "RateApplicablePercent") or "0") or "0"
        taxes.append(ExtractedTax(rate=tax_rate, net=xml_amount(_text(node, "BasisAmount")) or "0.00",
                                  tax=xml_amount(_text(node, "CalculatedAmount")) or "0.00",
                                  category=_text(node, "CategoryCode")))
    lines = []
    for item in _all(transaction, "IncludedSupplyChainTradeLineItem"):
        line_settlement = _first(item, "SpecifiedLineTradeSettlement")
        rate = _text(line_settlement, "ApplicableTradeTax/RateApplicablePercent")
        lines.append(ExtractedLine(
            description=_text(item, "SpecifiedTradeProduct/Name") or "",
            quantity=_quantity(_text(item, "SpecifiedLineTradeDelivery/BilledQuantity")),
            unit_price=xml_amount(_text(item, "SpecifiedLineTradeAgreement/NetPriceProductTradePrice/ChargeAmount")),
            net_amount=xml_amount(_text(line_settlement,
                                        "SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount")),
            tax_rate=rate_string(rate) if rate else None,
        ))  # fmt: skip
    return fields, taxes, lines


def _read_ubl(root: etree._Element) -> tuple[Fields, list[ExtractedTax], list[ExtractedLine]]:
    credit = _local(root) == "CreditNote"
    seller = _first(root, "AccountingSupplierParty/Party")
    buyer = _first(root, "AccountingCustomerParty/Party")

    def party_name(party: etree._Element | None) -> str | None:
        return _text(party, "PartyLegalEntity/RegistrationName") or _text(party, "PartyName/Name")

    def vat_id(party: etree._Element | None) -> str | None:
        for scheme in _all(party, "PartyTaxScheme"):
            if (_text(scheme, "TaxScheme/ID") or "VAT").upper() == "VAT" and _text(scheme, "CompanyID"):
                return compact(_text(scheme, "CompanyID") or "")
        return None

    def tax_number(party: etree._Element | None) -> str | None:
        for scheme in _all(party, "PartyTaxScheme"):
            if (_text(scheme, "TaxScheme/ID") or "").upper() != "VAT":
                return _text(scheme, "CompanyID")
        return None

    address = _first(seller, "PostalAddress")
    postcode_city = " ".join(p for p in (_text(address, "PostalZone"), _text(address, "CityName")) if p)
    means = _all(root, "PaymentMeans")
    iban = next((_text(m, "PayeeFinancialAccount/ID") for m in means if _text(m, "PayeeFinancialAccount/ID")), None)
    bic = next((_text(m, "PayeeFinancialAccount/FinancialInstitutionBranch/ID") for m in means
                if _text(m, "PayeeFinancialAccount/FinancialInstitutionBranch/ID")), None)  # fmt: skip
    currency = currency_code(_text(root, "DocumentCurrencyCode"))
    tax_currency = currency_code(_text(root, "TaxCurrencyCode"))
    totals = _first(root, "LegalMonetaryTotal")
    tax_total, tax_in_tax_currency = _tax_totals(_all(root, "TaxTotal/TaxAmount"), currency, tax_currency)
    type_code = _text(root, "CreditNoteTypeCode") if credit else _text(root, "InvoiceTypeCode")
    fields: Fields = {
        "vendor_name": party_name(seller),
        "vendor_vat_id": vat_id(seller),
        "vendor_tax_id": tax_number(seller),
        "vendor_iban": compact(iban) if iban else None,
        "vendor_bic": compact(bic) if bic else None,
        "vendor_address": _address([_text(address, "StreetName"), _text(address, "AdditionalStreetName"),
                                    postcode_city or None, _text(address, "Country/IdentificationCode")]),
        "buyer_name": party_name(buyer),
        "buyer_vat_id": vat_id(buyer),
        "invoice_number": _text(root, "ID"),
        "invoice_date": _iso_date(_text(root, "IssueDate")),
        "delivery_date": _iso_date(_text(root, "Delivery/ActualDeliveryDate")),
        "due_date": _iso_date(_text(root, "DueDate") or _text(root, "PaymentMeans/PaymentDueDate")),
        "payment_terms": _text(root, "PaymentTerms/Note"),
        "currency": currency,
        "tax_currency": tax_currency,
        "tax_total_in_tax_currency": tax_in_tax_currency,
        "total_net": xml_amount(_text(totals, "TaxExclusiveAmount")),
        "total_tax": tax_total,
        "total_gross": xml_amount(_text(totals, "TaxInclusiveAmount")),
        "prepaid_amount": xml_amount(_text(totals, "PrepaidAmount")),
        "rounding_amount": xml_amount(_text(totals, "PayableRoundingAmount")),
        "amount_due": xml_amount(_text(totals, "PayableAmount")),
        "document_type": "credit_note" if credit else _document_type(type_code),
        "type_code": type_code or ("381" if credit else None),
    }
    taxes = []
    for node in _all(root, "TaxTotal/TaxSubtotal"):
        amount = _first(node, "TaxAmount")
        if currency and amount is not None and amount.get("currencyID") not in (None, currency):
            continue
        tax_rate = rate_string(_text(node, "TaxCategory/Percent") or "0") or "0"
        taxes.append(ExtractedTax(rate=tax_rate, net=xml_amount(_text(node, "TaxableAmount")) or "0.00",
                                  tax=xml_amount(_text(node, "TaxAmount")) or "0.00",
                                  category=_text(node, "TaxCategory/ID")))
    lines = []
    for item in _all(root, "CreditNoteLine" if credit else "InvoiceLine"):
        rate = _text(item, "Item/ClassifiedTaxCategory/Percent")
        lines.append(ExtractedLine(
            description=_text(item, "Item/Name") or _text(item, "Item/Description") or "",
            quantity=_quantity(_text(item, "CreditedQuantity" if credit else "InvoicedQuantity")),
            unit_price=xml_amount(_text(item, "Price/PriceAmount")),
            net_amount=xml_amount(_text(item, "LineExtensionAmount")),
            tax_rate=rate_string(rate) if rate else None,
        ))  # fmt: skip
    return fields, taxes, lines


def _tax_totals(nodes: list[etree._Element], currency: str | None,
                tax_currency: str | None) -> tuple[str | None, str | None]:
    """The VAT total in the invoice currency (BT-110) and, when another VAT accounting currency is named,
    in that currency (BT-111): both are TaxTotalAmount/TaxAmount, told apart by currencyID."""
    in_invoice = in_tax = None
    for node in nodes:
        amount, unit = xml_amount(node.text), node.get("currencyID")
        if tax_currency and tax_currency != currency and unit == tax_currency:
            in_tax = amount
        elif in_invoice is None or (currency and unit == currency):
            in_invoice = amount
    return in_invoice, in_tax


def _document_type(type_code: str | None) -> str:
    return "credit_note" if type_code in CREDIT_NOTE_TYPES else "invoice"


def _quantity(text: str | None) -> str | None:
    if text is None:
        return None
    amount = xml_amount(text)
    if amount is None:
        return None
    # Quantities print without trailing zeros: "10", "1.5".
    return amount.rstrip("0").rstrip(".") if "." in amount else amount


def _render(root: etree._Element) -> str:
    """A readable rendering for the reviewer: one "Element: text" line per leaf with text."""
    out: list[str] = []
    for element in root.iter():
        if not isinstance(element.tag, str) or len(element):
            continue
        text = " ".join((element.text or "").split())
        if text:
            attrs = " ".join(f"{k.rsplit('}', 1)[-1]}={v}" for k, v in element.attrib.items())
            out.append(f"{_local(element)}{f' ({attrs})' if attrs else ''}: {text}")
    return "\n".join(out)
