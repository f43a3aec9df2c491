"""ledger://bank-accounts, ledger://bank-accounts/{bank_account_id} and
ledger://bank-accounts/{bank_account_id}/reconciliation."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from ledger_mcp.context import AppContext
from ledger_mcp.resources.json_body import as_json


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://bank-accounts", name="bank-accounts", title="Bank accounts",
                     mime_type="application/json")
    async def bank_accounts() -> str:
        """Bank accounts with transaction and unreconciled counts, statement and ledger balance."""
        from ledger_mcp.ledger.bank import reads

        return as_json(await app.db.read(reads.list_bank_accounts))

    @server.resource("ledger://bank-accounts/{bank_account_id}", name="bank-account", title="Bank account",
                     mime_type="application/json")
    async def bank_account(bank_account_id: str) -> str:
        """One bank account with its daily balance history (last 90 days with activity)."""
        from ledger_mcp.ledger.bank import reads

        return as_json((await app.db.read(reads.list_bank_accounts, bank_account_id, 90)).bank_accounts[0])

    @server.resource("ledger://bank-accounts/{bank_account_id}/reconciliation", name="bank-reconciliation",
                     title="Bank reconciliation", mime_type="application/json")
    async def reconciliation(bank_account_id: str) -> str:
        """Open vs reconciled transactions; ledger balance vs statement balance, the difference explained."""
        from ledger_mcp.ledger.bank import reads

        return as_json(await app.db.read(reads.reconciliation_view, bank_account_id))
