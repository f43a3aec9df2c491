"""Exchange rates: the rate table, the rate a booking in a foreign currency uses, the ECB reference
rate file, and the rate an e-invoice implies.

A rate means 1 unit of the base currency = `rate` units of the foreign currency, as the ECB quotes
it (USD 1.0856: one euro buys 1.0856 dollars). A booking in a foreign currency takes the rate it is
given, or the table's rate for its date; without one it is refused, never guessed. Which rate the
table offers follows the ledger's VAT conversion setting (§ 16 (6) UStG, ledger_meta key
`fx_vat_rate_source`): `daily` (default), the rate of the day (on a day without a reference rate,
a weekend or holiday, the last one published within the days before), or `monthly`, the official
monthly average rate (source `monthly`, dated the first of its month).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import parse_date, utc_now
from ledger_mcp.ledger.errors import ExchangeRateMissing, InvalidExchangeRate, ValidationFailed
from ledger_mcp.ledger.models import Account, ExchangeRate, LedgerMeta
from ledger_mcp.ledger.money import MINOR_UNITS, minor_units, parse_amount, parse_rate, rate_text
from ledger_mcp.ledger.provenance import Provenance

RateSource = Literal["ecb", "monthly", "document", "manual"]
VAT_RATE_SETTING = "fx_vat_rate_source"
DAILY_LOOKBACK_DAYS = 5  # covers Easter (Good Friday to Easter Monday) and Christmas without a reference rate
# On one day, a rate the user stated wins over the imported reference rate.
_SOURCE_PRIORITY = {"manual": 0, "document": 1, "ecb": 2}
RATE_SIGNIFICANT_DIGITS = 6


@dataclass(frozen=True)
class Rate:
    """A rate chosen for a booking: `source` is `stated` when the caller passed it."""

    currency: str
    rate: Decimal
    rate_date: date
    source: str

    @property
    def text(self) -> str:
        return rate_text(self.rate)


class RateInput(BaseModel):
    model_config = ConfigDict(frozen=True)
    currency: str = Field(description="ISO 4217 code of the foreign currency, e.g. USD.")
    rate_date: str = Field(description="YYYY-MM-DD (monthly rates: the first of the month).")
    rate: str = Field(description="Units of foreign currency per 1 unit of base currency, e.g. '1.0856'.")
    source: RateSource = "manual"


class RateInfo(BaseModel):
    currency: str
    rate_date: str
    rate: str
    source: str
    created_at: str
    created_by: str
    replaced_rate: str | None = Field(default=None, description="The rate this save replaced, if any.")


class RateImportResult(BaseModel):
    source: str
    days: int = Field(description="Dates read from the file (within the range asked for).")
    currencies: list[str]
    inserted: int
    updated: int
    unchanged: int
    skipped_currencies: list[str] = Field(description="Columns of the file the ledger does not book in.")
    first_date: str | None
    last_date: str | None


def checked_currency(currency: str | None, base: str) -> str:
    """The currency code, checked against the supported ones."""
    code = (currency or base).strip().upper()
    minor_units(code)
    return code


async def vat_rate_source(session: AsyncSession) -> str:
    row = await session.get(LedgerMeta, VAT_RATE_SETTING)
    return row.value if row else "daily"


async def set_vat_rate_source(session: AsyncSession, source: Literal["daily", "monthly"]) -> None:
    """Choose the rate the table offers foreign-currency bookings from now on (§ 16 (6) UStG); what is
    booked keeps the rate it was booked at."""
    if source not in ("daily", "monthly"):
        raise ValidationFailed(f"Unknown rate setting {source!r}.", hint="Use 'daily' or 'monthly'.")
    row = await session.get(LedgerMeta, VAT_RATE_SETTING) or LedgerMeta(key=VAT_RATE_SETTING, value=source)
    row.value = source
    session.add(row)
    await session.flush()


async def find_rate(session: AsyncSession, currency: str, day: date) -> Rate | None:
    """The table's rate for `currency` on `day` under the ledger's setting, or None."""
    if await vat_rate_source(session) == "monthly":
        row = await session.get(ExchangeRate, (day.replace(day=1), currency, "monthly"))
        return Rate(currency, Decimal(row.rate), row.rate_date, row.source) if row else None
    rows = (await session.exec(
        select(ExchangeRate).where(ExchangeRate.currency == currency, col(ExchangeRate.source) != "monthly",
                                   col(ExchangeRate.rate_date) <= day,
                                   col(ExchangeRate.rate_date) >= day - timedelta(days=DAILY_LOOKBACK_DAYS))
    )).all()
    if not rows:
        return None
    best = min(rows, key=lambda r: (-r.rate_date.toordinal(), _SOURCE_PRIORITY.get(r.source, 9)))
    return Rate(currency, Decimal(best.rate), best.rate_date, best.source)


async def rate_for(session: AsyncSession, currency: str, day: date, stated: str | None,
                   *, field: str = "exchange_rate") -> Rate | None:
    """The rate a booking in `currency` on `day` uses: the stated one, else the table's. None for the base
    currency. Raises ExchangeRateMissing when there is none."""
    base = (await read_meta(session))["base_currency"]
    if currency == base:
        if stated is not None and parse_rate(stated, field=field) != 1:
            raise InvalidExchangeRate(f"{field} {stated!r} given for a booking in the base currency {base}.",
                                      hint="Omit exchange_rate for base-currency bookings.")
        return None
    if stated is not None:
        return Rate(currency, parse_rate(stated, field=field), day, "stated")
    found = await find_rate(session, currency, day)
    if found is None:
        setting = await vat_rate_source(session)
        when = f"the month {day.isoformat()[:7]} (monthly official rate)" if setting == "monthly" else (
            f"{day.isoformat()} or the {DAILY_LOOKBACK_DAYS} days before")
        raise ExchangeRateMissing(
            f"No {currency} exchange rate for {when}; a foreign-currency booking needs one.",
            hint=f"Pass {field} (units of {currency} per 1 {base}, e.g. as on the document or the ECB's reference "
                 f"rate of the day), or record it first with save_exchange_rate or import_exchange_rates (the "
                 "ECB's eurofxref CSV file).",
            details={"currency": currency, "date": day.isoformat(), "rate_setting": setting})
    return found


async def save_rate(session: AsyncSession, request: RateInput, provenance: Provenance) -> RateInfo:
    base = (await read_meta(session))["base_currency"]
    currency = checked_currency(request.currency, base)
    if currency == base:
        raise ValidationFailed(f"{currency} is the ledger's base currency; it has no exchange rate.",
                               hint="Save rates of foreign currencies, e.g. USD, GBP, CHF.")
    day = parse_date(request.rate_date, field="rate_date")
    if request.source == "monthly" and day.day != 1:
        raise ValidationFailed(f"A monthly rate is dated the first of its month, not {day}.",
                               hint=f"Use rate_date {day.replace(day=1).isoformat()}.")
    rate = rate_text(parse_rate(request.rate, field="rate"))
    row = await session.get(ExchangeRate, (day, currency, request.source))
    replaced = row.rate if row and row.rate != rate else None
    if row is None:
        row = ExchangeRate(rate_date=day, currency=currency, source=request.source, rate=rate, created_at=utc_now(),
                           created_by=provenance.actor_display)
    else:
        row.rate, row.created_at, row.created_by = rate, utc_now(), provenance.actor_display
    session.add(row)
    await session.flush()
    return _info(row, replaced)


async def list_rates(session: AsyncSession, currency: str | None = None, start_date: str | None = None,
                     end_date: str | None = None, limit: int = 100) -> list[RateInfo]:
    """Rates, newest first."""
    stmt = select(ExchangeRate)
    if currency:
        stmt = stmt.where(ExchangeRate.currency == currency.strip().upper())
    if start_date:
        stmt = stmt.where(col(ExchangeRate.rate_date) >= parse_date(start_date, field="start_date"))
    if end_date:
        stmt = stmt.where(col(ExchangeRate.rate_date) <= parse_date(end_date, field="end_date"))
    stmt = stmt.order_by(col(ExchangeRate.rate_date).desc(), col(ExchangeRate.currency), col(ExchangeRate.source))
    return [_info(r) for r in (await session.exec(stmt.limit(limit))).all()]


def _info(row: ExchangeRate, replaced: str | None = None) -> RateInfo:
    return RateInfo(currency=row.currency, rate_date=row.rate_date.isoformat(), rate=row.rate, source=row.source,
                    created_at=row.created_at, created_by=row.created_by, replaced_rate=replaced)


def parse_ecb_csv(text: str, start: date | None = None,
                  end: date | None = None) -> tuple[dict[tuple[date, str], str], list[str]]:
    """The ECB reference rate file (eurofxref.csv or eurofxref-hist.csv): a header `Date,USD,JPY,...`
    and one row per day; 'N/A' or empty cells are days without a rate. Returns {(date, currency): rate}
    for the currencies the ledger books in, and the columns it skipped."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip().upper() for cell in next(reader, [])]
    if not header or header[0] != "DATE" or len(header) < 2:
        raise ValidationFailed("This is not an ECB reference rate file: the first column must be 'Date'.",
                               hint="Download eurofxref-hist.csv or eurofxref.csv from the ECB (the zip holds the "
                                    "CSV) and pass the CSV itself.")
    skipped = sorted({c for c in header[1:] if c and c not in MINOR_UNITS})
    rates: dict[tuple[date, str], str] = {}
    for number, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue
        day = _ecb_date(row[0].strip(), number)
        if (start and day < start) or (end and day > end):
            continue
        for code, cell in zip(header[1:], row[1:], strict=False):
            value = cell.strip()
            if code in MINOR_UNITS and value and value.upper() != "N/A":
                rates[(day, code)] = rate_text(parse_rate(value, field=f"line {number} {code}"))
    return rates, skipped


def _ecb_date(text: str, number: int) -> date:
    for pattern in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValidationFailed(f"Line {number} of the rate file has no date I can read: {text!r}.",
                           hint="Dates look like 2026-11-27 (history file) or '27 November 2026' (daily file).")


async def import_ecb_rates(session: AsyncSession, text: str, provenance: Provenance, start_date: str | None = None,
                           end_date: str | None = None) -> RateImportResult:
    """Store the file's reference rates as source `ecb`; a rate already stored for a day is updated."""
    base = (await read_meta(session))["base_currency"]
    if base != "EUR":
        raise ValidationFailed(f"The ECB quotes rates against EUR; this ledger's base currency is {base}.",
                               hint="Record rates with save_exchange_rate instead.")
    start = parse_date(start_date, field="start_date") if start_date else None
    end = parse_date(end_date, field="end_date") if end_date else None
    rates, skipped = parse_ecb_csv(text, start, end)
    days = sorted({d for d, _ in rates})
    inserted = updated = 0
    if days:
        stored = {(d, c): r for d, c, r in (await session.exec(
            select(col(ExchangeRate.rate_date), col(ExchangeRate.currency), col(ExchangeRate.rate))
            .where(ExchangeRate.source == "ecb", col(ExchangeRate.rate_date) >= days[0],
                   col(ExchangeRate.rate_date) <= days[-1]))).all()}
        now, actor = utc_now(), provenance.actor_display
        new = []
        for (day, code), rate in sorted(rates.items()):
            known = stored.get((day, code))
            if known is None:
                new.append({"rate_date": day, "currency": code, "source": "ecb", "rate": rate, "created_at": now,
                            "created_by": actor})
            elif known != rate:
                row = await session.get(ExchangeRate, (day, code, "ecb"))
                assert row is not None
                row.rate, row.created_at, row.created_by = rate, now, actor
                session.add(row)
                updated += 1
        if new:
            # One executemany on the session's connection, not one ORM object per rate.
            await (await session.connection()).execute(insert(ExchangeRate), new)
        inserted = len(new)
        await session.flush()
    return RateImportResult(source="ecb", days=len(days), currencies=sorted({c for _, c in rates}),
                            inserted=inserted, updated=updated, unchanged=len(rates) - inserted - updated,
                            skipped_currencies=skipped, first_date=days[0].isoformat() if days else None,
                            last_date=days[-1].isoformat() if days else None)


def rate_from_vat(vat_in_currency: str, vat_in_base: str, currency: str, base: str = "EUR") -> str:
    """The rate an e-invoice implies when it states its VAT total in the document currency (BT-110) and
    in the VAT accounting currency (BT-111): document VAT / base VAT, rounded half up to six
    significant digits (the figures are rounded to cents, so more digits would be noise)."""
    document = Decimal(parse_amount(vat_in_currency, currency, field="vat_in_currency")).scaleb(-minor_units(currency))
    in_base = Decimal(parse_amount(vat_in_base, base, field="vat_in_base")).scaleb(-minor_units(base))
    rate = document / in_base
    places = RATE_SIGNIFICANT_DIGITS - rate.adjusted() - 1
    return rate_text(rate.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


async def fx_accounts(session: AsyncSession) -> tuple[str, str]:
    """The chart's accounts for exchange gains and losses (categories fx_gain, fx_loss; SKR03 2660/2150,
    SKR04 4840/6880)."""
    found = []
    for category in ("fx_gain", "fx_loss"):
        number = (await session.exec(select(Account.number).where(Account.category == category, col(Account.is_active))
                                     .order_by(col(Account.number)))).first()
        if number is None:
            kind = "revenue" if category == "fx_gain" else "expense"
            raise ValidationFailed(
                f"The chart has no active {category} account for exchange differences.",
                hint=f"Create one with create_account, type {kind}, category '{category}' (SKR03 "
                     f"{'2660' if kind == 'revenue' else '2150'}, SKR04 {'4840' if kind == 'revenue' else '6880'}).")
        found.append(number)
    return found[0], found[1]
