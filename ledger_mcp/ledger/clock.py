"""Timestamps: UTC, ISO 8601 with microseconds, stored as text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from ledger_mcp.ledger.errors import InvalidDate

_CALENDAR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def today() -> date:
    return datetime.now(UTC).date()


def parse_date(text: str, *, field: str = "date") -> date:
    """An ISO date (YYYY-MM-DD), or INVALID_DATE naming the field."""
    # The calendar form only: date.fromisoformat also takes week dates ("2026-W32-1") and basic form.
    cleaned = text.strip() if isinstance(text, str) else ""
    try:
        parsed = date.fromisoformat(cleaned) if _CALENDAR_DATE.fullmatch(cleaned) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidDate(f"{field} {text!r} is not a valid date.", hint="Use YYYY-MM-DD, e.g. '2026-03-31'.")
    if not 1900 <= parsed.year <= 2200:
        raise InvalidDate(f"{field} {text!r} is outside the years 1900-2200.", hint="Check the year.")
    return parsed
