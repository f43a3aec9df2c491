"""Chart tools: search_accounts, create_account, list_tax_codes, save_tax_code."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import accounts
from ledger_mcp.ledger.accounts import (
    AccountInfo,
    AccountType,
    NewAccount,
    TaxCodeChanges,
    TaxCodeInfo,
    TaxCodeList,
    TaxKind,
)
from ledger_mcp.tools.result import READ_ONLY, answer


class AccountList(BaseModel):
    accounts: list[AccountInfo]


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Search accounts", annotations=READ_ONLY)
    async def search_accounts(
        ctx: Context[Any, Any],
        query: Annotated[str, Field(max_length=200, description="Account number prefix or part of the name, "
                                                                "e.g. '12' or 'bank'. Empty lists all.")] = "",
        type: Annotated[AccountType | None, Field(description="Only accounts of this type.")] = None,
        category: Annotated[str | None, Field(description="e.g. bank, payables, office, input_vat")] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
    ) -> Annotated[CallToolResult, AccountList]:
        """Find accounts of the chart (SKR03 or SKR04) by number prefix or name."""
        found = await app.db.read(accounts.search_accounts, query, type, category, limit)
        result = AccountList(accounts=[AccountInfo.of(a) for a in found])
        listed = ", ".join(f"{a.number} {a.name}" for a in found[:10])
        return answer(result, f"{len(found)} accounts: {listed}{' …' if len(found) > 10 else ''}")

    @server.tool(title="Create an account", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False))
    async def create_account(
        ctx: Context[Any, Any],
        number: Annotated[str, Field(description="4-8 digits, unused")],
        name: Annotated[str, Field(description="e.g. 'Bank Sparkasse'")],
        type: Annotated[AccountType, Field(description="Drives the sign of its balance.")],
        category: Annotated[str, Field(description="e.g. bank, office, payables (a payables or receivables "
                                                   "account becomes a control account); default from type.")] = "",
        report_group: Annotated[str, Field(description="Its line in the balance sheet or P&L, e.g. "
                                                       "bs.current_assets.bank; default from type.")] = "",
    ) -> Annotated[CallToolResult, AccountInfo]:
        """Add a custom account to the chart (e.g. a second bank account or a finer expense account).
        Numbers are unique; pick one in the range of similar SKR accounts."""
        new = NewAccount(number=number, name=name, type=type, category=category, report_group=report_group)
        account = await app.db.write(accounts.create_account, new)
        return answer(account, f"Created account {account.number} {account.name} ({account.type}).",
                      [(f"ledger://accounts/{account.number}", "account")])

    @server.tool(title="List tax codes", annotations=READ_ONLY)
    async def list_tax_codes(
        ctx: Context[Any, Any],
        include_inactive: Annotated[bool, Field(description="Also deactivated codes.")] = False,
    ) -> Annotated[CallToolResult, TaxCodeList]:
        """The tax codes usable as tax_code on booking and invoice lines, with rate and VAT accounts
        (same as resource ledger://tax-codes)."""
        result = await app.db.read(accounts.list_tax_codes, include_inactive)
        return answer(result, "; ".join(f"{t.code}: {t.label}" for t in result.tax_codes))

    @server.tool(title="Create or change a tax code", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False))
    async def save_tax_code(
        ctx: Context[Any, Any],
        code: Annotated[str, Field(description="New or existing code, e.g. VSt16")],
        label: Annotated[str | None, Field(description="Short name, e.g. 'Vorsteuer 16 %'")] = None,
        description: Annotated[str | None, Field(description="When to use it.")] = None,
        rate: Annotated[str | None, Field(description="Percentage, e.g. '19' or '5.5'")] = None,
        kind: Annotated[TaxKind | None, Field(description="input, output, reverse_charge (self-assessed) or "
                                                          "exempt")] = None,
        vat_account: Annotated[str | None, Field(description="Input VAT (asset) or output VAT (liability) "
                                                             "account.")] = None,
        self_assess_account: Annotated[str | None, Field(description="Reverse charge: output VAT "
                                                                     "account.")] = None,
        datev_bu_key: Annotated[str | None, Field(description="DATEV BU key for exports, e.g. '9'.")] = None,
        is_active: Annotated[bool | None, Field(description="false deactivates the code.")] = None,
    ) -> Annotated[CallToolResult, TaxCodeInfo]:
        """Create a tax code (label, rate, kind and the VAT accounts its kind needs) or change one (only
        the fields passed). System codes, and codes already on journal lines, keep their rate, kind and
        accounts: a new treatment is a new code. System codes cannot be deactivated."""
        changes = TaxCodeChanges(code=code, label=label, description=description, rate=rate, kind=kind,
                                 vat_account=vat_account, self_assess_account=self_assess_account,
                                 datev_bu_key=datev_bu_key, is_active=is_active)
        tax, created = await app.db.write(accounts.save_tax_code, changes)
        state = "" if tax.is_active else " (inactive)"
        return answer(tax, f"{'Created' if created else 'Updated'} tax code {tax.code}: {tax.label}, {tax.rate} % "
                           f"{tax.kind}{state}.", [("ledger://tax-codes", "tax codes")])
