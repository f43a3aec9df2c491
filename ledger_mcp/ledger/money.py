"""Money: decimal strings in, integer minor units stored, never floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ledger_mcp.ledger.errors import AmountOutOfRange, InvalidAmount, InvalidExchangeRate, UnsupportedCurrency

# ISO 4217 minor units of the currencies the ledger accepts.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "PLN": 2, "CZK": 2, "DKK": 2, "SEK": 2, "NOK": 2,
    "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2, "HKD": 2, "SGD": 2,
    "INR": 2, "TRY": 2, "ZAR": 2, "MXN": 2, "BRL": 2, "ILS": 2, "THB": 2, "PHP": 2, "IDR": 2, "MYR": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}  # fmt: skip

# Bounds that keep every sum a report can form inside a signed 64-bit integer (SQLite's SUM fails beyond it):
# no stored amount, in its currency or in the base currency, exceeds MAX_AMOUNT_UNITS minor units, and a
# ledger holds at most MAX_JOURNAL_LINES journal lines, so any sum of any lines is below 2**63.
# 999,999,999.99 in a currency with cents; 92 million lines are centuries of a small business's bookings.
MAX_AMOUNT_UNITS = 10**11 - 1
MAX_JOURNAL_LINES = (2**63 - 1) // MAX_AMOUNT_UNITS
# ASCII digits only: Python's \d also matches Arabic-Indic or full-width digits.
_AMOUNT = re.compile(r"^[0-9]{1,15}(\.[0-9]+)?$")


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnsupportedCurrency(
            f"Currency {currency!r} is not supported.",
            hint=f"Use an ISO 4217 code such as {', '.join(sorted(MINOR_UNITS))}.",
        ) from None


def parse_amount(text: str, currency: str, *, field: str = "amount", allow_zero: bool = False) -> int:
    """Parse a positive decimal string ("119.00") into integer minor units (11900).
    `allow_zero` admits "0.00", e.g. for the VAT total of an exempt invoice."""
    if not isinstance(text, str):
        raise InvalidAmount(
            f"{field} must be a decimal string, got {type(text).__name__}.",
            hint='Send amounts as strings with a dot, e.g. "119.00".',
        )
    cleaned = text.strip()
    places = minor_units(currency)
    if not _AMOUNT.match(cleaned):
        raise InvalidAmount(
            f"{field} {text!r} is not a positive decimal amount.",
            hint='Use digits with an optional dot and no sign, thousands separator or currency, e.g. "1234.50".',
        )
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise InvalidAmount(f"{field} {text!r} is not a number.", hint='e.g. "119.00"') from None
    decimals = -value.as_tuple().exponent  # type: ignore[operator]
    if decimals > places:
        raise InvalidAmount(
            f"{field} {text!r} has {decimals} decimals; {currency} has {places}.",
            hint=f"Round to {places} decimal places before booking.",
        )
    units = int(value.scaleb(places))
    if units < 0 or (units == 0 and not allow_zero):
        raise InvalidAmount(f"{field} must be greater than zero, got {text!r}.", hint="Book positive amounts; "
                            "swap debit and credit for the opposite direction, or reverse the intent.")
    return check_bound(units, currency, field=field)


def check_bound(units: int, currency: str, *, field: str = "amount") -> int:
    """`units` if within MAX_AMOUNT_UNITS, else AmountOutOfRange (for amounts computed by the ledger too, such as
    a conversion into the base currency)."""
    if units > MAX_AMOUNT_UNITS:
        limit = format_amount(MAX_AMOUNT_UNITS, currency)
        raise AmountOutOfRange(f"{field} {format_amount(units, currency)} {currency} exceeds the largest amount the "
                               f"ledger books, {limit} {currency}.",
                               hint="Split the amount over several lines or intents, each at most the limit.",
                               details={"field": field, "max_amount": limit})
    return units


def format_amount(units: int, currency: str) -> str:
    """Integer minor units back to a decimal string: 11900 -> "119.00"."""
    places = minor_units(currency)
    return str(Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


def split_gross(gross: int, rate: Decimal) -> tuple[int, int]:
    """Split a gross amount in minor units into (net, tax) at a percentage rate, tax rounded half up."""
    tax = (Decimal(gross) * rate / (Decimal(100) + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return gross - int(tax), int(tax)


def tax_on_net(net: int, rate: Decimal) -> int:
    """Tax on a net amount in minor units, rounded half up (reverse charge self-assessment)."""
    return int((Decimal(net) * rate / Decimal(100)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# An exchange rate: 1 unit of base currency = rate units of foreign currency (as the ECB quotes it).
_RATE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,10})?$")


def parse_rate(text: str, *, field: str = "exchange_rate") -> Decimal:
    """Parse a rate given as a decimal string ("1.0856"); positive, at most 10 decimals."""
    cleaned = text.strip() if isinstance(text, str) else ""
    if not _RATE.match(cleaned) or Decimal(cleaned) == 0:
        raise InvalidExchangeRate(
            f"{field} {text!r} is not a positive decimal rate.",
            hint="Give the rate as the ECB quotes it, units of foreign currency per 1 EUR, e.g. \"1.0856\" for USD.")
    return Decimal(cleaned).normalize()


def rate_text(rate: Decimal) -> str:
    """A rate as stored and hashed: plain decimal notation, no exponent, no trailing zeros."""
    return format(rate.normalize(), "f")


def to_base(units: int, currency: str, rate: Decimal, base_currency: str) -> int:
    """Foreign minor units to base minor units at `rate` (foreign units per base unit), half up, once."""
    value = Decimal(units).scaleb(-minor_units(currency)) / rate
    return int(value.scaleb(minor_units(base_currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
