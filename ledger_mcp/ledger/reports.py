"""Reports computed in the database (GROUP BY over indexed columns), never by loading the journal.
Every figure is in the ledger's base currency: reports add up the lines' base amounts."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, literal, or_, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta, require_accounts
from ledger_mcp.ledger.journal import date_range, decode_cursor, encode_cursor, page_limit
from ledger_mcp.ledger.models import Account, JournalLine
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.portable import binary


def _side(balance: int) -> str:
    return "debit" if balance > 0 else "credit" if balance < 0 else "zero"


def _postings(end: date | None) -> Any:
    """Every line twice: once on its debit account (+amount), once on its credit account (-amount)."""
    debit: Any = select(col(JournalLine.debit_account).label("account"), col(JournalLine.booking_date).label("d"),
                   col(JournalLine.base_amount).label("dr"), literal(0).label("cr"))
    credit: Any = select(col(JournalLine.credit_account).label("account"), col(JournalLine.booking_date).label("d"),
                    literal(0).label("dr"), col(JournalLine.base_amount).label("cr"))
    if end:
        debit = debit.where(JournalLine.booking_date <= end)
        credit = credit.where(JournalLine.booking_date <= end)
    return union_all(debit, credit).subquery("postings")


class TrialBalanceRow(BaseModel):
    account: str
    name: str
    type: str
    opening_balance: str = Field(description="Balance before start_date; positive = debit, negative = credit.")
    debit: str = Field(description="Debits in the period.")
    credit: str = Field(description="Credits in the period.")
    closing_balance: str = Field(description="Positive = debit balance, negative = credit balance.")
    balance_side: str


class TrialBalance(BaseModel):
    start_date: str | None
    end_date: str | None
    currency: str
    rows: list[TrialBalanceRow]
    total_debit: str
    total_credit: str
    total_closing_balance: str = Field(description="Sum of all closing balances: 0.00 in a sound ledger.")
    balanced: bool


async def trial_balance(session: AsyncSession, start_date: str | None = None,
                        end_date: str | None = None) -> TrialBalance:
    start, end = date_range(start_date, end_date)
    currency = (await read_meta(session))["base_currency"]
    p = _postings(end)
    before = p.c.d < start if start else literal(False)
    opening = func.sum(case((before, p.c.dr - p.c.cr), else_=0))
    period_dr = func.sum(case((before, 0), else_=p.c.dr))
    period_cr = func.sum(case((before, 0), else_=p.c.cr))
    stmt: Any = (select(p.c.account, Account.name, Account.type, opening, period_dr, period_cr)  # type: ignore[call-overload]
                         .join(Account, col(Account.number) == p.c.account)
                         .group_by(p.c.account, Account.name, Account.type).order_by(binary(p.c.account)))
    rows = []
    total_dr = total_cr = total_closing = 0
    for number, name, type_, open_, dr, cr in (await session.exec(stmt)).all():
        open_, dr, cr = int(open_ or 0), int(dr or 0), int(cr or 0)
        closing = open_ + dr - cr
        total_dr, total_cr, total_closing = total_dr + dr, total_cr + cr, total_closing + closing
        rows.append(TrialBalanceRow(account=number, name=name, type=type_,
                                    opening_balance=_signed(open_, currency),
                                    debit=format_amount(dr, currency), credit=format_amount(cr, currency),
                                    closing_balance=_signed(closing, currency), balance_side=_side(closing)))
    return TrialBalance(start_date=start_date, end_date=end_date, currency=currency, rows=rows,
                        total_debit=format_amount(total_dr, currency), total_credit=format_amount(total_cr, currency),
                        total_closing_balance=_signed(total_closing, currency),
                        balanced=total_dr == total_cr and total_closing == 0)


def _signed(units: int, currency: str) -> str:
    return format_amount(units, currency) if units >= 0 else "-" + format_amount(-units, currency)


class StatementLine(BaseModel):
    journal_number: int
    booking_date: str
    intent_id: str
    description: str
    counter_account: str
    debit: str
    credit: str
    running_balance: str = Field(description="After this line; positive = debit balance.")


class AccountStatement(BaseModel):
    account: str
    name: str
    type: str
    start_date: str | None
    end_date: str | None
    currency: str
    opening_balance: str = Field(description="Balance before the first line of this page.")
    lines: list[StatementLine]
    closing_balance: str = Field(description="Balance after the last line of this page.")
    next_cursor: str | None


async def account_statement(session: AsyncSession, account: str, start_date: str | None = None,
                            end_date: str | None = None, limit: int = 200,
                            cursor: str | None = None) -> AccountStatement:
    """Lines of one account in date order with a running balance; keyset-paginated."""
    start, end = date_range(start_date, end_date)
    acc = (await require_accounts(session, {account}))[account]
    currency = (await read_meta(session))["base_currency"]
    limit = page_limit(limit)
    touches = or_(col(JournalLine.debit_account) == account, col(JournalLine.credit_account) == account)
    signed = case((col(JournalLine.debit_account) == account, col(JournalLine.base_amount)),
                  else_=-col(JournalLine.base_amount))
    before_page: Any
    in_page: Any
    # The page starts after (start_date) or after the cursor's (date, journal number).
    if cursor:
        after_date, after_number = decode_cursor(cursor, 2)
        after_d = date.fromisoformat(after_date)
        same_day = col(JournalLine.booking_date) == after_d
        before_page = or_(col(JournalLine.booking_date) < after_d,
                          and_(same_day, col(JournalLine.journal_number) <= after_number))
        in_page = ~before_page
    else:
        before_page = col(JournalLine.booking_date) < start if start else literal(False)
        in_page = col(JournalLine.booking_date) >= start if start else literal(True)
    opening = int((await session.exec(select(func.coalesce(func.sum(signed), 0)).where(touches, before_page))).one())
    stmt = select(JournalLine).where(touches, in_page)
    if end:
        stmt = stmt.where(col(JournalLine.booking_date) <= end)
    lines = list((await session.exec(stmt.order_by(col(JournalLine.booking_date), col(JournalLine.journal_number))
                                     .limit(limit + 1))).all())
    balance = opening
    out = []
    for line in lines[:limit]:
        is_debit = line.debit_account == account
        balance += line.base_amount if is_debit else -line.base_amount
        out.append(StatementLine(
            journal_number=line.journal_number, booking_date=line.booking_date.isoformat(), intent_id=line.intent_id,
            description=line.description, counter_account=line.credit_account if is_debit else line.debit_account,
            debit=format_amount(line.base_amount if is_debit else 0, currency),
            credit=format_amount(0 if is_debit else line.base_amount, currency),
            running_balance=_signed(balance, currency)))
    last = lines[limit - 1] if len(lines) > limit else None
    return AccountStatement(
        account=acc.number, name=acc.name, type=acc.type, start_date=start_date, end_date=end_date,
        currency=currency, opening_balance=_signed(opening, currency), lines=out,
        closing_balance=_signed(balance, currency),
        next_cursor=encode_cursor(last.booking_date.isoformat(), last.journal_number) if last else None)
