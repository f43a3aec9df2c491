"""Per-account totals over a date range, computed in the database: each side of the journal is
grouped on its own covering index (account, booking_date, base_amount), never loaded whole.

Two kinds of intents are treated apart:
- opening balances and carry-forwards (and their Stornos) dated inside the range are opening, not
  movement, so a Summen- und Saldenliste shows them as Saldenvortrag;
- year-end close intents (and their Stornos) can be left out, so a P&L or balance sheet of the year
  shows the year's result instead of the P&L accounts after their transfer to equity.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.models import Account, Intent, JournalLine
from ledger_mcp.ledger.periods import CARRY_FORWARD_CATEGORY, YEAR_END_CLOSE_CATEGORY
from ledger_mcp.ledger.posting import OPENING_BALANCE_CATEGORY

OPENING_CATEGORIES = (OPENING_BALANCE_CATEGORY, CARRY_FORWARD_CATEGORY)


@dataclass
class Totals:
    """One account's figures in minor units of the base currency: `opening` is the balance before
    the range (positive = debit), `debit`/`credit` the movement inside it."""

    opening: int = 0
    debit: int = 0
    credit: int = 0

    @property
    def closing(self) -> int:
        return self.opening + self.debit - self.credit

    @property
    def movement(self) -> int:
        return self.debit - self.credit


async def account_totals(session: AsyncSession, start: date | None, end: date | None, *,
                         account_from: str | None = None, account_to: str | None = None,
                         without_close_from: date | None = None, with_opening: bool = True) -> dict[str, Totals]:
    """Totals per account number for start..end (both inclusive, None = open). Year-end close lines
    dated from `without_close_from` to `end` are left out. Without `with_opening` only the range is
    read (movement only: P&L figures), which is much less than everything up to `end`."""
    totals: dict[str, Totals] = defaultdict(Totals)
    for sign, account in ((1, col(JournalLine.debit_account)), (-1, col(JournalLine.credit_account))):
        base, booked = col(JournalLine.base_amount), col(JournalLine.booking_date)
        split = start and with_opening
        before: Any = func.sum(case((booked < start, base), else_=0)) if split else literal(0)
        inside: Any = func.sum(case((booked >= start, base), else_=0)) if split else func.sum(base)
        stmt: Any = select(account, before, inside).group_by(account)
        if start and not with_opening:
            stmt = stmt.where(booked >= start)
        if end:
            stmt = stmt.where(booked <= end)
        if account_from:
            stmt = stmt.where(account >= account_from)
        if account_to:
            stmt = stmt.where(account <= account_to)
        for number, opening, moved in (await session.exec(stmt)).all():
            t = totals[number]
            t.opening += sign * int(opening or 0)
            if sign > 0:
                t.debit += int(moved or 0)
            else:
                t.credit += int(moved or 0)
    for debit, credit, amount, day, category in await _special_lines(session, start, end, without_close_from):
        for number, sign in ((debit, 1), (credit, -1)):
            if number not in totals:
                continue
            t = totals[number]
            inside = start is None or day >= start
            if category == YEAR_END_CLOSE_CATEGORY:
                if not inside:
                    t.opening -= sign * amount
                elif sign > 0:
                    t.debit -= amount
                else:
                    t.credit -= amount
            elif inside:  # an opening balance inside the range: from movement into opening
                t.opening += sign * amount
                if sign > 0:
                    t.debit -= amount
                else:
                    t.credit -= amount
    return dict(totals)


async def _special_lines(session: AsyncSession, start: date | None, end: date | None,
                         without_close_from: date | None) -> list[tuple[str, str, int, date, str]]:
    """Lines of opening/carry-forward intents in the range and of year-end closes to be left out,
    with the category of the intent (a Storno takes the category of the intent it reverses)."""
    original = aliased(Intent)
    category = case((col(Intent.category) == "reversal", original.category), else_=col(Intent.category))
    wanted = list(OPENING_CATEGORIES) + ([YEAR_END_CLOSE_CATEGORY] if without_close_from else [])
    stmt: Any = (select(col(JournalLine.debit_account), col(JournalLine.credit_account),  # type: ignore[call-overload]
                        col(JournalLine.base_amount), col(JournalLine.booking_date), category)
                 .join(Intent, col(Intent.id) == JournalLine.intent_id)
                 .outerjoin(original, col(original.id) == Intent.reverses_intent_id)
                 # the first condition lets the database find these few intents by ix_intent_category
                 .where(col(Intent.category).in_([*wanted, "reversal"]),
                        or_(col(Intent.category).in_(wanted), col(original.category).in_(wanted))))
    bounds = [d for d in (start, without_close_from) if d]
    if bounds:
        stmt = stmt.where(col(Intent.booking_date) >= min(bounds))
    if end:
        stmt = stmt.where(col(Intent.booking_date) <= end)
    out = []
    for debit, credit, amount, day, cat in (await session.exec(stmt)).all():
        if cat == YEAR_END_CLOSE_CATEGORY and not (without_close_from and day >= without_close_from):
            continue
        if cat in OPENING_CATEGORIES and start and day < start:
            continue
        out.append((debit, credit, int(amount), day, cat))
    return out


async def accounts_by_number(session: AsyncSession) -> dict[str, Account]:
    return {a.number: a for a in (await session.exec(select(Account))).all()}
