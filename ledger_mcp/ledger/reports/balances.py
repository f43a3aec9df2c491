"""Trial balance (Summen- und Saldenliste), account statement and general ledger. Computed in the
database (GROUP BY over covering indexes), never by loading the journal. Every figure is in the
ledger's base currency: reports add up the lines' base amounts."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, literal, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta, require_accounts
from ledger_mcp.ledger.journal import date_range, decode_cursor, encode_cursor, page_limit
from ledger_mcp.ledger.models import JournalLine
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.reports.totals import Totals, account_totals, accounts_by_number


def signed(units: int, currency: str) -> str:
    """Minor units as a decimal string with sign: -1234 -> "-12.34"."""
    return format_amount(units, currency)


def _side(balance: int) -> str:
    return "debit" if balance > 0 else "credit" if balance < 0 else "zero"


class TrialBalanceRow(BaseModel):
    account: str
    name: str
    type: str
    opening_balance: str = Field(description="Before start_date, plus opening balances inside the range; + = debit.")
    debit: str = Field(description="Debits in the range.")
    credit: str = Field(description="Credits in the range.")
    closing_balance: str = Field(description="Positive = debit balance, negative = credit balance.")
    balance_side: str
    comparison_closing_balance: str | None = Field(default=None, description="Closing balance of the comparison range.")


class TrialBalance(BaseModel):
    """Summen- und Saldenliste."""

    start_date: str | None
    end_date: str | None
    comparison_start_date: str | None = None
    comparison_end_date: str | None = None
    currency: str
    rows: list[TrialBalanceRow]
    total_opening_balance: str
    total_debit: str
    total_credit: str
    total_closing_balance: str = Field(description="Sum of all closing balances: 0.00 in a sound ledger.")
    balanced: bool = Field(description="Debits equal credits, balances sum to zero; not checked for an account range.")


async def trial_balance(session: AsyncSession, start_date: str | None = None, end_date: str | None = None, *,
                        account_from: str | None = None, account_to: str | None = None,
                        comparison_start_date: str | None = None,
                        comparison_end_date: str | None = None) -> TrialBalance:
    """Per account with lines: opening balance, debits, credits and closing balance; optionally the
    closing balance of a comparison range beside it."""
    start, end = date_range(start_date, end_date)
    currency = (await read_meta(session))["base_currency"]
    totals = await account_totals(session, start, end, account_from=account_from, account_to=account_to)
    compared: dict[str, Totals] | None = None
    if comparison_start_date or comparison_end_date:
        c_start, c_end = date_range(comparison_start_date, comparison_end_date)
        compared = await account_totals(session, c_start, c_end, account_from=account_from, account_to=account_to)
    accounts = await accounts_by_number(session)
    rows = []
    s = Totals()
    for number in sorted(set(totals) | set(compared or {})):
        t, acc = totals.get(number, Totals()), accounts[number]
        s.opening, s.debit, s.credit = s.opening + t.opening, s.debit + t.debit, s.credit + t.credit
        rows.append(TrialBalanceRow(
            account=number, name=acc.name, type=acc.type, opening_balance=signed(t.opening, currency),
            debit=format_amount(t.debit, currency), credit=format_amount(t.credit, currency),
            closing_balance=signed(t.closing, currency), balance_side=_side(t.closing),
            comparison_closing_balance=None if compared is None else signed(
                compared.get(number, Totals()).closing, currency)))
    whole = not (account_from or account_to)
    return TrialBalance(start_date=start_date, end_date=end_date, comparison_start_date=comparison_start_date,
                        comparison_end_date=comparison_end_date, currency=currency, rows=rows,
                        total_opening_balance=signed(s.opening, currency),
                        total_debit=format_amount(s.debit, currency), total_credit=format_amount(s.credit, currency),
                        total_closing_balance=signed(s.closing, currency),
                        balanced=not whole or (s.debit == s.credit and s.closing == 0))


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
    signed_amount = case((col(JournalLine.debit_account) == account, col(JournalLine.base_amount)),
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
    opening_stmt = select(func.coalesce(func.sum(signed_amount), 0)).where(touches, before_page)
    opening = int((await session.exec(opening_stmt)).one())
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
            running_balance=signed(balance, currency)))
    last = lines[limit - 1] if len(lines) > limit else None
    return AccountStatement(
        account=acc.number, name=acc.name, type=acc.type, start_date=start_date, end_date=end_date,
        currency=currency, opening_balance=signed(opening, currency), lines=out,
        closing_balance=signed(balance, currency),
        next_cursor=encode_cursor(last.booking_date.isoformat(), last.journal_number) if last else None)


class GeneralLedger(BaseModel):
    """A page of the general ledger: account after account, each with its lines and running balance."""

    start_date: str | None
    end_date: str | None
    currency: str
    accounts: list[AccountStatement] = Field(description="Accounts on this page; one may continue on the next.")
    next_cursor: str | None


async def general_ledger(session: AsyncSession, start_date: str | None = None, end_date: str | None = None, *,
                         account_from: str | None = None, account_to: str | None = None, limit: int = 200,
                         cursor: str | None = None) -> GeneralLedger:
    """Every account with lines in the range, in number order, `limit` lines per page; the cursor
    names the account and the position inside its statement."""
    start, end = date_range(start_date, end_date)
    remaining = page_limit(limit)
    account, inner = decode_cursor(cursor, 2) if cursor else (None, None)
    account = account or await _next_account(session, account_from, start, end, inclusive=True)
    pages: list[AccountStatement] = []
    next_cursor = None
    while account and (not account_to or account <= account_to) and remaining:
        page = await account_statement(session, account, start_date, end_date, remaining, inner)
        pages.append(page)
        remaining -= len(page.lines)
        if page.next_cursor:
            next_cursor = encode_cursor(account, page.next_cursor)
            break
        inner = None
        account = await _next_account(session, account, start, end, inclusive=False)
        if account and not remaining and (not account_to or account <= account_to):
            next_cursor = encode_cursor(account, None)
    currency = (await read_meta(session))["base_currency"]
    return GeneralLedger(start_date=start_date, end_date=end_date, currency=currency, accounts=pages,
                         next_cursor=next_cursor)


async def _next_account(session: AsyncSession, after: str | None, start: date | None, end: date | None, *,
                        inclusive: bool) -> str | None:
    """The lowest account number (after `after`) with a line in the range, found by index seeks."""
    found = []
    for column in (col(JournalLine.debit_account), col(JournalLine.credit_account)):
        stmt: Any = select(func.min(column))
        if after:
            stmt = stmt.where(column >= after if inclusive else column > after)
        if start:
            stmt = stmt.where(col(JournalLine.booking_date) >= start)
        if end:
            stmt = stmt.where(col(JournalLine.booking_date) <= end)
        value = (await session.exec(stmt)).one()
        if value is not None:
            found.append(value)
    return min(found) if found else None
