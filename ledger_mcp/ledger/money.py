"""Money: decimal strings in, integer minor units stored, never floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ledger_mcp.ledger.errors import InvalidAmount, InvalidExchangeRate, UnsupportedCurrency

# ISO 4217 minor units of the currencies the ledger accepts.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "PLN": 2, "CZK": 2, "DKK": 2, "SEK": 2, "NOK": 2,
    "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2, "HKD": 2, "SGD": 2,
    "INR": 2, "TRY": 2, "ZAR": 2, "MXN": 2, "BRL": 2, "ILS": 2, "THB": 2, "PHP": 2, "IDR": 2, "MYR": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}  # fmt: skip

# Up to 15 integer digits keeps every amount, and sums of many, inside a signed 64-bit column.
_AMOUNT = re.compile(r"^\d{1,15}(\.\d+)?$")


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
_RATE = re.compile(r"^\d{1,9}(\.\d{1,10})?$")


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
