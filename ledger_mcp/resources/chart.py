"""ledger://accounts, ledger://accounts/{number}, ledger://tax-codes."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import accounts
from ledger_mcp.ledger.accounts import AccountInfo
from ledger_mcp.resources.json_body import as_json


class Chart(BaseModel):
    """The chart in summary: number -> name, grouped by type and category. Details (report group,
    system flag) of one account at ledger://accounts/{number}; search with search_accounts."""

    chart: str
    base_currency: str
    account_count: int
    accounts: dict[str, dict[str, dict[str, str]]]


async def _chart(session: Any) -> Chart:
    meta = await accounts.read_meta(session)
    found = await accounts.search_accounts(session, limit=100_000)
    grouped: dict[str, dict[str, dict[str, str]]] = {}
    for account in found:
        grouped.setdefault(account.type, {}).setdefault(account.category, {})[account.number] = account.name
    return Chart(chart=meta["chart"], base_currency=meta["base_currency"], account_count=len(found),
                 accounts=grouped)


async def _account(session: Any, number: str) -> AccountInfo:
    return AccountInfo.of((await accounts.require_accounts(session, {number}))[number])


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.resource("ledger://accounts", name="accounts", title="Chart of accounts", mime_type="application/json")
    async def chart_of_accounts() -> str:
        """Every active account of the chart (SKR03 or SKR04) in summary: number -> name by type and
        category. One account in full: ledger://accounts/{number}."""
        return as_json(await app.db.read(_chart))

    @server.resource("ledger://accounts/{number}", name="account", title="Account", mime_type="application/json")
    async def account(number: str) -> str:
        """One account by number."""
        return as_json(await app.db.read(_account, number))

    @server.resource("ledger://tax-codes", name="tax-codes", title="Tax codes", mime_type="application/json")
    async def tax_codes() -> str:
        """Active tax codes with rates and VAT accounts."""
        return as_json(await app.db.read(accounts.list_tax_codes))
