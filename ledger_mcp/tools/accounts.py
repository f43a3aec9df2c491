"""Chart tools: search_accounts, create_account, list_tax_codes."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import accounts
from ledger_mcp.ledger.accounts import AccountInfo, AccountType, NewAccount, TaxCodeList
from ledger_mcp.tools.result import READ_ONLY, answer


class AccountList(BaseModel):
    accounts: list[AccountInfo]


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Search accounts", annotations=READ_ONLY)
    async def search_accounts(
        ctx: Context[Any, Any],
        query: Annotated[str, Field(description="Account number prefix or part of the name, e.g. '12' or "
                                                "'bank'. Empty lists all.")] = "",
        type: AccountType | None = None,
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
        name: str,
        type: AccountType,
        category: str = "",
        report_group: str = "",
    ) -> Annotated[CallToolResult, AccountInfo]:
        """Add a custom account to the chart (e.g. a second bank account or a finer expense account).
        Numbers are unique; pick one in the range of similar SKR accounts."""
        new = NewAccount(number=number, name=name, type=type, category=category, report_group=report_group)
        account = await app.db.write(accounts.create_account, new)
        return answer(account, f"Created account {account.number} {account.name} ({account.type}).",
                      [(f"ledger://accounts/{account.number}", "account")])

    @server.tool(title="List tax codes", annotations=READ_ONLY)
    async def list_tax_codes(ctx: Context[Any, Any]) -> Annotated[CallToolResult, TaxCodeList]:
        """The active tax codes usable as tax_code on booking lines, with rate and VAT accounts
        (same as resource ledger://tax-codes)."""
        result = await app.db.read(accounts.list_tax_codes)
        return answer(result, "; ".join(f"{t.code}: {t.label}" for t in result.tax_codes))
