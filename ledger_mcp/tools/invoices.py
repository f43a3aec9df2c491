"""Invoice and open item tools: create_invoice, list_invoices, update_invoice, settle_open_items,
list_open_items."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import invoices, open_items, settlements
from ledger_mcp.ledger.invoices import (
    Direction,
    InvoiceFilter,
    InvoiceInfo,
    InvoiceLineInput,
    InvoiceRequest,
    InvoiceType,
    Status,
)
from ledger_mcp.ledger.open_items import OpenItemList
from ledger_mcp.ledger.posting import ACK_DESCRIPTION
from ledger_mcp.ledger.settlements import SettlementItem, SettlementRequest, SettlementResult
from ledger_mcp.ledger.untrusted import mark
from ledger_mcp.tools.booking import APPEND
from ledger_mcp.tools.result import READ_ONLY, answer, intent_uri

EDIT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class InvoiceList(BaseModel):
    invoices: list[InvoiceInfo]


def invoice_uri(invoice_id: str) -> str:
    return f"ledger://invoices/{invoice_id}"


def _describe(invoice: InvoiceInfo) -> str:
    what = invoice.type.replace("_", " ")
    return (f"{invoice.direction} {what} {mark(invoice.invoice_number, 'invoice number')} of "
            f"{mark(invoice.party_name, 'party name')}: gross "
            f"{invoice.total_gross} {invoice.currency}, remaining {invoice.remaining_amount}, {invoice.status}, "
            f"due {invoice.due_date}")


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Record an invoice or credit note", annotations=APPEND)
    async def create_invoice(
        ctx: Context[Any, Any],
        direction: Annotated[Direction, Field(description="payable: a vendor's invoice to us; receivable: ours to "
                                                          "a customer.")],
        party_id: Annotated[str, Field(description="Vendor (payable) or customer (receivable) id; see "
                                                   "find_parties / save_party.")],
        invoice_number: Annotated[str, Field(description="As printed, e.g. 'RE-2026-0815'; once per party.")],
        invoice_date: Annotated[str, Field(description="YYYY-MM-DD")],
        total_gross: Annotated[str, Field(description="Gross total as printed, e.g. '226.10'.")],
        lines: Annotated[list[InvoiceLineInput], Field(description="Net amounts per line with tax code and "
                                                                   "account.")] = [],  # noqa: B006
        type: Annotated[InvoiceType, Field(description="credit_note reduces what is owed.")] = "invoice",
        due_date: Annotated[str | None, Field(description="YYYY-MM-DD; default: party payment terms.")] = None,
        total_net: Annotated[str | None, Field(description="As printed; checked against the lines.")] = None,
        total_tax: Annotated[str | None, Field(description="As printed; checked against the lines.")] = None,
        currency: Annotated[str | None, Field(description="ISO 4217 code of the invoice, e.g. 'USD'; default: "
                                                          "the base currency (EUR).")] = None,
        exchange_rate: Annotated[str | None, Field(description="Foreign-currency invoices: units of the currency "
                                                               "per 1 EUR, e.g. '1.0856'; default: the rate "
                                                               "table's rate for invoice_date.")] = None,
        booking_date: Annotated[str | None, Field(description="Default: invoice_date.")] = None,
        intent_id: Annotated[str | None, Field(description="Link an intent already posted instead of "
                                                           "posting.")] = None,
        document_id: str | None = None,
        notes: str | None = None,
        idempotency_key: str | None = None,
        acknowledge_soft_lock: Annotated[bool, Field(description=ACK_DESCRIPTION)] = False,
    ) -> Annotated[CallToolResult, InvoiceInfo]:
        """Record and post a vendor invoice (payable), an invoice to a customer (receivable) or a credit
        note: net lines, VAT per tax code (on each rate's net sum, or as printed within 1 cent per line),
        and the gross on the control account (SKR03 1600/1400), which the server appends: never pass it
        as a line. Totals must agree with the lines; an invoice number once per party (unless cancelled).
        Cancel: reverse_intent on its intent."""
        request = InvoiceRequest(
            direction=direction, party_id=party_id, invoice_number=invoice_number, invoice_date=invoice_date,
            total_gross=total_gross, lines=lines, type=type, due_date=due_date, total_net=total_net,
            total_tax=total_tax, currency=currency, exchange_rate=exchange_rate, booking_date=booking_date,
            intent_id=intent_id,
            document_id=document_id, notes=notes, idempotency_key=idempotency_key,
            acknowledge_soft_lock=acknowledge_soft_lock)
        invoice = await app.db.write(invoices.create_invoice, request, provenance(ctx, app))
        replay = " (replayed: recorded earlier with this idempotency_key)" if invoice.replayed else ""
        return answer(invoice, f"Recorded {_describe(invoice)}; intent {invoice.intent_id}{replay}.",
                      [(invoice_uri(invoice.id), "invoice"), (intent_uri(invoice.intent_id), "intent")])

    @server.tool(title="List invoices", annotations=READ_ONLY)
    async def list_invoices(
        ctx: Context[Any, Any],
        invoice_id: Annotated[str | None, Field(description="One invoice with its lines and settlements "
                                                            "(same as ledger://invoices/{invoice_id}).")] = None,
        direction: Annotated[Direction | None, Field(description="payable or receivable; default both.")] = None,
        party_id: str | None = None,
        status: Annotated[Status | None, Field(description="Only invoices in this status.")] = None,
        type: Annotated[InvoiceType | None, Field(description="invoice or credit_note; default both.")] = None,
        start_date: Annotated[str | None, Field(description="invoice_date from, YYYY-MM-DD")] = None,
        end_date: Annotated[str | None, Field(description="invoice_date to, YYYY-MM-DD")] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0, le=10**6, description="Skip this many, for paging.")] = 0,
    ) -> Annotated[CallToolResult, InvoiceList]:
        """Invoices and credit notes, newest first, with status (open, partially_paid, paid, cancelled)
        and remaining amount."""
        if invoice_id:
            found = [await app.db.read(invoices.get_invoice, invoice_id)]
        else:
            where = InvoiceFilter(direction=direction, party_id=party_id, status=status, type=type,
                                  start_date=start_date, end_date=end_date, limit=limit, offset=offset)
            found = await app.db.read(invoices.list_invoices, where)
        listed = "; ".join(_describe(i) for i in found[:5])
        return answer(InvoiceList(invoices=found), f"{len(found)} invoices. {listed}{' …' if len(found) > 5 else ''}")

    @server.tool(title="Update an invoice's due date or notes", annotations=EDIT)
    async def update_invoice(
        ctx: Context[Any, Any],
        invoice_id: str,
        due_date: Annotated[str | None, Field(description="YYYY-MM-DD")] = None,
        notes: Annotated[str | None, Field(description="'' clears")] = None,
    ) -> Annotated[CallToolResult, InvoiceInfo]:
        """Change what the journal does not cover: due date and notes. Amounts, party and number are
        booked: to change them, cancel (reverse_intent on the invoice's intent) and record it again."""
        invoice = await app.db.write(invoices.update_invoice, invoice_id, due_date, notes)
        return answer(invoice, f"Updated {_describe(invoice)}.", [(invoice_uri(invoice.id), "invoice")])

    @server.tool(title="Settle open items", annotations=APPEND)
    async def settle_open_items(
        ctx: Context[Any, Any],
        items: Annotated[list[SettlementItem], Field(description="Invoices (and credit notes) of one party; "
                                                                 "amount omitted = all that is open.")],
        payment_date: Annotated[str, Field(description="YYYY-MM-DD")],
        account: Annotated[str | None, Field(description="Bank or cash account, e.g. 1200 or 1000.")] = None,
        intent_id: Annotated[str | None, Field(description="Link a payment intent already posted instead.")] = None,
        description: str | None = None,
        reference: str | None = None,
        idempotency_key: str | None = None,
        acknowledge_soft_lock: Annotated[bool, Field(description=ACK_DESCRIPTION)] = False,
        exchange_rate: Annotated[str | None, Field(description="Foreign currency: the payment's rate per 1 EUR; "
                                                               "default: the rate table's. The difference to the "
                                                               "items' booked value is exchange gain or loss.")] = None,
    ) -> Annotated[CallToolResult, SettlementResult]:
        """Record a payment that settles open items fully or partly (cash, or a transfer not coming from
        a bank import): posts bank/cash against the control account and links the payment to each item.
        Credit notes net against invoices. Reversing the payment intent reopens the items."""
        request = SettlementRequest(items=items, payment_date=payment_date, account=account, intent_id=intent_id,
                                    description=description, reference=reference, idempotency_key=idempotency_key,
                                    acknowledge_soft_lock=acknowledge_soft_lock, exchange_rate=exchange_rate)
        result = await app.db.write(settlements.settle_open_items, request, provenance(ctx, app))
        states = ", ".join(f"{mark(i.invoice_number, 'invoice number')} {i.status} (remaining {i.remaining_amount})"
                           for i in result.items)
        verb = "Posted" if result.posted else "Linked"
        fx = (f" at {result.exchange_rate}, exchange difference {result.exchange_difference} {result.base_currency}"
              if result.exchange_rate else "")
        return answer(result, f"{verb} payment {result.payment_intent_id} of {result.net_amount} {result.currency}"
                              f"{fx} for {mark(result.party_name, 'party name')}: {states}.",
                      [(intent_uri(result.payment_intent_id), "payment intent")])

    @server.tool(title="List open items", annotations=READ_ONLY)
    async def list_open_items(
        ctx: Context[Any, Any],
        kind: Annotated[Direction | None, Field(description="payable or receivable; omit for both.")] = None,
        party_id: str | None = None,
        due_before: Annotated[str | None, Field(description="Only items due before YYYY-MM-DD.")] = None,
        overdue_only: Annotated[bool, Field(description="Only items past their due date.")] = False,
        as_of: Annotated[str | None, Field(description="YYYY-MM-DD: the items open on that day; default "
                                                       "today.")] = None,
    ) -> Annotated[CallToolResult, OpenItemList]:
        """What we owe whom and who owes us: unpaid and part-paid invoices (credit notes negative), oldest
        due date first, with days overdue (same as ledger://open-items)."""
        result = await app.db.read(open_items.open_items, kind, party_id, due_before, overdue_only, as_of)
        overdue = sum(1 for i in result.open_items if i.days_overdue > 0)
        return answer(result, f"{len(result.open_items)} open items as of {result.as_of} ({overdue} overdue): "
                              f"receivable {result.total_receivable}, payable {result.total_payable} "
                              f"{result.currency}.")
