"""Profit and loss account (HGB § 275 (2), Gesamtkostenverfahren) and balance sheet (§ 266), in the
short forms small companies may use, laid out from the accounts' `report_group`.

Amounts are signed by what they do: a P&L line is positive when it adds to the result (income) and
negative when it reduces it (expenses); a balance sheet line is positive on its own side (debit
balance for assets, credit balance for equity and liabilities). An account whose group is on
neither statement is listed under `unassigned`, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import today
from ledger_mcp.ledger.fiscal import fiscal_year_bounds, fiscal_year_of
from ledger_mcp.ledger.journal import date_range
from ledger_mcp.ledger.models import Account
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.reports.totals import Totals, account_totals, accounts_by_number

# (line, label, report groups); a line without groups is a subtotal of everything above it.
PROFIT_AND_LOSS_LINES: list[tuple[str, str, tuple[str, ...]]] = [
    ("1", "Umsatzerlöse", ("pl.revenue",)),
    ("2", "Erhöhung oder Verminderung des Bestands an fertigen und unfertigen Erzeugnissen",
     ("pl.inventory_change",)),
    ("3", "andere aktivierte Eigenleistungen", ("pl.own_work",)),
    ("4", "sonstige betriebliche Erträge", ("pl.other_income",)),
    ("5", "Materialaufwand", ("pl.material",)),
    ("R", "Rohergebnis (§ 276 HGB)", ()),
    ("6", "Personalaufwand", ("pl.personnel",)),
    ("7", "Abschreibungen", ("pl.depreciation",)),
    ("8", "sonstige betriebliche Aufwendungen", ("pl.other_expenses",)),
    ("9", "Erträge aus Beteiligungen", ("pl.investment_income",)),
    ("10", "Erträge aus anderen Wertpapieren und Ausleihungen des Finanzanlagevermögens", ("pl.securities_income",)),
    ("11", "sonstige Zinsen und ähnliche Erträge", ("pl.interest_income",)),
    ("12", "Abschreibungen auf Finanzanlagen und auf Wertpapiere des Umlaufvermögens", ("pl.financial_write_downs",)),
    ("13", "Zinsen und ähnliche Aufwendungen", ("pl.interest_expense",)),
    ("14", "Steuern vom Einkommen und vom Ertrag", ("pl.taxes_on_income",)),
    ("15", "Ergebnis nach Steuern", ()),
    ("16", "sonstige Steuern", ("pl.other_taxes",)),
    ("17", "Jahresüberschuss/Jahresfehlbetrag", ()),
]

ASSET_LINES: list[tuple[str, str, tuple[str, ...]]] = [
    ("A.I", "Immaterielle Vermögensgegenstände", ("bs.fixed_assets.intangible",)),
    ("A.II", "Sachanlagen", ("bs.fixed_assets.tangible",)),
    ("A.III", "Finanzanlagen", ("bs.fixed_assets.financial",)),
    ("B.I", "Vorräte", ("bs.current_assets.inventory",)),
    ("B.II", "Forderungen und sonstige Vermögensgegenstände",
     ("bs.current_assets.receivables", "bs.current_assets.other")),
    ("B.III", "Wertpapiere", ("bs.current_assets.securities",)),
    ("B.IV", "Kassenbestand, Guthaben bei Kreditinstituten", ("bs.current_assets.cash",)),
    ("C", "Rechnungsabgrenzungsposten", ("bs.prepaid",)),
]
EQUITY_AND_LIABILITY_LINES: list[tuple[str, str, tuple[str, ...]]] = [
    ("A", "Eigenkapital (Kapital, Rücklagen, Vorträge)", ("bs.equity",)),
    ("A.IV", "Ergebnisse nicht abgeschlossener Vorjahre", ()),
    ("A.V", "Jahresüberschuss/Jahresfehlbetrag", ()),
    ("B", "Rückstellungen", ("bs.provisions",)),
    ("C", "Verbindlichkeiten", ("bs.liabilities.bank", "bs.liabilities.trade", "bs.liabilities.tax",
                                "bs.liabilities.other")),
    ("D", "Rechnungsabgrenzungsposten", ("bs.deferred_income",)),
]
PROFIT_AND_LOSS_GROUPS = frozenset(g for _, _, groups in PROFIT_AND_LOSS_LINES for g in groups)
BALANCE_SHEET_GROUPS = frozenset(g for _, _, groups in ASSET_LINES + EQUITY_AND_LIABILITY_LINES for g in groups)


class AccountAmount(BaseModel):
    account: str
    name: str
    amount: str
    comparison_amount: str


class StatementLine(BaseModel):
    line: str = Field(description="Position in the HGB layout, e.g. '5' or 'B.IV'.")
    label: str
    amount: str
    comparison_amount: str
    accounts: list[AccountAmount] = Field(description="Accounts behind the line; empty for subtotals.")


class UnassignedAccount(BaseModel):
    account: str
    name: str
    type: str
    report_group: str
    balance: str = Field(description="+ = debit.")


class ProfitAndLoss(BaseModel):
    start_date: str
    end_date: str
    comparison_start_date: str
    comparison_end_date: str
    currency: str
    lines: list[StatementLine]
    result: str = Field(description="Jahresüberschuss (+) or Jahresfehlbetrag (-) of the range.")
    comparison_result: str
    unassigned: list[UnassignedAccount] = Field(description="Accounts with movement on no line of either statement.")


class BalanceSheet(BaseModel):
    as_of: str
    comparison_as_of: str
    currency: str
    assets: list[StatementLine]
    equity_and_liabilities: list[StatementLine]
    total_assets: str
    total_equity_and_liabilities: str
    comparison_total_assets: str
    comparison_total_equity_and_liabilities: str
    result: str = Field(description="Result of the fiscal year to as_of: equals the P&L of that range.")
    result_start_date: str
    balanced: bool = Field(description="Assets equal equity and liabilities and no account is unassigned.")
    unassigned: list[UnassignedAccount]


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day - timedelta(days=366)


def _prior_range(start: date, end: date) -> tuple[date, date]:
    """The comparison range: the same dates a year earlier."""
    return _year_before(start), _year_before(end)


async def profit_and_loss(session: AsyncSession, start_date: str | None, end_date: str | None, *,
                          comparison_start_date: str | None = None,
                          comparison_end_date: str | None = None) -> ProfitAndLoss:
    """The P&L for start..end (default: the current fiscal year to end_date), beside a comparison
    range (default: the same range a year earlier). Year-end close intents are left out."""
    start, end = await report_range(session, start_date, end_date)
    c_start, c_end = _comparison(start, end, comparison_start_date, comparison_end_date)
    currency = (await read_meta(session))["base_currency"]
    accounts = await accounts_by_number(session)
    now = await account_totals(session, start, end, without_close_from=start, with_opening=False)
    then = await account_totals(session, c_start, c_end, without_close_from=c_start, with_opening=False)
    lines, result, prior_result = _layout(PROFIT_AND_LOSS_LINES, accounts, now, then, currency,
                                          lambda t: -t.movement)
    unassigned = _unassigned(accounts, now, currency, lambda t: t.movement)
    return ProfitAndLoss(start_date=start.isoformat(), end_date=end.isoformat(),
                         comparison_start_date=c_start.isoformat(), comparison_end_date=c_end.isoformat(),
                         currency=currency, lines=lines, result=format_amount(result, currency),
                         comparison_result=format_amount(prior_result, currency), unassigned=unassigned)


async def balance_sheet(session: AsyncSession, end_date: str | None, *,
                        comparison_end_date: str | None = None) -> BalanceSheet:
    """The balance sheet as of end_date (default today) beside a comparison date (default a year
    earlier). Equity shows the fiscal year's result so far and results of earlier years that were
    never closed; with those the sheet balances."""
    _, as_of = await report_range(session, None, end_date)
    _, c_as_of = date_range(None, comparison_end_date) if comparison_end_date else (None, _year_before(as_of))
    assert c_as_of is not None
    currency = (await read_meta(session))["base_currency"]
    accounts = await accounts_by_number(session)
    sides: list[tuple[list[StatementLine], int, int]] = []
    figures = [await _balance_figures(session, as_of), await _balance_figures(session, c_as_of)]
    for layout, sign in ((ASSET_LINES, 1), (EQUITY_AND_LIABILITY_LINES, -1)):
        def side(t: Totals, sign: int = sign) -> int:
            return sign * t.closing

        lines, total, prior_total = _layout(layout, accounts, figures[0][0], figures[1][0], currency, side,
                                            subtotals=False)
        for line in lines:
            for key, fig in (("amount", figures[0]), ("comparison_amount", figures[1])):
                extra = {"A.IV": fig[1], "A.V": fig[2]}.get(line.line)
                if extra is not None:
                    setattr(line, key, format_amount(extra, currency))
        if sign < 0:
            total += figures[0][1] + figures[0][2]
            prior_total += figures[1][1] + figures[1][2]
        sides.append((lines, total, prior_total))
    unassigned = _unassigned(accounts, figures[0][0], currency, lambda t: t.closing)
    (assets, total_a, prior_a), (passiva, total_p, prior_p) = sides
    return BalanceSheet(
        as_of=as_of.isoformat(), comparison_as_of=c_as_of.isoformat(), currency=currency, assets=assets,
        equity_and_liabilities=passiva, total_assets=format_amount(total_a, currency),
        total_equity_and_liabilities=format_amount(total_p, currency),
        comparison_total_assets=format_amount(prior_a, currency),
        comparison_total_equity_and_liabilities=format_amount(prior_p, currency),
        result=format_amount(figures[0][2], currency),
        result_start_date=fiscal_year_bounds(fiscal_year_of(as_of))[0].isoformat(),
        balanced=total_a == total_p and not unassigned, unassigned=unassigned)


async def _balance_figures(session: AsyncSession, as_of: date) -> tuple[dict[str, Totals], int, int]:
    """Balances at `as_of` without the closing of its own fiscal year, the results of earlier years
    still on P&L accounts, and the fiscal year's result so far."""
    first = fiscal_year_bounds(fiscal_year_of(as_of))[0]
    totals = await account_totals(session, first, as_of, without_close_from=first)
    accounts = await accounts_by_number(session)
    pnl = [t for n, t in totals.items() if accounts[n].report_group in PROFIT_AND_LOSS_GROUPS]
    return totals, -sum(t.opening for t in pnl), -sum(t.movement for t in pnl)


async def report_range(session: AsyncSession, start_date: str | None, end_date: str | None) -> tuple[date, date]:
    start, end = date_range(start_date, end_date)
    end = end or today()
    return start or fiscal_year_bounds(fiscal_year_of(end))[0], end


def _comparison(start: date, end: date, c_start: str | None, c_end: str | None) -> tuple[date, date]:
    if not (c_start or c_end):
        return _prior_range(start, end)
    a, b = date_range(c_start, c_end)
    prior = _prior_range(start, end)
    return a or prior[0], b or prior[1]


def _layout(layout: list[tuple[str, str, tuple[str, ...]]], accounts: dict[str, Account],
            now: dict[str, Totals], then: dict[str, Totals], currency: str, value: Callable[[Totals], int],
            subtotals: bool = True) -> tuple[list[StatementLine], int, int]:
    """Lines of a layout with their accounts; returns the lines and the two grand totals."""
    lines = []
    total = prior = 0
    for line, label, groups in layout:
        if not groups:
            lines.append(StatementLine(line=line, label=label, accounts=[],
                                       amount=format_amount(total if subtotals else 0, currency),
                                       comparison_amount=format_amount(prior if subtotals else 0, currency)))
            continue
        members = []
        amount = prior_amount = 0
        for number in sorted(set(now) | set(then)):
            acc = accounts[number]
            if acc.report_group not in groups:
                continue
            a, b = value(now.get(number, Totals())), value(then.get(number, Totals()))
            if a or b:
                members.append(AccountAmount(account=number, name=acc.name, amount=format_amount(a, currency),
                                             comparison_amount=format_amount(b, currency)))
            amount, prior_amount = amount + a, prior_amount + b
        total, prior = total + amount, prior + prior_amount
        lines.append(StatementLine(line=line, label=label, amount=format_amount(amount, currency),
                                   comparison_amount=format_amount(prior_amount, currency), accounts=members))
    return lines, total, prior


def _unassigned(accounts: dict[str, Account], totals: dict[str, Totals], currency: str,
                value: Callable[[Totals], int]) -> list[UnassignedAccount]:
    out = []
    for number, t in sorted(totals.items()):
        acc = accounts[number]
        if acc.report_group in PROFIT_AND_LOSS_GROUPS or acc.report_group in BALANCE_SHEET_GROUPS:
            continue
        if value(t):
            out.append(UnassignedAccount(account=number, name=acc.name, type=acc.type,
                                         report_group=acc.report_group, balance=format_amount(value(t), currency)))
    return out
