"""Reports: trial balance, account statement and general ledger (balances), P&L and balance sheet
(statements), the VAT pre-return (vat), monthly revenue and expenses (monthly)."""

from ledger_mcp.ledger.reports.balances import (
    AccountStatement,
    GeneralLedger,
    TrialBalance,
    account_statement,
    general_ledger,
    trial_balance,
)
from ledger_mcp.ledger.reports.monthly import MonthlyRevenueExpenses, monthly_revenue_expenses
from ledger_mcp.ledger.reports.periods import ReportPeriod, report_period
from ledger_mcp.ledger.reports.statements import BalanceSheet, ProfitAndLoss, balance_sheet, profit_and_loss
from ledger_mcp.ledger.reports.vat import VatReturn, vat_return

__all__ = [
    "AccountStatement", "BalanceSheet", "GeneralLedger", "MonthlyRevenueExpenses", "ProfitAndLoss", "ReportPeriod",
    "TrialBalance", "VatReturn", "account_statement", "balance_sheet", "general_ledger", "monthly_revenue_expenses",
    "profit_and_loss", "report_period", "trial_balance", "vat_return",
]
