"""Party tools: save_party, find_parties."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import open_items, parties
from ledger_mcp.ledger.parties import PartyChanges, PartyInfo, PartyKind
from ledger_mcp.ledger.untrusted import mark
from ledger_mcp.tools.result import READ_ONLY, answer

UPSERT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


class PartyList(BaseModel):
    parties: list[PartyInfo]


# What a party's answer shows only to a caller that may read parties, unless the call itself sent it.
PRIVATE_FIELDS = ("tax_id", "vat_id", "iban", "bic", "address", "notes")
READ_SCOPE = "ledger:read"


def party_uri(party_id: str) -> str:
    return f"ledger://parties/{party_id}"


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Create or update a vendor or customer", annotations=UPSERT)
    async def save_party(
        ctx: Context[Any, Any],
        kind: Annotated[PartyKind, Field(description="vendor (we buy) or customer (we sell)")],
        party_id: Annotated[str | None, Field(description="Omit to create; give it to update that party.")] = None,
        name: Annotated[str | None, Field(description="Legal name; required to create.")] = None,
        tax_id: Annotated[str | None, Field(description="Steuernummer, e.g. 143/123/45678")] = None,
        vat_id: Annotated[str | None, Field(description="USt-IdNr., checked, e.g. DE136695976")] = None,
        iban: Annotated[str | None, Field(description="Checked; the BIC is derived when omitted.")] = None,
        bic: Annotated[str | None, Field(description="Checked against the IBAN's bank.")] = None,
        address: Annotated[str | None, Field(description="Postal address, lines separated by newlines.")] = None,
        default_account: Annotated[str | None, Field(description="Expense (vendor) / revenue (customer) account "
                                                                 "for invoice lines without one, e.g. 4930.")] = None,
        payment_terms_days: Annotated[int | None, Field(ge=0, le=365, description="Default 30.")] = None,
        notes: str | None = None,
        is_active: Annotated[bool | None, Field(description="false deactivates (parties are never "
                                                            "deleted).")] = None,
    ) -> Annotated[CallToolResult, PartyInfo]:
        """Create a vendor or customer, or update one (only the fields you pass change; '' clears a
        field). IBAN and VAT ID are validated; a second party with the same VAT ID or IBAN is refused.
        Each party gets a personal account number (customers from 10000, vendors from 70000)."""
        changes = PartyChanges(name=name, tax_id=tax_id, vat_id=vat_id, iban=iban, bic=bic, address=address,
                               default_account=default_account, payment_terms_days=payment_terms_days, notes=notes,
                               is_active=is_active)
        party, created = await app.db.write(parties.save_party, kind, party_id, changes, provenance(ctx, app))
        info = PartyInfo.of(party)
        withheld = ""
        if not app.caller().has(READ_SCOPE):
            # A key that may write but not read learns nothing it did not send (no vendor's IBAN by a no-op save).
            hidden = {f: None for f in PRIVATE_FIELDS if getattr(changes, f) is None}
            info, withheld = info.model_copy(update=hidden), " Fields not sent are withheld (no ledger:read)."
        verb = "Created" if created else "Updated"
        state = "" if party.is_active else " (inactive)"
        return answer(info, f"{verb} {kind} {mark(info.name, 'party name')} ({info.number}){state}, id {info.id}."
                            f"{withheld}",
                      [(party_uri(info.id), kind)])

    @server.tool(title="Find vendors and customers", annotations=READ_ONLY)
    async def find_parties(
        ctx: Context[Any, Any],
        kind: Annotated[PartyKind | None, Field(description="vendor or customer; null: both")] = None,
        search: Annotated[str, Field(max_length=200,
                                     description="Part of the name, number prefix, VAT ID or IBAN.")] = "",
        party_id: Annotated[str | None, Field(description="One party by id (same as ledger://parties/{id}).")] = None,
        is_active: Annotated[bool | None, Field(description="null: active and inactive")] = True,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0, le=10**6, description="Skip this many, for paging.")] = 0,
    ) -> Annotated[CallToolResult, PartyList]:
        """Search vendors and customers; each with open_amount (its open invoices minus credit notes).
        Same data as ledger://vendors, ledger://customers and ledger://parties/{party_id}."""
        found = await app.db.read(open_items.find_parties, kind, search, party_id, is_active, limit, offset)
        listed = ", ".join(f"{mark(p.name, 'party name')} ({p.number}, open {p.open_amount})" for p in found[:10])
        return answer(PartyList(parties=found), f"{len(found)} parties: {listed}{' …' if len(found) > 10 else ''}")
