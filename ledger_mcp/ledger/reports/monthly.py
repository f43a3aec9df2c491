"""Revenue and expenses per month (seed 001: monthly revenue/expenses), from the revenue and
expense accounts, year-end closes left out."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.fiscal import period_bounds, period_of, periods_between
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.reports.statements import report_range
from ledger_mcp.ledger.reports.totals import account_totals, accounts_by_number


class MonthFigures(BaseModel):
    month: str = Field(description="YYYY-MM")
    revenue: str
    expenses: str
    result: str = Field(description="revenue - expenses")


class MonthlyRevenueExpenses(BaseModel):
    start_date: str
    end_date: str
    currency: str
    months: list[MonthFigures]
    total_revenue: str
    total_expenses: str
    total_result: str


async def monthly_revenue_expenses(session: AsyncSession, start_date: str | None,
                                   end_date: str | None) -> MonthlyRevenueExpenses:
    """Default range: the current fiscal year to end_date (default today)."""
    start, end = await report_range(session, start_date, end_date)
    currency = (await read_meta(session))["base_currency"]
    accounts = await accounts_by_number(session)
    months = []
    total_revenue = total_expenses = 0
    for month in periods_between(period_of(start), period_of(end)):
        first, last = period_bounds(month)
        first, last = max(first, start), min(last, end)
        totals = await account_totals(session, first, last, without_close_from=first, with_opening=False)
        revenue = -sum(t.movement for n, t in totals.items() if accounts[n].type == "revenue")
        expenses = sum(t.movement for n, t in totals.items() if accounts[n].type == "expense")
        total_revenue, total_expenses = total_revenue + revenue, total_expenses + expenses
        months.append(MonthFigures(month=month, revenue=format_amount(revenue, currency),
                                   expenses=format_amount(expenses, currency),
                                   result=format_amount(revenue - expenses, currency)))
    return MonthlyRevenueExpenses(start_date=start.isoformat(), end_date=end.isoformat(), currency=currency,
                                  months=months, total_revenue=format_amount(total_revenue, currency),
                                  total_expenses=format_amount(total_expenses, currency),
                                  total_result=format_amount(total_revenue - total_expenses, currency))
