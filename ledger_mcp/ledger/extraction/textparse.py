"""Invoice fields from plain text (a PDF text layer or OCR output), German and English.

Label-driven: each field has label patterns; the value is read after the label on the same line or,
for stacked layouts, alone on the next line. Identifiers are validated (IBAN check digits via
schwifty, VAT IDs via python-stdnum) and totals are cross-checked (net + tax = gross); both raise
or lower the confidence. The text is untrusted data: it is matched against patterns, never executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from ledger_mcp.ledger.extraction.models import ExtractedField, ExtractedLine, ExtractedTax, Source
from ledger_mcp.ledger.extraction.normalize import (
    AMOUNT,
    compact,
    currency_code,
    decimal_string,
    find_date,
    parse_amount,
    rate_string,
    valid_bic,
    valid_iban,
    valid_vat_id,
)

# Base confidences for a value found after its label in a text layer; OCR scales them down.
LABELLED = 0.85
VALIDATED = 0.97  # a check digit or the totals cross-check confirmed it
GUESSED = 0.5  # found by position or inference, not by a label

_I = re.IGNORECASE


def _labels(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-zÄÖÜäöüß])(?:" + "|".join(patterns) + r")", _I)


INVOICE_NUMBER = _labels(
    r"Rechnung[se]?\s?-?\s?(?:nummer|nr\.?)",  # "Rechnungenummer": an OCR slip
    # A document title, any kind of invoice or credit, with a code or remark in brackets and a date before the
    # number: "Handelsrechnung Nr.", "Gutschrift (Selbst ausgestellte Rechnung) Nr.", "Beitragsrechnung 24.01.2014 Nr.".
    r"[A-Za-zÄÖÜäöüß-]*(?:rechnung|gutschrift|korrektur)(?:\s+(?:des|der)\s+[A-ZÄÖÜ][a-zäöüß]+)?"
    r"(?:\s*\([^)]{0,60}\))?(?:\s+\d{1,2}\.\d{1,2}\.\d{4})?\s+(?:Nr\.?|Nummer|No\.?)",
    # Any title with its document type code: "Rechnungskorrektur (384) 16.09.2018 Nr. RK21012345".
    r"\(\d{3}\)(?:\s+\d{1,2}\.\d{1,2}\.\d{4})?\s+Nr\.?",
    r"Beleg\s?-?\s?(?:nummer|nr\.?)", r"Facture\s*(?:N°|No\.?)?", r"Avoir\s*(?:N°|No\.?)?", r"Rechnung\s*#",
    # A title followed by nothing but the number: "Invoice FA-2017-0008".
    r"(?:Invoice|Rechnung|Credit\s+note)(?=\s+[A-Z0-9][A-Z0-9\-/_.]*\d[A-Z0-9\-/_]*\s*$)",
    r"Gutschrifts?\s?-?\s?(?:nummer|nr\.?)", r"Gutschrift\s+Nr\.?", r"Invoice\s*(?:No\.?|Number|#|Nr\.?)",
    r"Credit\s+note\s+(?:No\.?|number)", r"Document\s+(?:No\.?|number)",
)
INVOICE_DATE = _labels(r"Rechnungsdatum", r"Belegdatum", r"Gutschriftsdatum", r"Invoice\s+date", r"Date\s+of\s+issue",
                       r"Ausstellungsdatum", r"Datum", r"Date")  # fmt: skip
DELIVERY_DATE = _labels(r"Liefer(?:datum|tag)", r"Leistungsdatum", r"Leistungszeitraum", r"Delivery\s+date",
                        r"Date\s+of\s+(?:supply|delivery)", r"Service\s+date")  # fmt: skip
DUE_DATE = _labels(r"fällig\s+(?:am|bis|zum)", r"zahlbar\s+bis(?:\s+zum)?", r"Fälligkeit(?:sdatum)?", r"Due\s+date",
                   r"Payment\s+due(?:\s+date)?", r"due\s+(?:on|by)", r"Zahlungsziel")  # fmt: skip
TERMS = _labels(r"zahlbar", r"Zahlungsziel", r"Zahlungsbedingungen?", r"Payment\s+terms?", r"payable\s+within",
                r"payment\s+due\s+within", r"due\s+within", r"net\s+\d+\s+days", r"\d+\s+Tage\s+netto")  # fmt: skip
TERM_DAYS = re.compile(r"(\d{1,3})\s*(?:Tage|Tagen|days)|net\s+(\d{1,3})|netto\s+(\d{1,3})", _I)
VAT_LABEL = _labels(r"USt\.?\s?-?\s?Id(?:ent)?\.?\s?-?\s?(?:Nr\.?|Nummer)?", r"UID(?:-Nr\.?)?",
                    r"Umsatzsteuer-?\s?Ident(?:ifikations)?-?\s?(?:nummer|nr\.?)", r"VAT\s*(?:ID|No\.?|Number|Reg\.?)",
                    r"VAT\s+registration\s+(?:no\.?|number)", r"TVA", r"P\.?IVA")  # fmt: skip
BUYER_HINT = re.compile(r"Ihre|Kunden|Customer|Buyer|Your|Leistungsempfänger|Rechnungsempfänger|Bill\s+to|client|"
                        r"acheteur|Käufer", _I)
TAX_NUMBER = re.compile(r"(?<![A-Za-zÄÖÜäöüß-])(?:Steuer\s?-?\s?(?:nummer|nr\.?)|St\.?\s?-?\s?Nr\.?|"
                        r"Tax\s+(?:No\.?|number))\s*:?\s*(\d{2,3}\s?/\s?\d{3,4}\s?/\s?\d{4,5}|\d{10,13})",
                        _I)  # fmt: skip
VAT_CANDIDATE = re.compile(
    r"\b(?:DE\s?\d{3}\s?\d{3}\s?\d{3}|ATU\s?\d{8}|(?:AT|BE|BG|CY|CZ|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT"
    r"|RO|SE|SI|SK|XI|GB)\s?[0-9A-Z]{2}[0-9A-Z+*]{6,11})\b"
)
IBAN_CANDIDATE = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?\b")
BIC_CANDIDATE = re.compile(r"(?:BIC|SWIFT)(?:\s*/\s*SWIFT)?(?:-Code)?\s*:?\s*"
                           r"([A-Z]{4}\s?[A-Z]{2}\s?[A-Z0-9]{2}(?:\s?[A-Z0-9]{3})?)\b")
MONTH_FIRST = re.compile(r"(?<![\d/])(?:0?[1-9]|1[0-2])/(?:1[3-9]|2\d|3[01])/\d{4}")
DATE_FOLLOWS = re.compile(r"\b(?:vom|from|du|dated|of)\s*$", _I)
# Dates in a page's header that are not the issue date: versions of the software or form that printed it.
NOT_ISSUE = re.compile(r"Version|Stand\b|gedruckt|printed|Druckdatum|\(c\)|©", _I)
INVOICE_NUMBER_VALUE = re.compile(r"[:#.]?\s*([A-Z0-9][A-Z0-9\-/_.]*\d[A-Z0-9\-/_]*|\d+)", _I)

# Insurance premium invoices (Beitragsrechnung) state the premium before and after insurance tax.
NET_LABEL = _labels(r"Nettobetrag", r"Gesamtbeitrag", r"Nettobeitrag",
                    r"Netto\s?-?\s?(?:summe|betrag|gesamt)", r"Summe\s+netto", r"Gesamt\s+netto",
                    r"Zwischensumme", r"Warenwert", r"Rechnungsbetrag\s+netto", r"Net\s+(?:total|amount)", r"Subtotal",
                    r"Sub-total", r"Total\s+(?:net|excl\.?(?:uding)?\s+VAT|before\s+tax)", r"Amount\s+excl\.?\s+VAT",
                    r"(?:Rechnungs)?[Ss]umme\s+ohne\s+(?:USt|MwSt)\.?", r"Gesamtbetrag\s+ohne\s+(?:USt|MwSt)\.?",
                    r"Total\s+HT", r"Netto")  # fmt: skip
GROSS_LABEL = _labels(r"Gesamtbetrag(?!\s+der\s+(?:Zu|Ab)schl)", r"Rechnungsbeitrag",
                      r"Rechnungsbetrag", r"Bruttobetrag", r"Gesamtsumme",
                      r"Endbetrag", r"Rechnungssumme(?:\s+(?:mit|inkl\.?)\s+(?:USt|MwSt)\.?)?", r"Total\s+TTC",
                      r"Summe\s+brutto", r"Gesamt\s+brutto", r"Brutto(?:summe)?(?!preis)",
                      r"Total\s+due", r"Grand\s+total", r"Total\s+amount",
                      r"Total\s+incl\.?(?:uding)?\s+VAT", r"Invoice\s+total", r"Total(?!\s*(?:net|excl|VAT|tax))",
                      r"Gesamt(?![a-zäöüß]|\s*netto)", r"Summe(?![a-zäöüß]|\s*netto)")  # fmt: skip
# The amount payable (BT-115): the gross less what was prepaid; never the gross itself.
AMOUNT_DUE_LABEL = _labels(r"Zahlbetrag", r"zu\s+zahlen(?:der\s+Betrag)?", r"Amount\s+due", r"Balance\s+due",
                           r"Solde\s+à\s+payer", r"Net\s+à\s+payer", r"Restbetrag")  # fmt: skip
TAX_TOTAL_LABEL = _labels(r"(?:Summe|Gesamt)\s+(?:MwSt|USt|Umsatzsteuer|Mehrwertsteuer)",
                          r"(?:MwSt|USt|Umsatzsteuer|Mehrwertsteuer)\.?\s+(?:Gesamt|Summe)(?![a-zäöüß])",
                          r"Total\s+(?:VAT|tax)", r"Versicherungsteuer(?![a-zäöüß])",
                          r"Total\s+(?:taxes|TVA)", r"Steuerbetrag(?:\s+in\s+[A-Z]{3})?(?=\s*:?\s*-?\d)",
                          r"VAT\s+total", r"Tax\s+total", r"MwSt\.?-?Betrag", r"USt\.?-?Betrag")  # fmt: skip
TAX_WORD = r"(?:MwSt|USt|Umsatzsteuer|Mehrwertsteuer|Versicherungsteuer|VAT|Tax|Steuer)\.?"
RATE = r"(\d{1,2}(?:[.,]\d{1,2})?)\s?%"
TAX_RATE_LINE = re.compile(rf"{TAX_WORD}\s*(?:\(\s*)?{RATE}|{RATE}\s*{TAX_WORD}", _I)
REVERSE_CHARGE = re.compile(r"Steuerschuldnerschaft\s+des\s+Leistungsempfängers|reverse\s+charge|§\s?13b", _I)
INTRA_EU = re.compile(r"innergemeinschaftliche\s+Lieferung|intra-community\s+supply", _I)
CREDIT_NOTE = re.compile(r"^\s*(?:Credit\s+note|Rechnungskorrektur|Korrekturrechnung|Stornorechnung|Storno|Avoir)\b",
                         _I | re.M)
# A "Gutschrift" is, under §14 (2) UStG, an invoice the buyer issues for the seller (self-billing, type 389);
# only with words of correction or refund is it the credit note of everyday speech.
SELF_BILLED = re.compile(r"^\s*Gutschrift\b", _I | re.M)
CORRECTION_WORDS = re.compile(r"Korrektur|Storno|Erstattung|Rückerstattung|Rückvergütung|Minderung|Retoure|"
                              r"zu\s+(?:unserer\s+|der\s+)?Rechnung", _I)
INVOICE_WORD = re.compile(r"\b(?:Rechnung|Invoice|Tax\s+invoice)\b", _I)
LEGAL_FORM = re.compile(r"\b(?:GmbH(?:\s*&\s*Co\.?\s*KG)?|AG|UG|KG|OHG|e\.\s?K\.|GbR|mbH|Ltd\.?|Limited|Inc\.?|LLC|"
                        r"S\.A\.|SAS|SARL|S\.r\.l\.|B\.V\.|N\.V\.|plc|e\.V\.|a\.\s?G\.)(?=$|[\s,·|])")  # fmt: skip
BUYER_BLOCK = re.compile(r"(?:Rechnungsempfänger|Rechnung\s+an|Bill\s+to|Invoice\s+to|Kunde|Customer|Sold\s+to|"
                         r"K[aä]ufer(?:/Leistungsempf[aä]nger)?|Leistungsempf[aä]nger|An(?=\s*:|\s*$))"
                         r"(?![A-Za-zÄÖÜäöüß])\s*:?", _I)
VENDOR_LABEL = _labels(r"Rechnungssteller\s*:", r"Verk[aä]ufer\s*:", r"Lieferant\s*:", r"Seller\s*:", r"Supplier\s*:",
                       r"Vendor\s*:", r"From\s*:", r"(?:Rechnungssteller|Verk[aä]ufer|Seller|Supplier)(?![-\w])",
                       r"Lieferant\s*$")
NAME_PREFIX = re.compile(r"^\s*(?:Name|Firma|Company)?\s*:?\s*", _I)
# Lines in a party block that are identifiers, not the party's name.
IDENTIFIER_LINE = re.compile(r"^(?:Globale\s+Nummer|Nummer|GLN|GTIN|Lief(?:eranten)?-?Nr|Kunden-?Nr|ID)\b|"
                             r"\((?:GTIN|GLN)\)|^[\w .-]{1,25}:\s*[\d /-]+$", _I)
SEPARATORS = re.compile(r"\s*(?:·|•|●|\||\s-\s|,|;)\s*")
COPYRIGHT = re.compile(r"^\s*(?:\(c\)|©|Copyright)", _I)
# Postcode + city: German/Austrian/Swiss digits, Irish Eircode, UK postcode.
POSTCODE_CITY = re.compile(r"^(?:[A-Z]{1,2}-)?(?:\d{4,5}|[A-Z]\d{2}\s?[A-Z0-9]{4}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})"
                           r"\s+\S+")
STREET = re.compile(r"^(?:[A-Za-zÄÖÜäöüß.\- ]+\s\d+\s?[a-zA-Z]?|\d+[a-zA-Z]?\s+[A-Za-zÄÖÜäöüß.\- ]+)$")
CONTACT = re.compile(r"Tel|Fon|Fax|Mail|@|www\.|http|Telefon|Phone|Mobil", _I)
COUNTRY_NAMES = re.compile(r"(?:Deutschland|Germany|Österreich|Austria|Schweiz|Switzerland|Ireland|Irland|France|"
                           r"Frankreich|Nederland|Niederlande|Netherlands|Belgium|Belgien|Italy|Italien|Spain|"
                           r"Spanien|Poland|Polen|Luxembourg|Luxemburg|United Kingdom|UK)\b", _I)  # fmt: skip
LINE_HEADER = re.compile(r"(?:Bezeichnung|Beschreibung|Artikel|Leistung|Description|Item|Produkt|Product)", _I)
LINE_QTY_HEADER = re.compile(r"(?:Menge|Anzahl|Qty|Quantity|Stück|Anz\.)", _I)
AMT = r"-?\d{1,3}(?:[.,' ]\d{3})*[.,]\d{2}|-?\d+[.,]\d{2}"
CUR = r"(?:\s?(?:€|EUR|\$|USD|£|GBP))?"
LINE_ITEM = re.compile(
    rf"^(?:(?:Pos\.?\s*)?\d{{1,3}}\.?\s+)?(?P<desc>.*?[A-Za-zÄÖÜäöüß].*?)\s+(?P<qty>\d+(?:[.,]\d{{1,3}})?)\s*"
    rf"(?:x|Stk\.?|St\.?|Stück|pcs\.?|h|Std\.?|Std|psch\.?|pauschal)?\s+(?:(?:€|EUR|\$|USD|£|GBP)\s?)?(?P<price>{AMT}|\d+){CUR}"
    rf"\s+(?:(?P<rate>\d{{1,2}}(?:[.,]\d{{1,2}})?)\s?%\s+)?(?:(?:€|EUR|\$|USD|£|GBP)\s?)?(?P<net>{AMT}){CUR}$",
    _I,
)


MAX_LINE = 300
_PHRASES = {"vendor_name", "buyer_name", "vendor_address", "payment_terms"}


@dataclass
class ParsedText:
    fields: dict[str, ExtractedField] = field(default_factory=dict)
    taxes: list[ExtractedTax] = field(default_factory=list)
    lines: list[ExtractedLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Parser:
    text: str
    source: Source
    scale: float  # multiplies every confidence: 1.0 for a text layer, below for OCR
    lines: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # the lines as printed, spacing kept (column positions)
    # The same lines with wide gaps (separate columns that OCR put on one line) turned into " | ".
    segmented: list[str] = field(default_factory=list)
    out: ParsedText = field(default_factory=ParsedText)
    month_first: bool = False  # slash dates are US style (11/17/2017 somewhere in the text)

    def date(self, text: str) -> tuple[str, int, int] | None:
        """The earliest date in `text`, its slash form read month first where the document writes them so."""
        found = find_date(text)
        if found is None or not self.month_first or "/" not in text[found[1] : found[2]]:
            return found
        year, month, day = found[0].split("-")
        try:
            return date(int(year), int(day), int(month)).isoformat(), found[1], found[2]
        except ValueError:
            return found

    def put(self, name: str, value: str | None, confidence: float, raw: str | None) -> None:
        if value is None or name in self.out.fields:
            return
        if name in _PHRASES:
            value = clean(value)
            if not value:
                return
        self.out.fields[name] = ExtractedField(value=value, source=self.source,
                                               confidence=round(min(1.0, confidence * self.scale), 3),
                                               raw=raw.strip()[:200] if raw else None)  # fmt: skip

    def set_confidence(self, name: str, confidence: float) -> None:
        found = self.out.fields.get(name)
        if found is not None:
            self.out.fields[name] = found.model_copy(update={"confidence": round(min(1.0, confidence * self.scale), 3)})

    def after_label(self, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
        """(text after the label on its line, the whole line) for every label hit, plus the next line when the
        label stands alone (stacked label/value layout)."""
        hits: list[tuple[str, str]] = []
        for index, line in enumerate(self.lines):
            for match in pattern.finditer(line):
                rest = line[match.end() :].lstrip(" :.#\t")
                hits.append((rest, line))
                if not rest.strip() and index + 1 < len(self.lines):
                    hits.append((self.lines[index + 1], self.lines[index + 1]))
        return hits


def parse_text(text: str, *, source: Source = "text", scale: float = 1.0) -> ParsedText:
    """All fields that can be read from `text`."""
    parser = _Parser(text=text, source=source, scale=scale)
    # Invoice lines are short; capping them bounds the regex work on hostile or garbled text.
    raw_lines = [line[:MAX_LINE] for line in text.splitlines() if line.strip()]
    parser.raw = raw_lines
    parser.month_first = MONTH_FIRST.search(text) is not None
    parser.lines = [" ".join(line.split()) for line in raw_lines]
    parser.segmented = [" | ".join(" ".join(cell.split()) for cell in re.split(r"\s{3,}", line.strip()))
                        for line in raw_lines]  # fmt: skip
    _identifiers(parser)
    _numbers_and_dates(parser)
    _parties(parser)
    _currency(parser)
    _document_type(parser)
    _line_items(parser)
    _amounts(parser)
    _payment_terms(parser)
    return parser.out


# --- identifiers -----------------------------------------------------------------------------------

def _identifiers(p: _Parser) -> None:
    iban_spans: list[tuple[int, str]] = []
    for index, line in enumerate(p.lines):
        for match in IBAN_CANDIDATE.finditer(line):
            candidate = compact(match.group(0))
            # The pattern may swallow a following word ("... 00 BIC"): shorten until the check digits fit.
            for end in range(len(candidate), 14, -1):
                iban = valid_iban(candidate[:end])
                if iban:
                    iban_spans.append((index, match.group(0)))
                    labelled = "IBAN" in line.upper()
                    p.put("vendor_iban", iban, VALIDATED if labelled else LABELLED, line)
                    break
    for line in p.lines:
        bic_match = BIC_CANDIDATE.search(line.upper())
        if bic_match:
            bic = valid_bic(bic_match.group(1))
            if bic:
                p.put("vendor_bic", bic, VALIDATED, line)
    if re.search(r"Lastschrift|direct\s+debit|abgebucht|SEPA-Mandat", p.text, _I) and "vendor_iban" in p.out.fields:
        p.out.warnings.append("The document mentions a direct debit: the IBAN found may be the buyer's account.")
    in_buyer_block = _buyer_block_lines(p)
    for index, line in enumerate(p.lines):
        masked = line
        for span_index, span in iban_spans:
            if span_index == index:
                masked = masked.replace(span, " ")
        if p.source == "ocr":
            masked = _repair_country_codes(masked)
        for vat_match in VAT_CANDIDATE.finditer(masked.upper()):
            vat = valid_vat_id(vat_match.group(0))
            labelled = VAT_LABEL.search(line) is not None
            if vat is None and not labelled:
                continue
            value = vat or compact(vat_match.group(0))
            confidence = VALIDATED if vat and labelled else LABELLED if vat else GUESSED
            is_buyer = index in in_buyer_block or BUYER_HINT.search(line[: vat_match.start()] or line) is not None
            p.put("buyer_vat_id" if is_buyer else "vendor_vat_id", value, confidence, line)
    for line in p.lines:
        tax_match = TAX_NUMBER.search(line)
        if tax_match:
            p.put("vendor_tax_id", re.sub(r"\s", "", tax_match.group(1)), LABELLED, line)


def _buyer_block_lines(p: _Parser) -> set[int]:
    """Lines of a block headed "Käufer:", "Rechnungsempfänger:" and the like: what they hold is the buyer's.
    A block ends at a seller's heading or after eight lines."""
    inside: set[int] = set()
    for index, line in enumerate(p.lines):
        if BUYER_BLOCK.match(line) and line.rstrip().endswith(":"):
            for offset in range(1, 9):
                if index + offset >= len(p.lines) or VENDOR_LABEL.match(p.lines[index + offset]):
                    break
                inside.add(index + offset)
    return inside


# Characters OCR confuses with the letters of a country code ("1E6388047V" for IE6388047V).
_LOOKALIKES = str.maketrans({"1": "I", "l": "I", "|": "I", "0": "O", "5": "S", "8": "B"})
_COUNTRY_TYPO = re.compile(r"(?<![A-Za-z0-9])([A-Z1l|05][A-Z1l|05])(?=\s?\d{7,})")


def _repair_country_codes(line: str) -> str:
    """Fix look-alike digits in what may be a VAT ID's country prefix; stdnum's check digit decides later."""
    return _COUNTRY_TYPO.sub(lambda m: m.group(1).translate(_LOOKALIKES), line)


def _numbers_and_dates(p: _Parser) -> None:
    number_line = None
    for rest, line in p.after_label(INVOICE_NUMBER):
        match = INVOICE_NUMBER_VALUE.match(rest)
        if match and find_date(match.group(1)) is None:
            p.put("invoice_number", match.group(1).rstrip("."), LABELLED, line)
            number_line = line
            break
    for name, pattern in (("delivery_date", DELIVERY_DATE), ("due_date", DUE_DATE), ("invoice_date", INVOICE_DATE)):
        for rest, line in p.after_label(pattern):
            if name == "invoice_date" and (DELIVERY_DATE.search(line) or DUE_DATE.search(line)):
                continue
            found = p.date(rest[:40])
            if found:
                p.put(name, found[0], LABELLED, line)
                break
    title_date = p.date(number_line) if number_line else None
    if number_line and title_date is None and DATE_FOLLOWS.search(number_line):
        # "Nr. 471102 vom" with the date wrapped onto the next line.
        following = p.lines.index(number_line) + 1
        title_date = p.date(p.lines[following]) if following < len(p.lines) else None
    if "invoice_date" not in p.out.fields and title_date:
        # "Rechnung Nr. 4711 vom 05.03.2018": the date on the invoice number's line is the issue date.
        p.put("invoice_date", title_date[0], LABELLED, number_line)
    if "invoice_date" not in p.out.fields:
        # No labelled date: the first date in the top part of the first page is usually the issue date.
        for line in p.lines[:25]:
            found = p.date(line)
            if found and not DELIVERY_DATE.search(line) and not DUE_DATE.search(line) and not NOT_ISSUE.search(line):
                p.put("invoice_date", found[0], GUESSED, line)
                break


# --- parties ---------------------------------------------------------------------------------------

def _parties(p: _Parser) -> None:
    top = [_first_segment(line) if BUYER_BLOCK.match(line) is None else line for line in p.segmented[:20]]
    buyer_index = None
    for index, line in enumerate(top):
        if BUYER_BLOCK.match(line):
            rest = BUYER_BLOCK.sub("", line, count=1).strip(" :")
            if rest and LEGAL_FORM.search(rest):
                p.put("buyer_name", rest, LABELLED, line)
            elif index + 1 < len(top):
                p.put("buyer_name", top[index + 1], LABELLED, top[index + 1])
            buyer_index = index
            break
    for index, line in enumerate(p.segmented):
        cells = line.split(" | ")
        match = VENDOR_LABEL.match(cells[0])
        if match is None:
            continue
        # The name follows the label, or is the first line below it that is no identifier (GTIN, GLN, number).
        # Columns side by side (seller | buyer): the seller's is the first.
        beside = cells[1:2] if not cells[0][match.end() :].strip() and not BUYER_BLOCK.match(cells[1:2][0] if
                                                                                              cells[1:] else "") else []
        below = [_left_column(following) for following in p.segmented[index + 1 : index + 5]]
        candidates = [NAME_PREFIX.sub("", c) for c in [cells[0][match.end() :], *beside, *below]]
        name = next((c for c in candidates if c and not IDENTIFIER_LINE.search(c) and not find_date(c)
                     and not c.endswith(":") and re.search(r"[A-Za-zÄÖÜäöüß]{2}", c)), None)
        if name:
            p.put("vendor_name", name, LABELLED, line)
            break
    # DIN 5008 return-address line above the address window: "Vendor GmbH · Street 1 · 12345 City".
    for index, line in enumerate(top):
        parts = [part for part in SEPARATORS.split(line) if part]
        if len(parts) >= 3 and LEGAL_FORM.search(parts[0]) and any(POSTCODE_CITY.match(x) for x in parts[1:]):
            if parts[0] not in (top[0], p.out.fields.get("vendor_name", _NONE).value):
                continue  # a line naming someone else; the letterhead decides below
            if "buyer_name" not in p.out.fields and index + 1 < len(top):
                p.put("buyer_name", top[index + 1], GUESSED + 0.2, top[index + 1])
    for index, line in enumerate(top):
        if index == buyer_index or (buyer_index is not None and buyer_index < index <= buyer_index + 1):
            continue
        # The part of the line that carries the legal form (OCR may put stray marks in front of it).
        name = next((part for part in SEPARATORS.split(line) if _named(part)), None)
        if name and not COPYRIGHT.match(line) and not INVOICE_WORD.search(name):
            above = top[0].split(" | ")[0]
            if index == 1 and name == line.split(" | ")[0] and _name_start(above):
                name = f"{above} {name}"  # a letterhead name wrapped over the first two lines
            p.put("vendor_name", name, LABELLED, line)
            break
    if "vendor_name" not in p.out.fields:
        # A return-address line anywhere (some layouts print the letterhead at the foot of the page).
        for line in p.segmented:
            parts = [part for part in SEPARATORS.split(line) if part]
            if len(parts) >= 3 and LEGAL_FORM.search(parts[0]) and any(POSTCODE_CITY.match(x) for x in parts[1:]):
                p.put("vendor_name", parts[0], LABELLED, line)
                break
    if "vendor_name" not in p.out.fields and p.lines:
        first = next((line for line in top if not INVOICE_WORD.fullmatch(line) and not find_date(line)), None)
        if first:
            p.put("vendor_name", first, GUESSED, first)
    vendor = p.out.fields.get("vendor_name")
    if vendor is not None and vendor.value:
        _vendor_address(p, vendor.value)


_NONE = ExtractedField(value=None, source="text", confidence=0.0)
_JUNK_START = re.compile(r"^[^\wÄÖÜäöüß]+")
_JUNK_END = re.compile(r"\s+[^\wÄÖÜäöüß€$£%)]+$")


def _named(part: str) -> bool:
    """A name with its legal form ("Au bon moulin SARL"), not a phrase starting with one ("SARL au capital")."""
    found = LEGAL_FORM.search(part)
    return found is not None and bool(part[: found.start()].strip())


def _left_column(line: str) -> str:
    """The first column of a segmented line, with its value when the column is a key ("Name: | Lieferant")."""
    cells = line.split(" | ")
    keyed = cells[0].endswith(":") or (len(cells) > 1 and cells[1].startswith(":"))
    return " ".join(cells[:2]) if keyed else cells[0]


def _name_start(line: str) -> bool:
    """A first line that can be the start of a wrapped name: a few words, no number, form or contact."""
    return (len(line.split()) <= 4 and not re.search(r"\d|:", line) and not LEGAL_FORM.search(line)
            and not CONTACT.search(line) and not INVOICE_WORD.search(line) and not BUYER_BLOCK.match(line))


def _first_segment(line: str) -> str:
    """A line up to the first column gap: OCR joins the address window and the meta data column."""
    first = line.split(" | ", 1)[0]
    return first if re.search(r"\d{4,5}\s|GmbH|AG\b|Ltd|Inc", first) else line


def clean(text: str) -> str:
    """Strip the stray marks OCR leaves around a phrase (quotes, bars, dots after a gap)."""
    return _JUNK_END.sub("", _JUNK_START.sub("", text.strip())).strip()


def _vendor_address(p: _Parser, vendor: str) -> None:
    """The vendor's street and city: from the line after the letterhead name, or the return-address line."""
    for index, line in enumerate(p.segmented[:25]):
        if vendor not in line:
            continue
        candidates = [line[line.index(vendor) + len(vendor) :], *p.segmented[index + 1 : index + 3]]
        for candidate in candidates:
            parts = [part for part in SEPARATORS.split(candidate) if part and not CONTACT.search(part)]
            street = next((x for x in parts if STREET.match(x) and not POSTCODE_CITY.match(x)), None)
            city_at = next((i for i, x in enumerate(parts) if POSTCODE_CITY.match(x)), None)
            if street and city_at is not None:
                address = [street, parts[city_at]]
                country = COUNTRY_NAMES.match(parts[city_at + 1]) if city_at + 1 < len(parts) else None
                if country:
                    address.append(country.group(0))
                p.put("vendor_address", ", ".join(address), LABELLED - 0.1, candidate)
                return


def _currency(p: _Parser) -> None:
    counts: dict[str, int] = {}
    for match in re.finditer(r"€|\bEUR\b|\bUSD\b|\$|£|\bGBP\b|\bCHF\b", p.text):
        code = currency_code(match.group(0))
        if code:
            counts[code] = counts.get(code, 0) + 1
    if counts:
        code = max(counts, key=lambda key: counts[key])
        p.put("currency", code, VALIDATED if len(counts) == 1 else LABELLED, code)


def _document_type(p: _Parser) -> None:
    head = "\n".join(p.lines[:30])
    credit = CREDIT_NOTE.search(head)
    invoice = INVOICE_WORD.search(head)
    self_billed = SELF_BILLED.search(head)
    if self_billed and not credit:
        if CORRECTION_WORDS.search(head):
            p.put("document_type", "credit_note", LABELLED, self_billed.group(0))
        else:
            p.put("document_type", "invoice", LABELLED, self_billed.group(0))
            p.put("type_code", "389", LABELLED, self_billed.group(0))
    elif credit:
        p.put("document_type", "credit_note", LABELLED, credit.group(0))
    elif invoice:
        p.put("document_type", "invoice", VALIDATED, invoice.group(0))
    else:
        p.put("document_type", "invoice", GUESSED, None)


# --- line items and amounts ------------------------------------------------------------------------

def _line_items(p: _Parser) -> None:
    start = next((i for i, line in enumerate(p.lines) if LINE_HEADER.search(line) and LINE_QTY_HEADER.search(line)),
                 None)  # fmt: skip
    if start is None:
        return
    for line in p.lines[start + 1 : start + 200]:
        if NET_LABEL.match(line) or GROSS_LABEL.match(line) or TAX_RATE_LINE.search(line):
            break
        match = LINE_ITEM.match(line)
        if not match:
            continue
        qty = _quantity(match.group("qty"))
        p.out.lines.append(ExtractedLine(
            description=clean(match.group("desc")),
            quantity=qty,
            unit_price=parse_amount(match.group("price")),
            net_amount=parse_amount(match.group("net")),
            tax_rate=rate_string(match.group("rate")) if match.group("rate") else None,
        ))  # fmt: skip


def _quantity(text: str) -> str | None:
    cleaned = text.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        return None
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")


# Numeric dates, blanked before amounts are read ("netto bis 04.04.2018" holds no amount 04.04).
NUMERIC_DATE = re.compile(r"\d{1,2}\s?[./]\s?\d{1,2}\s?[./]\s?(?:\d{4}|\d{2})(?!\d)|\d{4}-\d{1,2}-\d{1,2}")


def _amounts_on(line: str, skip: tuple[int, int] | None = None) -> list[str]:
    if skip:
        line = line[: skip[0]] + " " * (skip[1] - skip[0]) + line[skip[1] :]
    line = NUMERIC_DATE.sub(lambda m: " " * len(m.group(0)), line)
    values = []
    for match in AMOUNT.finditer(line):
        value = parse_amount(match.group(0))
        if value is not None:
            values.append(value)
    return values


def _amount_after(p: _Parser, index: int, line: str, start: int) -> str | None:
    """The last amount right of the label; else an amount standing alone on the next line."""
    values = _amounts_on(line[start:])
    if values:
        return values[-1]
    if index + 1 < len(p.lines):
        following = p.lines[index + 1]
        if re.fullmatch(rf"(?:€|EUR|\$|USD)?\s?(?:{AMT})\s?(?:€|EUR|\$|USD)?", following):
            values = _amounts_on(following)
            return values[-1] if values else None
    return None


def _amounts(p: _Parser) -> None:
    net: list[tuple[str, str]] = []
    gross: list[tuple[str, str]] = []
    tax_total: list[tuple[str, str]] = []
    due: list[tuple[str, str]] = []
    taxes: list[ExtractedTax] = []
    rate_lines: list[tuple[str, str]] = []  # (rate, tax) where the line gave no net
    for index, line in enumerate(p.lines):
        rate_match = TAX_RATE_LINE.search(line)
        if rate_match and not LINE_ITEM.match(line):
            rate = rate_string(rate_match.group(1) or rate_match.group(2) or "")
            values = _amounts_on(line, (rate_match.start(), rate_match.end()))
            if rate is not None and values:
                if len(values) >= 2:
                    taxes.append(ExtractedTax(rate=rate, net=values[-2], tax=values[-1]))
                else:
                    rate_lines.append((rate, values[-1]))
                continue
        for label, found in ((TAX_TOTAL_LABEL, tax_total), (NET_LABEL, net), (AMOUNT_DUE_LABEL, due),
                             (GROSS_LABEL, gross)):
            match = label.search(line)
            if match and (label is not GROSS_LABEL or not NET_LABEL.search(line)):
                value = _amount_after(p, index, line, match.end())
                if value is not None:
                    found.append((value, line))
                break
    # A totals table, where there is one, states the totals explicitly: it goes before labelled amounts.
    table = _totals_table(p)
    net[:0] = [(table["net"], "totals table")] if "net" in table else []
    tax_total[:0] = [(table["tax"], "totals table")] if "tax" in table else []
    gross += [(table["gross"], "totals table")] if "gross" in table else []
    total_net = net[0] if net else None
    # Tax lines that printed only the tax: their net is the total net when there is one rate,
    # else the sum of the line items at that rate.
    for rate, tax in rate_lines:
        if any(t.rate == rate for t in taxes):
            continue
        rate_net = _line_sum(p.out.lines, rate)
        if rate_net is None and len(rate_lines) == 1 and not taxes and total_net:
            rate_net = total_net[0]
        if rate_net is not None:
            taxes.append(ExtractedTax(rate=rate, net=rate_net, tax=tax))
        else:
            p.out.warnings.append(f"The net amount taxed at {rate} % could not be read; that tax subtotal is left out.")
    if REVERSE_CHARGE.search(p.text):
        p.out.warnings.append("The document mentions reverse charge (§13b): the buyer owes the VAT.")
        if not taxes and total_net:
            taxes.append(ExtractedTax(rate="0", net=total_net[0], tax="0.00", category="AE"))
    elif INTRA_EU.search(p.text) and not taxes and total_net:
        taxes.append(ExtractedTax(rate="0", net=total_net[0], tax="0.00", category="K"))
    gross_last = gross[-1][0] if gross else None
    if not taxes and not tax_total and total_net and gross_last and Decimal(gross_last) > Decimal(total_net[0]):
        # The tax line was unreadable (OCR): the tax is what lies between net and gross, and its rate is the
        # standard rate that explains it to the cent.
        derived = Decimal(gross_last) - Decimal(total_net[0])
        rate = _explaining_rate(Decimal(total_net[0]), derived)
        if rate is not None:
            taxes.append(ExtractedTax(rate=rate, net=total_net[0], tax=decimal_string(derived)))
            p.out.warnings.append(f"No VAT line was readable; {rate} % VAT was inferred from the net and gross totals.")
    p.out.taxes = taxes
    _repair_unit_prices(p, total_net[0] if total_net else None)
    if len(taxes) == 1 and p.out.lines and all(line.tax_rate is None for line in p.out.lines):
        # One rate on the invoice: every line carries it.
        p.out.lines = [line.model_copy(update={"tax_rate": taxes[0].rate}) for line in p.out.lines]
    tax_sum = decimal_string(sum((Decimal(t.tax) for t in taxes), Decimal(0))) if taxes else None
    # The final total is the last gross line, unless an earlier one is the one that adds up.
    gross_value = gross[-1] if gross else None
    if gross and total_net and tax_sum:
        expected = Decimal(total_net[0]) + Decimal(tax_total[0][0] if tax_total else tax_sum)
        gross_value = next((g for g in reversed(gross) if Decimal(g[0]) == expected), gross_value)
    if total_net:
        p.put("total_net", total_net[0], LABELLED, total_net[1])
    elif taxes:
        p.put("total_net", decimal_string(sum((Decimal(t.net) for t in taxes), Decimal(0))), GUESSED, None)
    if tax_total:
        p.put("total_tax", tax_total[0][0], LABELLED, tax_total[0][1])
    elif tax_sum is not None:
        p.put("total_tax", tax_sum, LABELLED, None)
    if gross_value:
        p.put("total_gross", gross_value[0], LABELLED, gross_value[1])
    if due:
        p.put("amount_due", due[-1][0], LABELLED, due[-1][1])
        if gross_value is None:  # nothing but the amount payable printed: with nothing prepaid, it is the gross
            p.put("total_gross", due[-1][0], GUESSED, due[-1][1])
    _cross_check(p, taxes)
    if "total_gross" not in p.out.fields and total_net and (tax_total or tax_sum is not None):
        # No gross line was readable: it is net plus VAT, at a confidence that sends it to a reviewer.
        derived = Decimal(total_net[0]) + Decimal(tax_total[0][0] if tax_total else tax_sum or "0")
        p.put("total_gross", decimal_string(derived), GUESSED, None)
        p.out.warnings.append("No gross total was readable; it was derived as net plus VAT.")


TABLE_COLUMNS = {
    "net": re.compile(r"Nettobetrag|Netto(?:summe|wert)?\b|Net\s+amount", _I),
    "tax": re.compile(r"(?:MwSt|USt)\.?-?Betrag|Steuerbetrag|VAT\s+amount", _I),
    "gross": re.compile(r"Endbetrag|Bruttobetrag|Brutto\b|Gesamtbetrag|Rechnungsbetrag|Gross\s+amount", _I),
}


def _totals_table(p: _Parser) -> dict[str, str]:
    """Totals printed as a table: a header row naming net, VAT and gross columns, one row per rate and the
    last row the totals. Each amount of that row belongs to the header label whose right edge is nearest."""
    for index, header in enumerate(p.raw):
        columns = {name: m.end() for name, pattern in TABLE_COLUMNS.items() if (m := pattern.search(header))}
        if len(columns) < 2 or _amounts_on(header):
            continue
        last = None
        for row in p.raw[index + 1 : index + 8]:
            if not AMOUNT.search(row):
                break
            last = row
        if last is None:
            continue
        found: dict[str, str] = {}
        for match in AMOUNT.finditer(last):
            value = parse_amount(match.group(0))
            name = min(columns, key=lambda n: abs(columns[n] - match.end()))
            if value is not None and abs(columns[name] - match.end()) <= 4:
                found[name] = value
        if found and len(found) == len(columns):
            return found
        # Columns that OCR did not keep in place: the row's last three amounts, when they add up, are net, VAT and
        # gross in the order the header names them.
        values = [v for m in AMOUNT.finditer(last) if (v := parse_amount(m.group(0))) is not None]
        order = sorted(columns, key=lambda n: columns[n])
        if order == ["net", "tax", "gross"] and len(values) >= 3:
            net, tax, gross = values[-3:]
            if Decimal(net) + Decimal(tax) == Decimal(gross):
                return {"net": net, "tax": tax, "gross": gross}
        if found:
            return found
    return {}


# VAT rates in use in the EU (standard and reduced), to recognize an inferred rate.
KNOWN_RATES = ("27", "25", "24", "23", "22", "21", "20", "19", "18", "17", "16", "15", "14", "13", "12", "10", "9",
               "8", "7", "6", "5.5", "5")  # fmt: skip


def _explaining_rate(net: Decimal, tax: Decimal) -> str | None:
    for rate in KNOWN_RATES:
        if abs(net * Decimal(rate) / 100 - tax) <= Decimal("0.01"):
            return rate
    return None


def _repair_unit_prices(p: _Parser, total_net: str | None) -> None:
    """When the line nets add up to the net total, a unit price that disagrees with its line's net is the
    misread figure (OCR drops digits): replace it by net / quantity where that is a whole cent amount."""
    nets = [Decimal(line.net_amount) for line in p.out.lines if line.net_amount]
    if not total_net or len(nets) != len(p.out.lines) or sum(nets, Decimal(0)) != Decimal(total_net):
        return
    repaired = []
    for line in p.out.lines:
        if line.quantity and line.unit_price and line.net_amount and Decimal(line.quantity) != 0:
            price = Decimal(line.net_amount) / Decimal(line.quantity)
            disagrees = Decimal(line.quantity) * Decimal(line.unit_price) != Decimal(line.net_amount)
            if disagrees and price == price.quantize(Decimal("0.01")):
                p.out.warnings.append(f"Unit price of {line.description!r} corrected to net / quantity.")
                line = line.model_copy(update={"unit_price": decimal_string(price)})
        repaired.append(line)
    p.out.lines = repaired


def _line_sum(lines: list[ExtractedLine], rate: str) -> str | None:
    amounts = [Decimal(line.net_amount) for line in lines if line.tax_rate == rate and line.net_amount]
    return decimal_string(sum(amounts, Decimal(0))) if amounts else None


def _cross_check(p: _Parser, taxes: list[ExtractedTax]) -> None:
    fields = p.out.fields
    net, tax, gross = (fields.get(name) for name in ("total_net", "total_tax", "total_gross"))
    if gross is None or gross.value is None:
        if net is not None or tax is not None:
            p.out.warnings.append("No gross total found.")
        return
    if net is None or tax is None or net.value is None or tax.value is None:
        if net is not None and net.value == gross.value and not taxes:
            return  # no VAT shown: net equals gross (small business or reverse charge); nothing to cross-check
        p.set_confidence("total_gross", GUESSED + 0.1)
        p.out.warnings.append("Net or tax total missing: the gross total could not be cross-checked.")
        return
    if Decimal(net.value) + Decimal(tax.value) == Decimal(gross.value):
        for name in ("total_net", "total_tax", "total_gross"):
            p.set_confidence(name, VALIDATED)
        rates_net = sum((Decimal(t.net) for t in taxes), Decimal(0))
        if taxes and rates_net != Decimal(net.value):
            p.out.warnings.append(f"The VAT subtotals' net ({decimal_string(rates_net)}) differs from the net total.")
    else:
        for name in ("total_net", "total_tax", "total_gross"):
            p.set_confidence(name, GUESSED)
        p.out.warnings.append(f"Totals do not add up: net {net.value} + tax {tax.value} != gross {gross.value}.")


def _payment_terms(p: _Parser) -> None:
    for line in p.lines:
        match = TERMS.search(line)
        if not match:
            continue
        sentence = line[match.start() :] if match.start() < 40 else line
        p.put("payment_terms", sentence.strip(), LABELLED, line)
        days = [int(next(g for g in m.groups() if g)) for m in TERM_DAYS.finditer(line)]
        issued = p.out.fields.get("invoice_date")
        if days and "due_date" not in p.out.fields and issued is not None and issued.value:
            # The net term (the longest period) decides the due date; a shorter one is a discount (Skonto) window.
            due = date.fromisoformat(issued.value) + timedelta(days=max(days))
            p.put("due_date", due.isoformat(), LABELLED * 0.8, line)
        break
