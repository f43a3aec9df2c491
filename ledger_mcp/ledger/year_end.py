"""The year-end close: revenue and expense accounts into the result account, balance sheet
balances carried into the next fiscal year.

Two intents, each with its own category:
- `year_end_close`, on the last day of the fiscal year: every revenue and expense account's balance
  for the year is moved onto the chart's result account (category `result`: SKR03 0869, SKR04 2979),
  so the year's P&L accounts end at zero and its result sits in equity.
- `carry_forward`, on the first day of the next fiscal year: this ledger's balances are cumulative,
  so the new year's opening balances are already in place; the intent records each balance sheet
  account's Saldenvortrag explicitly, as a line closing the old balance into the opening balance
  account (category `opening_balance`, 9000) and a line opening it again from there. Balances and
  the 9000 account stay unchanged; every account statement of the new year shows its carry-forward.

Both go through the normal write path, so a locked period refuses them. A year is closed after its
last day, and once unless that close was reversed; the close is reversible (Storno of both intents,
on their original dates) while those periods are not locked.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import posting
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import today
from ledger_mcp.ledger.errors import PeriodStateConflict, ValidationFailed, YearAlreadyClosed
from ledger_mcp.ledger.fiscal import fiscal_year_bounds
from ledger_mcp.ledger.models import Account, Intent, JournalLine
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.periods import CARRY_FORWARD_CATEGORY, YEAR_END_CLOSE_CATEGORY
from ledger_mcp.ledger.posting import OPENING_BALANCE_CATEGORY, Leg, ReversalRequest
from ledger_mcp.ledger.provenance import Provenance

RESULT_CATEGORY = "result"


class YearEndRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    year: int = Field(ge=1900, le=2199, description="The fiscal year to close, e.g. 2025.")
    action: Literal["close", "reverse"] = "close"
    reason: str = Field(default="Jahresabschluss / year-end close", min_length=1, max_length=500)
    acknowledge_soft_lock: bool = Field(default=False, description=posting.ACK_DESCRIPTION)


class YearEndResult(BaseModel):
    year: int
    action: str
    result_account: str | None
    result: str = Field(description="The year's result moved to the result account; positive = profit.")
    currency: str
    close_intent_id: str | None
    carry_forward_intent_id: str | None
    reversal_intent_ids: list[str] = Field(default=[], description="reverse: the Storno intents written.")
    accounts_closed: int
    accounts_carried_forward: int


async def close_fiscal_year(session: AsyncSession, request: YearEndRequest, provenance: Provenance) -> YearEndResult:
    first, last = fiscal_year_bounds(request.year)
    next_first = last + timedelta(days=1)
    currency = (await read_meta(session))["base_currency"]
    existing = await _closing_intents(session, last, next_first)
    if request.action == "reverse":
        return await _reverse(session, request, provenance, existing, currency)
    if last >= today():
        raise PeriodStateConflict(f"Fiscal year {request.year} has not ended yet (it ends {last.isoformat()}).",
                                  hint="Close a fiscal year after its last day.", details={"year": request.year})
    if existing:
        raise YearAlreadyClosed(
            f"Fiscal year {request.year} is already closed (intents {', '.join(existing.values())}).",
            hint="Reverse that close first (action 'reverse') if it must be redone.",
            details={"year": request.year, **{f"{k}_intent_id": v for k, v in existing.items()}})
    accounts = {a.number: a for a in (await session.exec(select(Account))).all()}
    result_account = min((n for n, a in accounts.items() if a.category == RESULT_CATEGORY), default=None)
    opening_account = min((n for n, a in accounts.items() if a.category == OPENING_BALANCE_CATEGORY), default=None)
    if result_account is None or opening_account is None:
        raise ValidationFailed("The chart has no result account (category 'result') or no opening balance "
                               "account (category 'opening_balance').",
                               hint="Create the missing account with create_account and that category.")
    pnl = {n: b for n, b in (await _balances(session, first, last)).items()
           if b and accounts[n].type in ("revenue", "expense")}
    close_legs = [Leg(result_account, number, b, None, "amount", f"Abschluss {number} an {result_account}")
                  if b > 0 else Leg(number, result_account, -b, None, "amount",
                                    f"Abschluss {number} an {result_account}")
                  for number, b in sorted(pnl.items())]
    close = None
    if close_legs:
        close = await posting.post_legs(
            session, category=YEAR_END_CLOSE_CATEGORY, booking_date=last, legs=close_legs, provenance=provenance,
            description=f"Jahresabschluss {request.year}: GuV an {result_account}",
            acknowledge_soft_lock=request.acknowledge_soft_lock)
    balance_sheet = {n: b for n, b in (await _balances(session, None, last)).items()
                     if b and accounts[n].type in ("asset", "liability", "equity")
                     and accounts[n].category != OPENING_BALANCE_CATEGORY}
    carry_legs: list[Leg] = []
    for number, b in sorted(balance_sheet.items()):
        out, into = (opening_account, number) if b > 0 else (number, opening_account)
        carry_legs.append(Leg(out, into, abs(b), None, "amount", f"Saldenvortrag {number} aus {request.year}"))
        carry_legs.append(Leg(into, out, abs(b), None, "amount", f"Saldenvortrag {number} nach {request.year + 1}"))
    carry = None
    if carry_legs:
        carry = await posting.post_legs(
            session, category=CARRY_FORWARD_CATEGORY, booking_date=next_first, legs=carry_legs,
            provenance=provenance, description=f"Saldenvorträge {request.year} -> {request.year + 1}",
            acknowledge_soft_lock=request.acknowledge_soft_lock)
    if close is None and carry is None:
        raise ValidationFailed(f"Fiscal year {request.year} has no balances to close.",
                               hint="Check the year; nothing was booked up to its last day.")
    profit = -sum(pnl.values())
    return YearEndResult(
        year=request.year, action="close", result_account=result_account,
        result=("-" if profit < 0 else "") + format_amount(abs(profit), currency), currency=currency,
        close_intent_id=close.intent_id if close else None, carry_forward_intent_id=carry.intent_id if carry else None,
        accounts_closed=len(pnl), accounts_carried_forward=len(balance_sheet))


async def _reverse(session: AsyncSession, request: YearEndRequest, provenance: Provenance,
                   existing: dict[str, str], currency: str) -> YearEndResult:
    if not existing:
        raise PeriodStateConflict(f"Fiscal year {request.year} is not closed; there is nothing to reverse.",
                                  hint="Close it with action 'close'.", details={"year": request.year})
    reversals = []
    for category in (CARRY_FORWARD_CATEGORY, YEAR_END_CLOSE_CATEGORY):  # undo in reverse order
        if category in existing:
            reversal = await posting.reverse_intent(session, ReversalRequest(
                intent_id=existing[category], reason=request.reason, posting_mode="original_date",
                acknowledge_soft_lock=request.acknowledge_soft_lock), provenance)
            reversals.append(reversal.intent_id)
    return YearEndResult(year=request.year, action="reverse", result_account=None, result=format_amount(0, currency),
                         currency=currency, close_intent_id=existing.get(YEAR_END_CLOSE_CATEGORY),
                         carry_forward_intent_id=existing.get(CARRY_FORWARD_CATEGORY), reversal_intent_ids=reversals,
                         accounts_closed=0, accounts_carried_forward=0)


async def _closing_intents(session: AsyncSession, last: date, next_first: date) -> dict[str, str]:
    """The year's close and carry-forward intents that were not reversed, by category."""
    reversal = aliased(Intent)
    rows = (await session.exec(
        select(Intent.category, Intent.id)
        .outerjoin(reversal, col(reversal.reverses_intent_id) == Intent.id)
        .where(col(reversal.id).is_(None),
               ((Intent.category == YEAR_END_CLOSE_CATEGORY) & (Intent.booking_date == last))
               | ((Intent.category == CARRY_FORWARD_CATEGORY) & (Intent.booking_date == next_first))))).all()
    return {category: intent_id for category, intent_id in rows}


async def _balances(session: AsyncSession, start: date | None, end: date) -> dict[str, int]:
    """Every account's balance over [start, end] (from the beginning when start is None); debit positive."""
    balances: dict[str, int] = {}
    for column, sign in ((JournalLine.debit_account, 1), (JournalLine.credit_account, -1)):
        stmt = select(col(column), func.sum(JournalLine.base_amount)).where(JournalLine.booking_date <= end)
        if start:
            stmt = stmt.where(JournalLine.booking_date >= start)
        for number, total in (await session.exec(stmt.group_by(col(column)))).all():
            balances[number] = balances.get(number, 0) + sign * int(total or 0)
    return balances
