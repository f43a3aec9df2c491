"""Settling open items: a payment intent pays one or more invoices of one party, fully or partly.

The payment either is posted here (bank or cash account against the control account) or is an
intent already posted elsewhere, e.g. by bank reconciliation, that moves enough on the control
account. Settlement rows are never changed; reversing the payment intent reopens the items.
Credit notes count against invoices, so an invoice and a credit note can be netted.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import IntentNotFound, InvoiceNotFound, OverSettlement, ValidationFailed
from ledger_mcp.ledger.invoices import control_movement, get_invoice, state_query
from ledger_mcp.ledger.models import Intent, Invoice, Party, Settlement
from ledger_mcp.ledger.money import format_amount, parse_amount
from ledger_mcp.ledger.portable import binary
from ledger_mcp.ledger.posting import ACK_DESCRIPTION, Leg, post_legs, replayed_intent, reversed_by
from ledger_mcp.ledger.provenance import Provenance

MAX_ITEMS = 100


class SettlementItem(BaseModel):
    model_config = ConfigDict(frozen=True)
    invoice_id: str
    amount: str | None = Field(default=None, description="Part to settle; default: the whole remaining amount.")


class SettlementRequest(BaseModel):
    """Settle open items of one party with one payment."""

    model_config = ConfigDict(frozen=True)
    items: list[SettlementItem] = Field(min_length=1, max_length=MAX_ITEMS)
    payment_date: str = Field(description="YYYY-MM-DD, the booking date of the payment.")
    account: str | None = Field(default=None, description="Bank or cash account the money moves through, "
                                                          "e.g. 1200 (SKR03 bank) or 1000 (cash).")
    intent_id: str | None = Field(default=None, description="Link a payment intent already posted instead of "
                                                            "posting one (then account is not used).")
    description: str | None = Field(default=None, max_length=500)
    reference: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)


class SettledItem(BaseModel):
    invoice_id: str
    invoice_number: str
    type: str
    amount: str = Field(description="Settled by this payment.")
    remaining_amount: str
    status: str


class SettlementResult(BaseModel):
    payment_intent_id: str
    posted: bool = Field(description="True: this call posted the payment; false: it linked an existing intent.")
    party_id: str
    party_name: str
    currency: str
    net_amount: str = Field(description="Money moved: invoices minus credit notes.")
    items: list[SettledItem]
    replayed: bool = False


async def settle_open_items(session: AsyncSession, request: SettlementRequest,
                            provenance: Provenance) -> SettlementResult:
    replay = await replayed_intent(session, request.idempotency_key, request)
    if replay:
        return await _result(session, replay.id, posted=True, replayed=True)
    ids = [item.invoice_id for item in request.items]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("An invoice appears twice in items.", hint="List each invoice once with its amount.")
    rows = {inv.id: (inv, party, int(settled), status) for inv, party, settled, status in
            (await session.exec(state_query().where(col(Invoice.id).in_(ids)))).all()}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise InvoiceNotFound(f"No invoice with id {missing[0]!r}.", hint="Take the ids from list_open_items.")
    first, party = rows[ids[0]][0], rows[ids[0]][1]
    allocations: list[tuple[Invoice, int]] = []
    for index, item in enumerate(request.items, start=1):
        invoice, _, settled, status = rows[item.invoice_id]
        if (invoice.party_id, invoice.direction, invoice.currency) != (first.party_id, first.direction, first.currency):
            raise ValidationFailed("The items belong to different parties, directions or currencies.",
                                   hint="Settle one party's payables or receivables per payment.")
        remaining = invoice.total_gross - settled
        if status == "cancelled" or remaining == 0:
            raise ValidationFailed(f"Invoice {invoice.invoice_number} is {status}; nothing is open.",
                                   hint="Check list_open_items for what is still open.",
                                   details={"invoice_id": invoice.id, "status": status})
        amount = (parse_amount(item.amount, invoice.currency, field=f"items[{index}].amount")
                  if item.amount else remaining)
        if amount > remaining:
            raise OverSettlement(
                f"Invoice {invoice.invoice_number} has {format_amount(remaining, invoice.currency)} open; "
                f"{format_amount(amount, invoice.currency)} would overpay it.",
                hint="Settle at most the remaining amount; book an overpayment separately.",
                details={"invoice_id": invoice.id, "remaining_amount": format_amount(remaining, invoice.currency)})
        allocations.append((invoice, amount))
    net = sum(amount * _sign(invoice) for invoice, amount in allocations)
    if request.intent_id:
        payment_id = await _check_payment_intent(session, request.intent_id, first, net)
        posted = False
    else:
        payment_id = (await _post_payment(session, request, party, first, allocations, net, provenance)).intent_id
        posted = True
    now = utc_now()
    session.add_all([Settlement(id=str(uuid4()), payment_intent_id=payment_id, invoice_id=invoice.id,
                                amount=amount, created_at=now) for invoice, amount in allocations])
    await session.flush()
    return await _result(session, payment_id, posted=posted)


def _sign(invoice: Invoice) -> int:
    return -1 if invoice.type == "credit_note" else 1


async def _post_payment(session: AsyncSession, request: SettlementRequest, party: Party, first: Invoice,
                        allocations: list[tuple[Invoice, int]], net: int, provenance: Provenance) -> Any:
    account = (request.account or "").strip()
    if net and not account:
        raise ValidationFailed("A payment needs the bank or cash account the money moved through.",
                               hint="Pass account, e.g. '1200' (bank) or '1000' (cash), or intent_id to link a "
                                    "payment already posted.")
    if account and account in {invoice.control_account for invoice, _ in allocations}:
        raise ValidationFailed(f"{account} is the control account of these items.",
                               hint="Pass the bank or cash account the money moved through.")
    # Receivable invoices are paid in: control credited; payable invoices paid out: control debited.
    receivable = first.direction == "receivable"
    legs: list[Leg] = []
    for invoice, amount in allocations:
        reduces = (_sign(invoice) > 0) == receivable  # credit the control account
        debit, credit = (None, invoice.control_account) if reduces else (invoice.control_account, None)
        legs.append(Leg(debit, credit, amount, None, "amount", f"{invoice.invoice_number}"))
    if net:
        money_in = (net > 0) == receivable
        legs.append(Leg(account, None, abs(net), None, "amount", None) if money_in
                    else Leg(None, account, abs(net), None, "amount", None))
    numbers = ", ".join(invoice.invoice_number for invoice, _ in allocations)
    verb = "Payment received" if receivable else "Payment"
    return await post_legs(
        session, category="payment", booking_date=request.payment_date,
        description=request.description or f"{verb} {party.name}: {numbers}"[:500], legs=legs,
        provenance=provenance, external_reference=request.reference or numbers[:200],
        idempotency_key=request.idempotency_key, request=request, party_id=party.id,
        acknowledge_soft_lock=request.acknowledge_soft_lock,
        custom_metadata={"party_id": party.id, "settles": [
            {"invoice_id": invoice.id, "amount": format_amount(amount, invoice.currency)}
            for invoice, amount in allocations]})


async def _check_payment_intent(session: AsyncSession, intent_id: str, first: Invoice, net: int) -> str:
    """A payment posted elsewhere may settle items up to what it moved on the control account."""
    intent = await session.get(Intent, intent_id)
    if intent is None or intent.category == "reversal" or await reversed_by(session, intent_id):
        raise IntentNotFound(f"Intent {intent_id!r} does not exist, is a reversal or is reversed.",
                             hint="Pass the payment intent that moved the money, or omit intent_id and pass account.")
    control = first.control_account
    moved = await control_movement(session, intent_id, control)
    if first.direction == "payable":
        moved = -moved
    linked = (await session.exec(
        select(Invoice, Settlement.amount).join(Settlement, col(Settlement.invoice_id) == Invoice.id)
        .where(Settlement.payment_intent_id == intent_id))).all()
    used = sum(amount * _sign(invoice) for invoice, amount in linked)
    if net + used > moved or moved <= 0:
        raise OverSettlement(
            f"Intent {intent_id} moved {format_amount(max(moved, 0), intent.currency)} on {control}; "
            f"{format_amount(used, intent.currency)} is already allocated, "
            f"{format_amount(net, intent.currency)} more does not fit.",
            hint="Link a payment that covers the items, settle smaller amounts, or post the payment here.",
            details={"moved": format_amount(max(moved, 0), intent.currency)})
    return intent_id


async def _result(session: AsyncSession, payment_id: str, *, posted: bool, replayed: bool = False) -> SettlementResult:
    rows = (await session.exec(
        select(Settlement, Invoice, Party).join(Invoice, col(Invoice.id) == Settlement.invoice_id)
        .join(Party, col(Party.id) == Invoice.party_id).where(Settlement.payment_intent_id == payment_id)
        .order_by(col(Invoice.invoice_date), binary(Invoice.invoice_number)))).all()
    items = []
    for settlement, invoice, _ in rows:
        state = await get_invoice(session, invoice.id)
        items.append(SettledItem(invoice_id=invoice.id, invoice_number=invoice.invoice_number, type=invoice.type,
                                 amount=format_amount(settlement.amount, invoice.currency),
                                 remaining_amount=state.remaining_amount, status=state.status))
    party, currency = rows[0][2], rows[0][1].currency
    net = sum(s.amount * _sign(inv) for s, inv, _ in rows)
    return SettlementResult(payment_intent_id=payment_id, posted=posted, party_id=party.id, party_name=party.name,
                            currency=currency, net_amount=format_amount(abs(net), currency), items=items,
                            replayed=replayed)

