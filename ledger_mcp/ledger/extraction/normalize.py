"""Normalizers shared by the XML and text paths: amounts, dates, rates, identifiers.

Every function takes untrusted text and returns the normalized string or None; none raises.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

MONTHS: dict[str, int] = {
    "januar": 1, "jänner": 1, "january": 1, "jan": 1, "februar": 2, "february": 2, "feb": 2,
    "märz": 3, "maerz": 3, "march": 3, "mär": 3, "mar": 3, "april": 4, "apr": 4, "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6, "juli": 7, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11, "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip

_MONTH_WORD = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))

# Date shapes, most specific first. Each has named groups d, m (number or month word), y.
DATE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    re.compile(r"(?P<d>\d{1,2})\s?\.\s?(?P<m>\d{1,2})\s?\.\s?(?P<y>\d{4}|\d{2})(?!\d)"),
    re.compile(r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})"),
    re.compile(rf"(?P<d>\d{{1,2}})\.?\s+(?P<m>{_MONTH_WORD})\.?,?\s+(?P<y>\d{{4}})", re.IGNORECASE),
    re.compile(rf"(?P<m>{_MONTH_WORD})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})", re.IGNORECASE),
)



def clean_text(text: str) -> str:
    """Text as it may be stored and sent: lone surrogates (pypdf returns halves of emoji glyphs) and
    control characters other than tab, newline and form feed are replaced."""
    text = text.encode("utf-8", "replace").decode("utf-8") if _SURROGATE.search(text) else text
    return _CONTROL.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def parse_date(text: str) -> str | None:
    """The first date in `text` as ISO YYYY-MM-DD (German 02.03.2026, "2. März 2026", English
    "March 2, 2026", ISO); None when there is none or it is not a real date."""
    found = find_date(text)
    return found[0] if found else None


def find_date(text: str) -> tuple[str, int, int] | None:
    """(ISO date, start, end) of the earliest date in `text`."""
    best: tuple[str, int, int] | None = None
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            iso = _to_iso(match.group("d"), match.group("m"), match.group("y"))
            if iso:
                if best is None or match.start() < best[1]:
                    best = (iso, match.start(), match.end())
                break  # later matches of this pattern start later still
    return best


def _to_iso(day: str, month: str, year: str) -> str | None:
    month_number = int(month) if month.isdigit() else MONTHS.get(month.lower().rstrip("."))
    if month_number is None:
        return None
    year_number = int(year)
    if year_number < 100:
        year_number += 2000
    try:
        return date(year_number, month_number, int(day)).isoformat()
    except ValueError:
        return None


# An amount as printed: German 1.234,56 or English 1,234.56, optional sign, optional spaces as
# thousands separators (OCR), two decimals (some invoices print none: "1.234,-" is rare; skip it).
AMOUNT_PATTERN = r"-?\s?\d{1,3}(?:[.,' \u202f]\d{3})*[.,]\d{2}(?!\d)|-?\s?\d+[.,]\d{2}(?!\d)"
AMOUNT = re.compile(AMOUNT_PATTERN)


def parse_amount(text: str) -> str | None:
    """A printed amount as a decimal string with a dot and two decimals ("1.234,56" -> "1234.56")."""
    cleaned = text.strip().replace("\u2212", "-").replace(" ", "").replace("\u202f", "").replace("'", "")
    negative = cleaned.startswith("-")
    cleaned = cleaned.lstrip("-+")
    if not cleaned:
        return None
    # The last separator followed by exactly two digits is the decimal separator.
    match = re.fullmatch(r"([\d.,]*?)[.,](\d{2})", cleaned)
    if match:
        integer = re.sub(r"[.,]", "", match.group(1)) or "0"
        cleaned = f"{integer}.{match.group(2)}"
    elif re.fullmatch(r"\d+", cleaned) is None:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return decimal_string(-value if negative else value)


def decimal_string(value: Decimal, places: int = 2) -> str:
    """A Decimal as a plain string with at least `places` decimals ("1234.5" -> "1234.50")."""
    if value == value.to_integral_value() or -value.as_tuple().exponent <= places:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-places))
    text = format(value, "f")
    return "0.00" if text in ("-0.00", "-0") else text


def xml_amount(text: str | None) -> str | None:
    """An XML decimal (already dot-separated) as a decimal string with two or more decimals."""
    if text is None:
        return None
    try:
        return decimal_string(Decimal(text.strip()))
    except InvalidOperation:
        return None


def rate_string(text: str) -> str | None:
    """A VAT rate as printed ("19,00", "7.0", "19 %") -> "19" / "7" / "5.5"."""
    cleaned = text.strip().rstrip("%").strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if value < 0 or value > 100:
        return None
    normalized = value.normalize()
    return format(normalized.quantize(Decimal(1)) if normalized == normalized.to_integral_value() else normalized, "f")


def compact(text: str) -> str:
    return re.sub(r"[\s.\-/]", "", text).upper()


def valid_iban(text: str) -> str | None:
    """A compact IBAN when its check digits and country format are right."""
    from schwifty import IBAN  # loads its registry: imported when a document is read, not at start
    from schwifty.exceptions import SchwiftyException

    try:
        return str(IBAN(compact(text)).compact)
    except (SchwiftyException, ValueError):
        return None


def valid_bic(text: str) -> str | None:
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    try:
        return str(BIC(compact(text)).compact)
    except (SchwiftyException, ValueError):
        return None


def valid_vat_id(text: str) -> str | None:
    """A compact EU VAT ID when its check digit is right (python-stdnum)."""
    from stdnum import vatin
    from stdnum.exceptions import ValidationError

    try:
        return str(vatin.validate(compact(text)))
    except (ValidationError, ValueError, KeyError, IndexError):
        return None


CURRENCY_SYMBOLS: dict[str, str] = {"€": "EUR", "$": "USD", "£": "GBP", "CHF": "CHF", "Fr.": "CHF"}
KNOWN_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "PLN", "CZK", "DKK", "SEK", "NOK", "HUF", "RON", "BGN", "JPY")


def currency_code(text: str | None) -> str | None:
    """An ISO 4217 code from a code or a symbol; None for anything unknown."""
    if not text:
        return None
    cleaned = text.strip().upper()
    if cleaned in KNOWN_CURRENCIES:
        return cleaned
    return CURRENCY_SYMBOLS.get(text.strip())
