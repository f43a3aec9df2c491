"""Settling open items: a payment intent pays one or more invoices of one party, fully or partly.

The payment either is posted here (bank or cash account against the control account) or is an
intent already posted elsewhere, e.g. by bank reconciliation, that moves enough on the control
account. Settlement rows are never changed; reversing the payment intent reopens the items.
Credit notes count against invoices, so an invoice and a credit note can be netted.

Items in a foreign currency are settled in that currency at the payment's rate (given, or the rate
table's for the payment date). Each item's settled share of its base value is cleared from the
control account; the difference to what the payment is worth in the base currency is the realised
exchange gain or loss, booked in the same payment intent to the chart's fx_gain / fx_loss account.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import fx
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import parse_date, utc_now
from ledger_mcp.ledger.errors import (
    IntentNotFound,
    InvoiceNotFound,
    OverSettlement,
    UnsupportedCurrency,
    ValidationFailed,
)
from ledger_mcp.ledger.invoices import asset_like, carrying_base, control_movement, get_invoice, state_query
from ledger_mcp.ledger.models import Intent, Invoice, JournalLine, Party, Settlement
from ledger_mcp.ledger.money import format_amount, parse_amount, to_base
from ledger_mcp.ledger.portable import binary
from ledger_mcp.ledger.posting import (
    ACK_DESCRIPTION,
    Leg,
    live_revaluations,
    post_legs,
    replayed_intent,
    reversed_by,
)
from ledger_mcp.ledger.provenance import Provenance

MAX_ITEMS = 100


class SettlementItem(BaseModel):
    model_config = ConfigDict(frozen=True)
    invoice_id: str = Field(description="An open invoice or credit note (list_open_items, suggest_matches).")
    amount: str | None = Field(default=None, description="Part to settle, e.g. '500.00'; default: all that is "
                                                         "open.")


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
    exchange_rate: str | None = Field(default=None, description="Foreign-currency items: the payment's rate, units "
                                                               "of the currency per 1 EUR; default: the rate "
                                                               "table's rate for payment_date.")


class SettledItem(BaseModel):
    invoice_id: str
    invoice_number: str
    type: str
    amount: str = Field(description="Settled by this payment.")
    base_amount: str = Field(description="Base value of the item this payment cleared.")
    remaining_amount: str
    status: str


class SettlementResult(BaseModel):
    payment_intent_id: str
    posted: bool = Field(description="True: this call posted the payment; false: it linked an existing intent.")
    party_id: str
    party_name: str
    currency: str
    net_amount: str = Field(description="Money moved: invoices minus credit notes.")
    base_currency: str
    exchange_rate: str | None = Field(description="The payment's rate; null in the base currency.")
    exchange_difference: str = Field(description="Realised exchange gain (positive) or loss (negative) in the "
                                                 "base currency.")
    items: list[SettledItem]
    replayed: bool = False


async def settle_open_items(session: AsyncSession, request: SettlementRequest,
                            provenance: Provenance) -> SettlementResult:
    replay = await replayed_intent(session, request.idempotency_key, request)
    if replay:
        return await _result(session, replay.id, posted=True, replayed=True)
    ids = [item.invoice_id for item in request.items]
    allocations, remaining_of, party = await allocate(session, request.items)
    first = allocations[0][0]
    net = sum(amount * _sign(invoice) for invoice, amount in allocations)
    payment_date = parse_date(request.payment_date, field="payment_date")
    later = [r for r in await live_revaluations(session, ids) if r[2] > payment_date]
    if later:
        raise ValidationFailed(
            f"An item was revalued on {later[0][2]} (intent {later[0][1]}), after this payment's date {payment_date}.",
            hint="Reverse that revaluation first (reverse_intent), settle, then revalue again; or date the payment "
                 "on or after the revaluation.", details={"revaluation_intent_id": later[0][1]})
    carrying = await carrying_base(session, [invoice for invoice, _ in allocations], payment_date)
    cleared = {invoice.id: share(carrying[invoice.id], amount, remaining_of[invoice.id])
               for invoice, amount in allocations}
    rate = await fx.rate_for(session, first.currency, payment_date, request.exchange_rate)
    if request.intent_id:
        if rate is not None:
            raise UnsupportedCurrency(
                f"Linking a payment posted elsewhere to {first.currency} items is not supported yet.",
                hint="Settle the items here with account and exchange_rate, which books the exchange difference.")
        payment_id = await _check_payment_intent(session, request.intent_id, first, net)
        posted = False
    else:
        payment_id = (await _post_payment(session, request, party, first, allocations, net, provenance,
                                          rate, cleared)).intent_id
        posted = True
    now = utc_now()
    session.add_all([Settlement(id=str(uuid4()), payment_intent_id=payment_id, invoice_id=invoice.id,
                                amount=amount, base_amount=cleared[invoice.id], created_at=now)
                     for invoice, amount in allocations])
    await session.flush()
    return await _result(session, payment_id, posted=posted)


async def allocate(session: AsyncSession, items: Sequence[SettlementItem]
                   ) -> tuple[list[tuple[Invoice, int]], dict[str, int], Party]:
    """What each item settles (its amount, or all that is open), checked: every invoice exists, is open,
    is not overpaid, and all belong to one party, direction and currency. Also each invoice's remaining
    amount before this payment, and the party."""
    ids = [item.invoice_id for item in items]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("An invoice appears twice in items.", hint="List each invoice once with its amount.")
    rows = {inv.id: (inv, party, int(settled), status) for inv, party, settled, status in
            (await session.exec(state_query().where(col(Invoice.id).in_(ids)))).all()}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise InvoiceNotFound(f"No invoice with id {missing[0]!r}.", hint="Take the ids from list_open_items.")
    first, party = rows[ids[0]][0], rows[ids[0]][1]
    allocations: list[tuple[Invoice, int]] = []
    remaining_of: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
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
                hint="Settle at most the remaining amount; book the rest separately or as an adjustment.",
                details={"invoice_id": invoice.id, "remaining_amount": format_amount(remaining, invoice.currency)})
        allocations.append((invoice, amount))
        remaining_of[invoice.id] = remaining
    return allocations, remaining_of, party


def _sign(invoice: Invoice) -> int:
    return -1 if invoice.type == "credit_note" else 1


def share(carrying: int, amount: int, remaining: int) -> int:
    """The base value a settlement of `amount` of `remaining` clears: all of it for the rest, else the
    proportional share, half up."""
    if amount == remaining:
        return carrying
    return int((Decimal(carrying) * amount / remaining).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def _post_payment(session: AsyncSession, request: SettlementRequest, party: Party, first: Invoice,
                        allocations: list[tuple[Invoice, int]], net: int, provenance: Provenance,
                        rate: fx.Rate | None = None, cleared: dict[str, int] | None = None) -> Any:
    account = (request.account or "").strip()
    if (net or rate is not None) and not account:
        raise ValidationFailed("A payment needs the bank or cash account the money moved through.",
                               hint="Pass account, e.g. '1200' (bank) or '1000' (cash), or intent_id to link a "
                                    "payment already posted.")
    if account and account in {invoice.control_account for invoice, _ in allocations}:
        raise ValidationFailed(f"{account} is the control account of these items.",
                               hint="Pass the bank or cash account the money moved through.")
    # Receivable invoices are paid in: control credited; payable invoices paid out: control debited.
    receivable = first.direction == "receivable"
    legs: list[Leg] = []
    if rate is not None:
        assert cleared is not None
        legs = await _fx_legs(session, account, allocations, rate, cleared)
    else:
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
        acknowledge_soft_lock=request.acknowledge_soft_lock, rate=rate,
        custom_metadata={"party_id": party.id, "settles": [
            {"invoice_id": invoice.id, "amount": format_amount(amount, invoice.currency)}
            for invoice, amount in allocations]})


async def _fx_legs(session: AsyncSession, account: str, allocations: list[tuple[Invoice, int]], rate: fx.Rate,
                   cleared: dict[str, int]) -> list[Leg]:
    """Per item: the payment between the bank and the control account at the payment's rate, and the
    realised difference to the base value it clears, in the base currency."""
    base = (await read_meta(session))["base_currency"]
    gain, loss = await fx.fx_accounts(session)
    legs: list[Leg] = []
    for invoice, amount in allocations:
        control, number = invoice.control_account, invoice.invoice_number
        asset = asset_like(invoice)
        # Money comes in for asset-like items (control credited), goes out for the others (control debited).
        legs.append(Leg(account, control, amount, None, "amount", number) if asset
                    else Leg(control, account, amount, None, "amount", number))
        # Worth more in base than the item carried: a gain on what comes in, a loss on what goes out.
        difference = to_base(amount, invoice.currency, rate.rate, base) - cleared[invoice.id]
        if difference:
            text = f"Kursdifferenz {number}"
            value = abs(difference)
            legs.append(Leg(control, gain, value, None, "fx_difference", text, base, value)
                        if (difference > 0) == asset else
                        Leg(loss, control, value, None, "fx_difference", text, base, value))
    return legs


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
    base = (await read_meta(session))["base_currency"]
    for settlement, invoice, _ in rows:
        state = await get_invoice(session, invoice.id)
        items.append(SettledItem(invoice_id=invoice.id, invoice_number=invoice.invoice_number, type=invoice.type,
                                 amount=format_amount(settlement.amount, invoice.currency),
                                 base_amount=format_amount(settlement.base_amount, base),
                                 remaining_amount=state.remaining_amount, status=state.status))
    party, currency = rows[0][2], rows[0][1].currency
    net = sum(s.amount * _sign(inv) for s, inv, _ in rows)
    lines = (await session.exec(select(JournalLine).where(JournalLine.intent_id == payment_id))).all()
    differences = [li for li in lines if li.line_role == "fx_difference"]
    gain = (await fx.fx_accounts(session))[0] if differences else ""
    difference = sum(li.base_amount * (1 if li.credit_account == gain else -1) for li in differences)
    rate = next((li.exchange_rate for li in lines if li.exchange_rate and li.currency == currency), None)
    return SettlementResult(payment_intent_id=payment_id, posted=posted, party_id=party.id, party_name=party.name,
                            currency=currency, net_amount=format_amount(abs(net), currency), base_currency=base,
                            exchange_rate=rate, exchange_difference=("-" if difference < 0 else "")
                            + format_amount(abs(difference), base), items=items, replayed=replayed)

