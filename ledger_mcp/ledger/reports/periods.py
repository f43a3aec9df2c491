"""Report periods by name: a month (2026-10), a quarter (2026-Q3) or a fiscal year (2026)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.fiscal import fiscal_year_bounds

_PATTERN = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?$")


@dataclass(frozen=True)
class ReportPeriod:
    name: str
    kind: str  # month | quarter | year
    start: date
    end: date


def report_period(text: str) -> ReportPeriod:
    match = _PATTERN.match(text.strip().upper()) if isinstance(text, str) else None
    if not match:
        raise ValidationFailed(f"period {text!r} is not a month, quarter or year.",
                               hint="Use YYYY-MM, YYYY-Qn or YYYY, e.g. '2026-10', '2026-Q3' or '2026'.",
                               details={"field": "period"})
    year = int(match.group(1))
    if match.group(2):
        first_month, months, kind = int(match.group(2)), 1, "month"
    elif match.group(3):
        first_month, months, kind = 3 * int(match.group(3)) - 2, 3, "quarter"
    else:
        first, last = fiscal_year_bounds(year)
        return ReportPeriod(str(year), "year", first, last)
    start = date(year, first_month, 1)
    after = date(year + (first_month + months - 1) // 12, (first_month + months - 1) % 12 + 1, 1)
    return ReportPeriod(match.group(0), kind, start, after - timedelta(days=1))
