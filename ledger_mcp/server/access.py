"""Who may call what: the scope every tool and resource requires, read-only mode and the tool
allow-list. `LedgerServer` asks `Access` before every tool call and resource read.

Adding a tool: add its name to TOOL_SCOPES with the scope it needs. A tool missing here requires
`ledger:admin` (the strictest scope) and a test fails until it is classified.
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
    # booking
    "post_booking": BOOK,
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
}
"""Tool name -> required scope. Only tools requiring `ledger:read` are offered in read-only mode."""

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
    """Per-instance limits. read_only: only `ledger:read` tools. allowed_tools: if set, only these."""

    read_only: bool = False
    allowed_tools: frozenset[str] | None = None

    def offers(self, tool: str) -> bool:
        if self.allowed_tools is not None and tool not in self.allowed_tools:
            return False
        return not (self.read_only and tool_scope(tool) != READ)

    def check_tool(self, tool: str, caller: Caller) -> None:
        """Raise ToolDisabled or MissingScope unless `caller` may call `tool` on this instance."""
        if self.allowed_tools is not None and tool not in self.allowed_tools:
            raise ToolDisabled(f"Tool {tool} is not enabled on this server.",
                               hint=f"Enabled tools: {', '.join(sorted(self.allowed_tools))}. The administrator "
                                    "sets them with --tools / LEDGER_MCP_TOOLS.",
                               details={"tool": tool})
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
        """Refuse an allow-list naming tools that do not exist: a typo would silently hide a tool."""
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
