"""Period-end revaluation of open foreign-currency items (§ 256a HGB).

On the closing date every open item in a foreign currency is valued at the closing rate (the rate
table's rate for that date). An item due within one year takes that value either way. An item
due later follows the imparity principle: a receivable never above, a liability never below what
it was booked at (its share of the historical base value). The difference to the value it is
carried at is booked in one intent (category `revaluation`) to the chart's exchange gain or loss
account, one line per item; reversing that intent (reverse_intent) undoes it, e.g. on the first
day of the next year. Running it again for the same date books only what changed since (nothing,
if no rate or item changed). Settlements clear an item at the value it is carried at on the payment date,
revaluations included, so a revaluation stays until it is reversed or the item is paid. So that no
revaluation is left on a control account without an item to carry it: an item settled in full or
cancelled since the closing date is not revalued (its payment realised the difference), a
revaluation is not reversed after a payment it was part of, an invoice is not cancelled while
revalued, and a payment is not dated before a live revaluation of its item.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import fx
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import parse_date
from ledger_mcp.ledger.errors import ExchangeRateMissing
from ledger_mcp.ledger.invoices import asset_like
from ledger_mcp.ledger.models import RevaluationItem
from ledger_mcp.ledger.money import format_amount, to_base
from ledger_mcp.ledger.open_items import open_item_state
from ledger_mcp.ledger.posting import ACK_DESCRIPTION, Leg, post_legs
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.settlements import share

REVALUATION_CATEGORY = "revaluation"
LONG_TERM = timedelta(days=365)


class RevaluationRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    closing_date: str = Field(description="YYYY-MM-DD, the balance sheet date, e.g. '2026-12-31'.")
    description: str | None = Field(default=None, max_length=500)
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)


class RevaluedItem(BaseModel):
    invoice_id: str
    invoice_number: str
    kind: str = Field(description="payable or receivable")
    type: str
    currency: str
    remaining_amount: str
    due_date: str
    long_term: bool = Field(description="Due more than one year after the closing date (imparity applies).")
    closing_rate: str
    carried_base: str = Field(description="Value carried before, in the base currency.")
    closing_base: str = Field(description="The open rest at the closing rate.")
    new_base: str = Field(description="Value after revaluation (closing_base, or the historical value where "
                                      "imparity keeps it).")
    difference: str = Field(description="Exchange gain (positive) or loss (negative) booked.")
    skipped: str | None = Field(default=None, description="Why nothing was booked for an item open on the closing "
                                                          "date, e.g. settled in full since.")


class RevaluationResult(BaseModel):
    closing_date: str
    base_currency: str
    intent_id: str | None = Field(description="The revaluation intent; null when nothing needed booking.")
    items: list[RevaluedItem]
    total_gain: str
    total_loss: str


async def revalue_open_items(session: AsyncSession, request: RevaluationRequest,
                             provenance: Provenance) -> RevaluationResult:
    day = parse_date(request.closing_date, field="closing_date")
    base = (await read_meta(session))["base_currency"]
    gain_account, loss_account = await fx.fx_accounts(session)
    legs: list[Leg] = []
    items: list[RevaluedItem] = []
    rows: list[RevaluationItem] = []
    open_now = {o.invoice.id for o in await open_item_state(session, None)}
    for o in await open_item_state(session, day):
        invoice = o.invoice
        if invoice.currency == base:
            continue
        try:
            rate = await fx.rate_for(session, invoice.currency, day, None)
        except ExchangeRateMissing as missing:
            missing.hint = (f"Record the {invoice.currency} closing rate for {day.isoformat()} with save_exchange_rate "
                            "(or import_exchange_rates), then revalue again.")
            raise
        assert rate is not None
        closing = to_base(o.remaining, invoice.currency, rate.rate, base)
        historical = share(invoice.total_gross_base, o.remaining, invoice.total_gross)
        asset = asset_like(invoice)
        long_term = invoice.due_date - day > LONG_TERM
        target = closing if not long_term else min(closing, historical) if asset else max(closing, historical)
        delta = target - o.carrying  # change of the item's value; a gain on assets, a loss on liabilities
        gain = delta if asset else -delta
        # Settled in full (or cancelled) since: its payment has realised the difference already, and a
        # revaluation now would stay on the control account with no item left to carry it.
        skipped = None if invoice.id in open_now else "settled or cancelled after the closing date"
        if skipped:
            target, gain, delta = o.carrying, 0, 0
        if delta:
            control = invoice.control_account
            text = f"Bewertung {invoice.invoice_number} {invoice.currency} zum {day.isoformat()} ({rate.text})"
            legs.append(Leg(control, gain_account, abs(delta), None, "fx_difference", text) if gain > 0
                        else Leg(loss_account, control, abs(delta), None, "fx_difference", text))
            rows.append(RevaluationItem(intent_id="", invoice_id=invoice.id, rate=rate.text, base_delta=delta))
        items.append(RevaluedItem(
            invoice_id=invoice.id, invoice_number=invoice.invoice_number, kind=invoice.direction, type=invoice.type,
            currency=invoice.currency, remaining_amount=format_amount(o.remaining, invoice.currency),
            due_date=invoice.due_date.isoformat(), long_term=long_term, closing_rate=rate.text,
            carried_base=format_amount(o.carrying, base), closing_base=format_amount(closing, base),
            new_base=format_amount(target, base), difference=_signed(gain, base), skipped=skipped))
    gains = sum(leg.amount for leg in legs if leg.credit == gain_account)
    losses = sum(leg.amount for leg in legs if leg.debit == loss_account)
    intent_id = None
    if legs:
        posted = await post_legs(
            session, category=REVALUATION_CATEGORY, booking_date=day,
            description=request.description or f"Währungsbewertung offener Posten zum {day.isoformat()}",
            legs=legs, provenance=provenance, acknowledge_soft_lock=request.acknowledge_soft_lock,
            custom_metadata={"revaluation": {"closing_date": day.isoformat(), "items": len(rows)}})
        intent_id = posted.intent_id
        for row in rows:
            row.intent_id = intent_id
        session.add_all(rows)
        await session.flush()
    return RevaluationResult(closing_date=day.isoformat(), base_currency=base, intent_id=intent_id, items=items,
                             total_gain=format_amount(gains, base), total_loss=format_amount(losses, base))


def _signed(units: int, currency: str) -> str:
    return ("-" if units < 0 else "") + format_amount(abs(units), currency)
