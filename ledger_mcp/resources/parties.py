"""ledger://vendors, ledger://customers, ledger://parties/{party_id}, ledger://invoices/{invoice_id},
ledger://open-items and ledger://open-items/{kind}."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from ledger_mcp.context import AppContext
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.parties import PartyInfo
from ledger_mcp.resources.json_body import as_json

# Where a kind appears in a URI it is plural, as people say it.
KINDS = {"payables": "payable", "receivables": "receivable"}


class PartyList(BaseModel):
    parties: list[PartyInfo]


def register(server: MCPServer[Any], app: AppContext) -> None:
    # Each read imports the ledger module it uses there: a server starts without them.
    @server.resource("ledger://vendors", name="vendors", title="Vendors", mime_type="application/json")
    async def vendors() -> str:
        """Active vendors (first 500 by name) with what we owe each."""
        from ledger_mcp.ledger import open_items

        return as_json(PartyList(parties=await app.db.read(open_items.find_parties, "vendor", limit=500)))

    @server.resource("ledger://customers", name="customers", title="Customers", mime_type="application/json")
    async def customers() -> str:
        """Active customers (first 500 by name) with what each owes us."""
        from ledger_mcp.ledger import open_items

        return as_json(PartyList(parties=await app.db.read(open_items.find_parties, "customer", limit=500)))

    @server.resource("ledger://parties/{party_id}", name="party", title="Vendor or customer",
                     mime_type="application/json")
    async def party(party_id: str) -> str:
        """One vendor or customer with its open amount."""
        from ledger_mcp.ledger import open_items

        found = await app.db.read(open_items.find_parties, None, "", party_id)
        return as_json(found[0])

    @server.resource("ledger://invoices/{invoice_id}", name="invoice", title="Invoice", mime_type="application/json")
    async def invoice(invoice_id: str) -> str:
        """One invoice or credit note with lines, settlements, status and remaining amount."""
        from ledger_mcp.ledger import invoices

        return as_json(await app.db.read(invoices.get_invoice, invoice_id))

    @server.resource("ledger://open-items", name="open-items", title="Open items", mime_type="application/json")
    async def all_open_items() -> str:
        """Unpaid and part-paid invoices and credit notes, payables and receivables, oldest due first."""
        from ledger_mcp.ledger import open_items

        return as_json(await app.db.read(open_items.open_items))

    @server.resource("ledger://open-items/{kind}", name="open-items-of-kind", title="Open payables or receivables",
                     mime_type="application/json")
    async def open_items_of_kind(kind: str) -> str:
        """ledger://open-items/payables or ledger://open-items/receivables."""
        from ledger_mcp.ledger import open_items

        if kind not in KINDS:
            raise ValidationFailed(f"Unknown open item kind {kind!r}.",
                                   hint="Read ledger://open-items/payables or ledger://open-items/receivables.")
        return as_json(await app.db.read(open_items.open_items, KINDS[kind]))  # type: ignore[arg-type]
