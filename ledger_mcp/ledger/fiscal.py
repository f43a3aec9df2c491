"""Accounting periods and fiscal years.

A period is a calendar month named `YYYY-MM`; the names sort in time order. The fiscal year is the
calendar year: `fiscal_year_bounds` is the one place a configured fiscal year start would go.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from ledger_mcp.ledger.errors import ValidationFailed

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_period(text: str, *, field: str = "period") -> str:
    """A valid period id, or VALIDATION_ERROR naming the field."""
    value = text.strip() if isinstance(text, str) else ""
    match = _PERIOD.match(value)
    if not match or not 1900 <= int(match.group(1)) <= 2200:
        raise ValidationFailed(f"{field} {text!r} is not a period.",
                               hint="Name a month as YYYY-MM, e.g. '2026-03'.", details={"field": field})
    return value


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of the period."""
    first = date(int(period[:4]), int(period[5:7]), 1)
    return first, next_period_start(first) - timedelta(days=1)


def next_period_start(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def next_period(period: str) -> str:
    return period_of(next_period_start(period_bounds(period)[0]))


def periods_between(first: str, last: str) -> list[str]:
    out = []
    current = first
    while current <= last:
        out.append(current)
        current = next_period(current)
    return out


def fiscal_year_bounds(year: int) -> tuple[date, date]:
    """First and last day of a fiscal year (the calendar year)."""
    return date(year, 1, 1), date(year, 12, 31)


def fiscal_year_of(day: date) -> int:
    return day.year
