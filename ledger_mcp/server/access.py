"""Who may call what: the scope every tool and resource requires, the toolsets an instance offers,
read-only mode and the tool allow-list. `LedgerServer` asks `Access` before every tool call and
resource read.

Adding a tool: add its name to TOOL_SCOPES with the scope it needs and to one toolset. A tool
missing from TOOL_SCOPES requires `ledger:admin` (the strictest scope), one in no toolset is offered
only with `--toolsets all`, and a test fails until it is classified.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from ledger_mcp.context import Caller
from ledger_mcp.ledger.accounts import SPECIAL_CATEGORIES
from ledger_mcp.ledger.api_keys import ADMIN_SCOPE
from ledger_mcp.ledger.errors import MissingScope, ToolDisabled

READ = "ledger:read"
BOOK = "ledger:book"
RECONCILE = "ledger:reconcile"
APPROVE = "ledger:approve"
LOCK = "ledger:lock"
ADMIN = ADMIN_SCOPE

TOOL_SCOPES: dict[str, str] = {
    # reading
    "search_accounts": READ,
    "list_tax_codes": READ,
    "get_intent": READ,
    "list_intents": READ,
    "query_journal": READ,
    "verify_chain": READ,
    "run_report": READ,
    "list_open_items": READ,
    "find_parties": READ,
    "list_invoices": READ,
    "list_review_cases": READ,
    "get_period_status": READ,
    "list_exchange_rates": READ,
    "suggest_matches": READ,
    "list_bank_accounts": READ,
    "list_bank_transactions": READ,
    "get_bank_reconciliation": READ,
    "get_document": READ,
    "list_payment_runs": READ,
    "list_companies": READ,
    # booking
    "post_booking": BOOK,
    "post_bookings": BOOK,
    "post_opening_balances": BOOK,
    "reverse_intent": BOOK,
    "create_account": BOOK,
    "save_party": BOOK,
    "create_invoice": BOOK,
    "update_invoice": BOOK,
    "ingest_document": BOOK,
    "update_review_case": BOOK,
    "save_exchange_rate": BOOK,
    "import_exchange_rates": BOOK,
    "revalue_open_items": BOOK,
    # payments
    "settle_open_items": RECONCILE,
    "save_bank_account": RECONCILE,
    "import_bank_statement": RECONCILE,
    "reconcile_transaction": RECONCILE,
    "batch_reconcile": RECONCILE,
    # payment_run's approve action is four-eyes (another actor than the creator) plus a human's confirmation
    "payment_run": RECONCILE,
    # decisions
    "approve_review_case": APPROVE,
    "reject_review_case": APPROVE,
    "list_confirmations": READ,
    "decide_confirmation": APPROVE,
    # periods
    "lock_period": LOCK,
    "close_fiscal_year": LOCK,
    # administration
    "save_tax_code": ADMIN,
    "manage_webhooks": ADMIN,
}
"""Tool name -> required scope. Only tools requiring `ledger:read` are offered in read-only mode."""

# Every tool definition an instance offers is read by the model on every turn, so tools an agent needs
# once (setting a ledger up, closing a year) or only for some companies (foreign currencies) come in
# toolsets of their own that an administrator enables (--toolsets default,setup or all).
TOOLSETS: dict[str, frozenset[str]] = {
    "bookkeeping": frozenset({"post_booking", "reverse_intent", "get_intent", "list_intents", "query_journal",
                              "search_accounts", "list_tax_codes", "run_report", "verify_chain"}),
    "invoices": frozenset({"create_invoice", "update_invoice", "settle_open_items", "list_open_items",
                           "list_invoices", "find_parties", "save_party"}),
    "intake": frozenset({"ingest_document", "get_document", "list_review_cases", "update_review_case",
                         "approve_review_case", "reject_review_case"}),
    "bank": frozenset({"save_bank_account", "list_bank_accounts", "import_bank_statement", "suggest_matches",
                       "reconcile_transaction", "batch_reconcile", "list_bank_transactions",
                       "get_bank_reconciliation"}),
    "periods": frozenset({"lock_period", "get_period_status"}),
    "approvals": frozenset({"list_confirmations", "decide_confirmation"}),
    "setup": frozenset({"create_account", "save_tax_code", "post_opening_balances", "close_fiscal_year"}),
    "fx": frozenset({"save_exchange_rate", "import_exchange_rates", "list_exchange_rates", "revalue_open_items"}),
    "payments": frozenset({"payment_run", "list_payment_runs"}),
    "bulk": frozenset({"post_bookings"}),
    "companies": frozenset({"list_companies"}),
    "events": frozenset({"manage_webhooks"}),
}
DEFAULT_TOOLSETS = ("bookkeeping", "invoices", "intake", "bank", "periods", "approvals")
"""What an instance offers unless told otherwise: the daily work of booking, intake, bank and month end."""


def toolset_of(tool: str) -> str | None:
    return next((name for name, members in TOOLSETS.items() if tool in members), None)


def toolset_tools(names: Iterable[str] | None) -> frozenset[str] | None:
    """The tools of the named toolsets ("default" standing for DEFAULT_TOOLSETS); None for "all"."""
    chosen = set(names or ("default",))
    if "all" in chosen:
        return None
    if "default" in chosen:
        chosen = (chosen - {"default"}) | set(DEFAULT_TOOLSETS)
    unknown = sorted(chosen - set(TOOLSETS))
    if unknown:
        raise ValueError(f"unknown toolset(s): {', '.join(_with_suggestion(n, sorted(TOOLSETS)) for n in unknown)}; "
                         f"known: {', '.join(TOOLSETS)}, default, all")
    return frozenset().union(*(TOOLSETS[name] for name in chosen))

RESOURCE_SCOPES: dict[str, str] = {
    "ledger://accounts": READ,
    "ledger://accounts/{number}": READ,
    "ledger://tax-codes": READ,
    "ledger://intents": READ,
    "ledger://intents/page/{cursor}": READ,
    "ledger://intents/{intent_id}": READ,
    "ledger://open-items": READ,
    "ledger://open-items/{kind}": READ,
    "ledger://vendors": READ,
    "ledger://customers": READ,
    "ledger://parties/{party_id}": READ,
    "ledger://invoices/{invoice_id}": READ,
    "ledger://periods": READ,
    "ledger://periods/{period}": READ,
    "ledger://periods/{start_period}/{end_period}": READ,
    "ledger://review-cases": READ,
    "ledger://review-cases/{review_case_id}": READ,
    "ledger://bank-accounts": READ,
    "ledger://bank-accounts/{bank_account_id}": READ,
    "ledger://bank-accounts/{bank_account_id}/reconciliation": READ,
    "ledger://documents/{document_id}": READ,
    "ledger://documents/{document_id}/extraction": READ,
    "ledger://reports/profit-and-loss/{period}": READ,
    "ledger://reports/balance-sheet/{period}": READ,
    "ledger://reports/vat-return/{period}": READ,
    "ledger://reports/trial-balance/{period}": READ,
    "ledger://payment-runs": READ,
    "ledger://payment-runs/{run_id}": READ,
    "ledger://companies": READ,
}
"""Resource URI or URI template -> required scope."""

ARGUMENT_SCOPES: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("create_account", "category"): (SPECIAL_CATEGORIES, ADMIN),
}
"""(tool, argument) -> (values, scope): calls passing one of these values need the scope as well."""


def tool_scope(name: str) -> str:
    return TOOL_SCOPES.get(name, ADMIN)


def resource_scope(uri_or_template: str) -> str:
    return RESOURCE_SCOPES.get(uri_or_template, ADMIN)


def missing_scope(caller: Caller, scope: str, what: str) -> MissingScope:
    key = f"API key {caller.key_prefix} ({caller.actor_label})" if caller.key_prefix else "This caller"
    return MissingScope(
        f"{key} lacks scope {scope}, which {what} requires.",
        hint=f"Ask the ledger administrator for a key with scope {scope} (ledger-mcp keys create --scopes "
             f"{scope},...); this key's scopes cannot be changed, only replaced.",
        details={"required_scope": scope, "granted_scopes": sorted(caller.scopes)})


@dataclass(frozen=True)
class Access:
    """Per-instance limits. read_only: only `ledger:read` tools. allowed_tools: if set, only these (an
    explicit allow-list, which wins over toolsets). toolsets: the toolsets offered (None: the default)."""

    read_only: bool = False
    allowed_tools: frozenset[str] | None = None
    toolsets: frozenset[str] | None = None

    @property
    def enabled_tools(self) -> frozenset[str] | None:
        """The tools this instance offers before read-only mode; None for every tool."""
        return self.allowed_tools if self.allowed_tools is not None else toolset_tools(self.toolsets)

    def offers(self, tool: str) -> bool:
        enabled = self.enabled_tools
        if enabled is not None and tool not in enabled:
            return False
        return not (self.read_only and tool_scope(tool) != READ)

    def check_tool(self, tool: str, caller: Caller) -> None:
        """Raise ToolDisabled or MissingScope unless `caller` may call `tool` on this instance."""
        enabled = self.enabled_tools
        if enabled is not None and tool not in enabled:
            toolset = toolset_of(tool)
            if self.allowed_tools is None and toolset is not None:
                hint = (f"{tool} belongs to the toolset {toolset}, which this server does not offer; ask the "
                        f"administrator to start it with --toolsets default,{toolset} (LEDGER_MCP_TOOLSETS) "
                        "or --toolsets all.")
            else:
                hint = (f"Enabled tools: {', '.join(sorted(enabled))}. The administrator sets them with --tools / "
                        "LEDGER_MCP_TOOLS.")
            raise ToolDisabled(f"Tool {tool} is not enabled on this server.", hint=hint,
                               details={"tool": tool, "toolset": toolset})
        scope = tool_scope(tool)
        if self.read_only and scope != READ:
            raise ToolDisabled(f"Tool {tool} writes to the ledger, and this server is read-only.",
                               hint="Use a server started without --read-only (LEDGER_MCP_READ_ONLY) to write.",
                               details={"tool": tool, "read_only": True})
        if not caller.has(scope):
            raise missing_scope(caller, scope, f"tool {tool}")

    def check_arguments(self, tool: str, arguments: dict[str, object], caller: Caller) -> None:
        """Raise MissingScope when an argument value needs a scope the caller lacks (ARGUMENT_SCOPES)."""
        for (name, argument), (values, scope) in ARGUMENT_SCOPES.items():
            value = arguments.get(argument)
            if name == tool and isinstance(value, str) and value.strip().lower() in values and not caller.has(scope):
                raise missing_scope(caller, scope, f"{tool} with {argument} {value.strip().lower()}")

    def check_resource(self, template: str, caller: Caller) -> None:
        scope = resource_scope(template)
        if not caller.has(scope):
            raise missing_scope(caller, scope, f"resource {template}")

    def validate(self, registered: Iterable[str]) -> None:
        """Refuse unknown toolsets, and an allow-list naming tools that do not exist: a typo would silently
        hide a tool."""
        toolset_tools(self.toolsets)
        if self.allowed_tools is None:
            return
        known = sorted(registered)  # read once: `registered` may be a generator
        unknown = sorted(self.allowed_tools - set(known))
        if unknown:
            named = ", ".join(_with_suggestion(name, known) for name in unknown)
            raise ValueError(f"unknown tool(s) in the tool allow-list: {named}; known: {', '.join(known)}")


def _with_suggestion(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"{name} (did you mean {close[0]}?)" if close else name
