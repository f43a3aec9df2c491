"""Prompts (workflows a user picks in the client: book an invoice, reconcile a bank statement, close a
month, explain an account) and argument completion for prompts and resource templates."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference
from pydantic import Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import accounts, journal
from ledger_mcp.ledger.clock import today
from ledger_mcp.server.access import READ

MAX_COMPLETIONS = 100
ACCOUNT_ARGUMENTS = {"account", "number", "bank_account", "expense_account", "revenue_account"}
PERIOD_ARGUMENTS = {"period"}
INTENT_ARGUMENTS = {"intent_id"}


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.prompt(title="Book an invoice")
    def book_invoice(
        invoice: Annotated[str, Field(description="The invoice: pasted text, or vendor/customer, number, date, "
                                                  "net/VAT/gross amounts and what was bought or sold.")],
        direction: Annotated[str, Field(description="incoming (a vendor's bill) or outgoing (our sales "
                                                    "invoice)")] = "incoming",
        expense_account: Annotated[str, Field(description="Account to book against, if already known "
                                                          "(e.g. 4930 Bürobedarf).")] = "",
    ) -> str:
        """Book an incoming or outgoing invoice correctly: accounts, tax code, reference, idempotency key."""
        account = f"Book it on account {expense_account}. " if expense_account else (
            "Find the right expense or revenue account with search_accounts. ")
        payable = ("credit the payables account (SKR03 1600) and debit the expense account; use an input VAT code "
                   "(VSt19/VSt7, RC19 for reverse charge)" if direction != "outgoing" else
                   "debit the receivables account (SKR03 1400) and credit the revenue account; use an output VAT "
                   "code (USt19/USt7)")
        return (f"Book this {direction} invoice in the ledger.\n\n{invoice}\n\n"
                f"{account}Use post_booking with the GROSS amount as a decimal string and a tax code: {payable}. "
                "Check tax codes with list_tax_codes. Set external_reference to the invoice number, booking_date "
                "to the invoice date, and an idempotency_key derived from vendor and invoice number so that a "
                "retry never books twice. If the server answers DUPLICATE_SUSPECTED, tell me instead of "
                "overriding. Finish by showing the intent id and the journal lines.")

    @server.prompt(title="Reconcile a bank statement")
    def reconcile_bank_statement(
        bank_account: Annotated[str, Field(description="The ledger account of the bank, e.g. 1200.")],
        statement: Annotated[str, Field(description="The statement lines: date, amount (+/-), counterparty, "
                                                    "purpose.")],
    ) -> str:
        """Match each bank statement line with open items or book it, then compare the balances."""
        return (f"Reconcile this bank statement against ledger account {bank_account}.\n\n{statement}\n\n"
                "For each line: look for a matching open item (list_open_items: same amount, reference in the "
                "purpose text) and settle it with post_booking between the bank account and the receivables or "
                "payables account, using the invoice number as external_reference. Book lines without an open "
                "item (fees, interest) on a fitting account after search_accounts. Use the statement line as "
                "idempotency_key. Then compare the closing balance from run_report account_statement with the "
                "statement's closing balance and list any line you could not match.")

    @server.prompt(title="Close a month")
    def close_month(
        period: Annotated[str, Field(description="The month to close, YYYY-MM.")],
    ) -> str:
        """Checklist for a month-end close: completeness, open items, VAT, trial balance, chain."""
        return (f"Prepare the month-end close for {period}.\n"
                f"1. run_report trial_balance from {period}-01 to the month's last day: is it balanced?\n"
                "2. list_open_items: which receivables and payables are overdue? Which look wrong?\n"
                "3. query_journal for the month: bookings without external_reference, unusual accounts, "
                "reversals; list anything a bookkeeper should look at.\n"
                "4. Input and output VAT accounts (SKR03 1571/1576, 1771/1776): totals for the VAT return.\n"
                "5. verify_chain: the hash chain must be intact.\n"
                "Report findings as a short checklist. Do not book corrections without asking me first.")

    @server.prompt(title="Explain an account")
    def explain_account(
        account: Annotated[str, Field(description="Account number, e.g. 1200.")],
        period: Annotated[str, Field(description="Month YYYY-MM, or empty for everything.")] = "",
    ) -> str:
        """Explain what an account is for and how its balance came about."""
        when = f" in {period}" if period else ""
        return (f"Explain ledger account {account}{when} to a business owner.\n"
                f"Read ledger://accounts/{account} (or search_accounts) for its type and purpose, then run_report "
                "account_statement for its lines and running balance. Say what the account is used for in the "
                "SKR chart, what the balance means (debit/credit), which bookings moved it most, and anything "
                "unusual.")

    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument,
                       context: CompletionContext | None) -> Completion | None:
        # Completions reveal account numbers and intent ids: the same scope as reading them.
        if not app.caller().has(READ):
            return None
        name, value = argument.name, argument.value
        if name in ACCOUNT_ARGUMENTS:
            found = await app.db.read(accounts.search_accounts, value, limit=MAX_COMPLETIONS + 1)
            return _completion([a.number for a in found])
        if name in INTENT_ARGUMENTS:
            return _completion(await app.db.read(journal.intent_ids_starting, value, MAX_COMPLETIONS + 1))
        if name in PERIOD_ARGUMENTS:
            current = today()
            previous = f"{current.year - (current.month == 1)}-{(current.month - 2) % 12 + 1:02d}"
            months = {current.isoformat()[:7], previous, *await app.db.read(journal.booked_months)}
            return _completion(sorted((m for m in months if m.startswith(value)), reverse=True))
        return None


def _completion(values: list[str]) -> Completion:
    return Completion(values=values[:MAX_COMPLETIONS], total=len(values) if len(values) <= MAX_COMPLETIONS else None,
                      has_more=len(values) > MAX_COMPLETIONS)
