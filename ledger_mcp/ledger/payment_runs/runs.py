"""The steps of a payment run and the reads over runs, terms and eligible invoices.

Eligible: an open payable invoice in EUR whose vendor has an IBAN, not blocked, not held by another
active run. Its Skonto (the invoice's terms, else its vendor's) is taken when the execution date is
within the discount period: the run pays the remaining amount less the discount, and completion settles
the whole remaining amount, booking the discount with its input VAT correction as reconciliation does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import company_name, read_meta
from ledger_mcp.ledger.bank.accounts import get_bank_account
from ledger_mcp.ledger.bank.reconcile import Adjustment, adjustment_legs
from ledger_mcp.ledger.clock import parse_date, utc_now
from ledger_mcp.ledger.errors import (
    FourEyesRequired,
    InvoiceNotFound,
    InvoiceNotPayable,
    OverSettlement,
    PartyNotFound,
    PaymentRunNotFound,
    PaymentRunStateConflict,
    PeriodLocked,
    UnsupportedCurrency,
    ValidationFailed,
)
from ledger_mcp.ledger.fiscal import next_period, period_of
from ledger_mcp.ledger.invoices import state_query
from ledger_mcp.ledger.models import (
    BankAccount,
    Invoice,
    Party,
    PaymentRun,
    PaymentRunEvent,
    PaymentRunItem,
    PaymentTerms,
    Settlement,
)
from ledger_mcp.ledger.money import format_amount, parse_amount
from ledger_mcp.ledger.payment_runs import sepa
from ledger_mcp.ledger.payment_runs.clearing import ACTIVE, RunState, append_event, states, statuses, transit_account
from ledger_mcp.ledger.periods import locked_through
from ledger_mcp.ledger.portable import binary
from ledger_mcp.ledger.posting import Leg, post_legs
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.settlements import SettlementItem, allocate

MAX_ITEMS = 500
RunStatus = Literal["created", "approved", "exported", "completed", "cleared", "cancelled"]


# --- Terms ---


# Skonto terms and payment block of a vendor or one invoice (which wins over its vendor's).
class TermsRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    party_id: str | None = Field(default=None, description="A vendor, or:")
    invoice_id: str | None = Field(default=None, description="one invoice.")
    skonto_percent: str | None = Field(default=None, description="e.g. '2' for 2 %.")
    skonto_days: int | None = Field(default=None, ge=0, le=365, description="From the invoice date.")
    skonto_until: str | None = Field(default=None, description="Or a date, YYYY-MM-DD.")
    blocked: bool = Field(default=False, description="Not to be paid.")
    block_reason: str | None = Field(default=None, max_length=500, description="Why.")


class TermsView(BaseModel):
    party_id: str | None
    invoice_id: str | None
    skonto_percent: str | None
    skonto_days: int | None
    skonto_until: str | None
    blocked: bool
    block_reason: str | None


def _terms_view(terms: PaymentTerms) -> TermsView:
    return TermsView(party_id=terms.party_id, invoice_id=terms.invoice_id, skonto_percent=terms.skonto_percent,
                     skonto_days=terms.skonto_days,
                     skonto_until=terms.skonto_until.isoformat() if terms.skonto_until else None,
                     blocked=terms.blocked, block_reason=terms.block_reason)


async def set_terms(session: AsyncSession, request: TermsRequest, provenance: Provenance) -> TermsView:
    if bool(request.party_id) == bool(request.invoice_id):
        raise ValidationFailed("Terms belong to a vendor or to one invoice: give party_id or invoice_id.",
                               hint="party_id for the vendor's standing terms, invoice_id for one invoice's.")
    if request.skonto_days is not None and request.skonto_until:
        raise ValidationFailed("Give skonto_days or skonto_until, not both.",
                               hint="skonto_days counts from the invoice date; skonto_until is a fixed date.")
    percent = None
    if request.skonto_percent is not None:
        try:
            value = Decimal(request.skonto_percent.strip())
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or not Decimal(0) < value < Decimal(100):
            raise ValidationFailed(f"skonto_percent {request.skonto_percent!r} is not a percentage.",
                                   hint="A decimal string between 0 and 100, e.g. '2' or '2.5'.")
        if request.skonto_days is None and not request.skonto_until:
            raise ValidationFailed("A Skonto needs its period: skonto_days or skonto_until.",
                                   hint="e.g. skonto_percent '2' with skonto_days 10 (2 % within 10 days).")
        percent = str(value.normalize())
    if request.party_id:
        party = await session.get(Party, request.party_id)
        if party is None or party.kind != "vendor":
            raise PartyNotFound(f"No vendor with id {request.party_id!r}.", hint="Find it with find_parties.")
        key = PaymentTerms.party_id == request.party_id
    else:
        invoice = await session.get(Invoice, request.invoice_id)
        if invoice is None or invoice.direction != "payable":
            raise InvoiceNotFound(f"No payable invoice with id {request.invoice_id!r}.",
                                  hint="Take the id from list_open_items kind payable.")
        key = PaymentTerms.invoice_id == request.invoice_id
    terms = (await session.exec(select(PaymentTerms).where(key))).first() or PaymentTerms(
        id=str(uuid4()), party_id=request.party_id, invoice_id=request.invoice_id, updated_at="", updated_by="")
    terms.skonto_percent = percent
    terms.skonto_days = request.skonto_days if percent else None
    terms.skonto_until = parse_date(request.skonto_until, field="skonto_until") if percent and request.skonto_until \
        else None
    terms.blocked = request.blocked
    terms.block_reason = (request.block_reason or "").strip() or None if request.blocked else None
    terms.updated_at = utc_now()
    terms.updated_by = provenance.actor_display[:300]
    session.add(terms)
    await session.flush()
    return _terms_view(terms)


@dataclass(frozen=True)
class _Payable:
    """An invoice as a run sees it: what is open, the Skonto on `day`, and why it cannot be paid."""

    invoice: Invoice
    party: Party
    remaining: int
    discount: int
    skonto_until: date | None
    problem: str | None
    run_id: str | None  # the active run holding it


async def _payables(session: AsyncSession, day: date, invoice_ids: list[str] | None = None,
                    currency: str = "EUR") -> list[_Payable]:
    stmt = state_query().where(Invoice.direction == "payable")
    if invoice_ids is not None:
        stmt = stmt.where(col(Invoice.id).in_(invoice_ids))
    rows = (await session.exec(stmt.order_by(col(Invoice.due_date), binary(Invoice.invoice_number)))).all()
    ids = [inv.id for inv, *_ in rows]
    parties = {inv.party_id for inv, *_ in rows}
    terms = {(t.invoice_id or t.party_id): t for t in (await session.exec(select(PaymentTerms).where(
        col(PaymentTerms.invoice_id).in_(ids) | col(PaymentTerms.party_id).in_(parties)))).all()}
    held = (await session.exec(select(PaymentRunItem.invoice_id, PaymentRunItem.run_id)
                               .where(col(PaymentRunItem.invoice_id).in_(ids)))).all()
    status = await statuses(session, list({run for _, run in held})) if held else {}
    active = {invoice_id: run for invoice_id, run in held if status.get(run) in ACTIVE}
    result = []
    for invoice, party, settled, state in rows:
        remaining = invoice.total_gross - int(settled)
        if state == "cancelled" or remaining <= 0:
            continue
        own, standing = terms.get(invoice.id), terms.get(party.id)
        chosen = own if own and own.skonto_percent else standing
        blocked = next((t for t in (own, standing) if t and t.blocked), None)
        until = None
        discount = 0
        if chosen and chosen.skonto_percent and invoice.type == "invoice":
            until = chosen.skonto_until or invoice.invoice_date + timedelta(days=chosen.skonto_days or 0)
            if day <= until:
                discount = int((Decimal(remaining) * Decimal(chosen.skonto_percent) / 100)
                               .quantize(Decimal(1), rounding=ROUND_HALF_UP))
        problem = None
        if invoice.type != "invoice":
            problem = "a credit note (settle it against an invoice with settle_open_items)"
        elif invoice.currency != currency:
            problem = f"in {invoice.currency}; SEPA credit transfers are in {currency}"
        elif not party.iban:
            problem = f"vendor {party.name} has no IBAN (save_party with iban)"
        elif blocked:
            problem = f"blocked for payment{': ' + blocked.block_reason if blocked.block_reason else ''}"
        elif invoice.id in active:
            problem = f"already in active payment run {active[invoice.id]}"
        result.append(_Payable(invoice, party, remaining, discount, until if discount else None, problem,
                               active.get(invoice.id)))
    return result


class EligibleInvoice(BaseModel):
    invoice_id: str
    invoice_number: str
    party_id: str
    party_name: str
    iban: str | None
    due_date: str
    remaining_amount: str
    skonto_amount: str = Field(description="Discount taken if paid on execution_date.")
    skonto_until: str | None
    payable_amount: str = Field(description="What the run would transfer.")


class EligibleList(BaseModel):
    execution_date: str
    due_by: str
    currency: str
    invoices: list[EligibleInvoice]
    total: str


async def eligible_invoices(session: AsyncSession, due_by: str, execution_date: str) -> EligibleList:
    """Payables a run could pay on `execution_date`: due by `due_by`, or with a Skonto that ends by then."""
    day = parse_date(execution_date, field="execution_date")
    limit = parse_date(due_by, field="due_by")
    currency = (await read_meta(session))["base_currency"]
    chosen = [p for p in await _payables(session, day, currency=currency) if p.problem is None and (
        p.invoice.due_date <= limit or (p.skonto_until is not None and p.skonto_until <= limit))]
    return EligibleList(execution_date=day.isoformat(), due_by=limit.isoformat(), currency=currency, invoices=[
        EligibleInvoice(invoice_id=p.invoice.id, invoice_number=p.invoice.invoice_number, party_id=p.party.id,
                        party_name=p.party.name, iban=p.party.iban, due_date=p.invoice.due_date.isoformat(),
                        remaining_amount=format_amount(p.remaining, currency),
                        skonto_amount=format_amount(p.discount, currency),
                        skonto_until=p.skonto_until.isoformat() if p.skonto_until else None,
                        payable_amount=format_amount(p.remaining - p.discount, currency)) for p in chosen],
        total=format_amount(sum(p.remaining - p.discount for p in chosen), currency))


# --- Runs ---


class RunInvoice(BaseModel):
    model_config = ConfigDict(frozen=True)
    invoice_id: str = Field(description="An open payable.")
    amount: str | None = Field(default=None, description="Part to pay, e.g. '50.00'; default: all less Skonto.")


class CreateRunRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    bank_account_id: str
    execution_date: str
    invoices: list[RunInvoice] = Field(min_length=1, max_length=MAX_ITEMS)
    label: str | None = Field(default=None, max_length=200)


class RunItemView(BaseModel):
    invoice_id: str
    invoice_number: str
    party_id: str
    party_name: str
    creditor_iban: str
    due_date: str
    amount: str = Field(description="Transferred.")
    skonto_amount: str
    end_to_end_id: str
    remittance: str
    cleared: bool = Field(description="Its debit is reconciled on the bank statement.")


class RunEventView(BaseModel):
    action: str
    actor_id: str
    channel: str
    created_at: str
    intent_id: str | None
    match_group_id: str | None
    note: str | None


class PaymentRunView(BaseModel):
    id: str
    status: RunStatus
    label: str
    bank_account_id: str
    execution_date: str
    currency: str
    message_id: str = Field(description="pain.001 MsgId and PmtInfId; banks report it with the debit.")
    total_amount: str
    skonto_total: str
    invoice_count: int
    created_by: str
    intent_id: str | None = Field(description="The completion's intent (payables against money in transit).")
    clearing_intent_id: str | None = Field(description="The bank debit's intent, once reconciled.")
    items: list[RunItemView]
    history: list[RunEventView]


class RunSummary(BaseModel):
    id: str
    status: RunStatus
    label: str
    execution_date: str
    total_amount: str
    invoice_count: int


class RunList(BaseModel):
    runs: list[RunSummary]


async def _get_run(session: AsyncSession, run_id: str) -> tuple[PaymentRun, RunState]:
    run = await session.get(PaymentRun, run_id)
    if run is None:
        raise PaymentRunNotFound(f"No payment run with id {run_id!r}.", hint="List them with list_payment_runs.")
    return run, (await states(session, [run.id]))[run.id]


async def _items(session: AsyncSession, run_id: str) -> list[tuple[PaymentRunItem, Invoice, Party]]:
    return list((await session.exec(
        select(PaymentRunItem, Invoice, Party).join(Invoice, col(Invoice.id) == PaymentRunItem.invoice_id)
        .join(Party, col(Party.id) == Invoice.party_id).where(PaymentRunItem.run_id == run_id)
        .order_by(col(PaymentRunItem.position)))).all())


async def run_view(session: AsyncSession, run_id: str) -> PaymentRunView:
    run, state = await _get_run(session, run_id)
    status = state.status
    items = await _items(session, run.id)
    events = (await session.exec(select(PaymentRunEvent).where(PaymentRunEvent.run_id == run.id)
                                 .order_by(col(PaymentRunEvent.id)))).all()
    c = run.currency
    completion = next((e.intent_id for e in events if e.action == "complete"), None)
    clearing = next((e.intent_id for e in reversed(events) if e.action == "clear"), None) \
        if status == "cleared" else None
    return PaymentRunView(
        id=run.id, status=status, label=run.label,  # type: ignore[arg-type]
        bank_account_id=run.bank_account_id, execution_date=run.execution_date.isoformat(), currency=c,
        message_id=run.message_id, total_amount=format_amount(sum(i.amount for i, _, _ in items), c),
        skonto_total=format_amount(sum(i.skonto_amount for i, _, _ in items), c), invoice_count=len(items),
        created_by=run.created_by, intent_id=completion, clearing_intent_id=clearing,
        items=[RunItemView(invoice_id=inv.id, invoice_number=inv.invoice_number, party_id=party.id,
                           party_name=party.name, creditor_iban=item.creditor_iban, due_date=inv.due_date.isoformat(),
                           amount=format_amount(item.amount, c), skonto_amount=format_amount(item.skonto_amount, c),
                           end_to_end_id=item.end_to_end_id, remittance=item.remittance,
                           cleared=item.end_to_end_id in state.cleared)
               for item, inv, party in items],
        history=[RunEventView(action=e.action, actor_id=e.actor_id, channel=e.channel, created_at=e.created_at,
                              intent_id=e.intent_id, match_group_id=e.match_group_id, note=e.note) for e in events])


async def list_runs(session: AsyncSession, limit: int = 100) -> RunList:
    """The newest runs first."""
    chosen = (await session.exec(select(PaymentRun).order_by(col(PaymentRun.created_at).desc()).limit(limit))).all()
    state = await statuses(session, [r.id for r in chosen]) if chosen else {}
    totals: dict[str, tuple[int, int]] = {}
    for item in (await session.exec(select(PaymentRunItem).where(
            col(PaymentRunItem.run_id).in_([r.id for r in chosen])))).all() if chosen else []:
        amount, count = totals.get(item.run_id, (0, 0))
        totals[item.run_id] = (amount + item.amount, count + 1)
    return RunList(runs=[RunSummary(id=r.id, status=state[r.id], label=r.label,  # type: ignore[arg-type]
                                    execution_date=r.execution_date.isoformat(),
                                    total_amount=format_amount(totals.get(r.id, (0, 0))[0], r.currency),
                                    invoice_count=totals.get(r.id, (0, 0))[1]) for r in chosen])


async def _refuse_locked(session: AsyncSession, day: date) -> None:
    through = await locked_through(session)
    if through and period_of(day) <= through:
        raise PeriodLocked(f"The execution date {day} lies in locked period {period_of(day)} (locked through "
                           f"{through}); its payments could not be booked.",
                           hint=f"Choose an execution date in an open period ({next_period(through)} or later).",
                           details={"period": period_of(day), "locked_through": through})


async def create_run(session: AsyncSession, request: CreateRunRequest, provenance: Provenance) -> PaymentRunView:
    account = await get_bank_account(session, request.bank_account_id)
    day = parse_date(request.execution_date, field="execution_date")
    if not account.iban:
        raise ValidationFailed(f"Bank account {account.name} has no IBAN to pay from.",
                               hint="Add it with save_bank_account, or pay from another bank account.")
    if account.currency != "EUR":
        raise UnsupportedCurrency(f"Bank account {account.name} is in {account.currency}; SEPA credit transfers "
                                  "are in EUR.", hint="Pay from a EUR bank account.")
    await _refuse_locked(session, day)
    ids = [i.invoice_id for i in request.invoices]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("An invoice appears twice in invoices.", hint="List each invoice once.")
    found = {p.invoice.id: p for p in await _payables(session, day, ids, account.currency)}
    run_id = str(uuid4())
    message_id = f"PR{uuid4().hex[:20].upper()}"
    items: list[PaymentRunItem] = []
    for position, wanted in enumerate(request.invoices, start=1):
        payable = found.get(wanted.invoice_id)
        if payable is None:
            invoice = await session.get(Invoice, wanted.invoice_id)
            if invoice is None:
                raise InvoiceNotFound(f"No invoice with id {wanted.invoice_id!r}.",
                                      hint="Take the ids from list_payment_runs with eligible_due_by.")
            raise InvoiceNotPayable(f"Invoice {invoice.invoice_number} is not an open payable.",
                                    hint="Only open incoming invoices are paid by a run; remove it.",
                                    details={"invoice_id": invoice.id})
        invoice, c = payable.invoice, account.currency
        if payable.problem:
            if payable.invoice.currency != c:
                raise UnsupportedCurrency(f"Invoice {invoice.invoice_number} is {payable.problem}.",
                                          hint="Pay it by hand and settle it with settle_open_items; remove it.",
                                          details={"invoice_id": invoice.id})
            raise InvoiceNotPayable(f"Invoice {invoice.invoice_number} cannot be paid by a run: {payable.problem}.",
                                    hint="Remove it from invoices, or fix what is named and call again.",
                                    details={"invoice_id": invoice.id, "payment_run_id": payable.run_id})
        discount = payable.discount
        amount = payable.remaining - discount
        if wanted.amount:
            amount = parse_amount(wanted.amount, c, field=f"invoices[{position}].amount")
            if amount > payable.remaining:
                raise OverSettlement(
                    f"Invoice {invoice.invoice_number} has {format_amount(payable.remaining, c)} open; "
                    f"{format_amount(amount, c)} would overpay it.",
                    hint="Pay at most the remaining amount (omit amount to pay what is open).",
                    details={"invoice_id": invoice.id, "remaining_amount": format_amount(payable.remaining, c)})
            if amount != payable.remaining - discount:
                discount = 0  # a part payment takes no Skonto
        text = f"Rechnung {invoice.invoice_number}"
        if discount:
            text += f" abzgl. {format_amount(discount, c)} Skonto"
        party = payable.party
        assert party.iban is not None
        items.append(PaymentRunItem(run_id=run_id, invoice_id=invoice.id, position=position, amount=amount,
                                    skonto_amount=discount, end_to_end_id=f"{message_id}-{position}",
                                    creditor_name=party.name[:70], creditor_iban=party.iban,
                                    creditor_bic=party.bic, remittance=text[:140]))
    label = (request.label or "").strip() or f"Payment run {day.isoformat()}"
    session.add(PaymentRun(id=run_id, bank_account_id=account.id, execution_date=day, label=label,
                           currency=account.currency, message_id=message_id, created_at=utc_now(),
                           created_by=provenance.actor_id))
    await session.flush()
    session.add_all(items)
    await session.flush()
    await append_event(session, run_id, "create", provenance)
    return await run_view(session, run_id)


def _refuse_status(run: PaymentRun, status: str, step: str, allowed: set[str], hint: str) -> None:
    if status not in allowed:
        raise PaymentRunStateConflict(f"Payment run {run.label} is {status}; it cannot be {step}.", hint=hint,
                                      details={"payment_run_id": run.id, "status": status})


async def approve_run(session: AsyncSession, run_id: str, provenance: Provenance) -> PaymentRunView:
    run, state = await _get_run(session, run_id)
    _refuse_status(run, state.status, "approved", {"created"}, "Only a created run is approved, once.")
    if run.created_by == provenance.actor_id:
        raise FourEyesRequired(f"{run.created_by} created this run and cannot approve it too.",
                               hint="A different actor (another user or API key) must approve it.",
                               details={"payment_run_id": run.id, "created_by": run.created_by})
    await _refuse_locked(session, run.execution_date)
    await append_event(session, run.id, "approve", provenance)
    return await run_view(session, run.id)


class SepaFile(BaseModel):
    run: PaymentRunView
    format: str
    file_name: str
    message_id: str
    number_of_transactions: int
    control_sum: str
    xml: str = Field(exclude=True)


async def export_run(session: AsyncSession, run_id: str, schema: sepa.SepaFormat,
                     provenance: Provenance) -> SepaFile:
    run, state = await _get_run(session, run_id)
    _refuse_status(run, state.status, "exported", {"approved", "exported"},
                   "A run is exported after a second person approved it (action approve).")
    account: BankAccount = await get_bank_account(session, run.bank_account_id)
    items = [item for item, _, _ in await _items(session, run.id)]
    xml = sepa.credit_transfer(run, account, items, await company_name(session) or account.name, schema)
    await append_event(session, run.id, "export", provenance, note=schema)
    return SepaFile(run=await run_view(session, run.id), format=schema, file_name=f"{run.message_id}.{schema}.xml",
                    message_id=run.message_id, number_of_transactions=len(items),
                    control_sum=format_amount(sum(i.amount for i in items), run.currency), xml=xml.decode())


async def complete_run(session: AsyncSession, run_id: str, provenance: Provenance,
                       acknowledge_soft_lock: bool = False) -> PaymentRunView:
    """One intent on the execution date: each payable settled (transfer plus Skonto) against the money in
    transit, the Skonto received with its input VAT correction; then the settlement rows."""
    run, state = await _get_run(session, run_id)
    _refuse_status(run, state.status, "completed", {"exported"}, "Complete a run after its file went to the bank "
                                                           "(action export, then complete).")
    chart = (await read_meta(session))["chart"]
    transit = await transit_account(session)
    rows = await _items(session, run.id)
    c = run.currency
    # Checked as a payment checks them (still open, not overpaid), one query per vendor.
    by_party: dict[str, list[SettlementItem]] = {}
    for item, invoice, _ in rows:
        by_party.setdefault(invoice.party_id, []).append(SettlementItem(
            invoice_id=item.invoice_id, amount=format_amount(item.amount + item.skonto_amount, c)))
    checked = {invoice.id: (invoice, amount) for items in by_party.values()
               for invoice, amount in (await allocate(session, items))[0]}
    legs: list[Leg] = []
    settled: list[tuple[Invoice, int]] = []
    for item, _, _ in rows:
        invoice, amount = checked[item.invoice_id]
        legs.append(Leg(invoice.control_account, None, amount, None, "amount", invoice.invoice_number))
        if item.skonto_amount:
            skonto = Adjustment(kind="skonto", amount=format_amount(item.skonto_amount, c))
            legs += await adjustment_legs(session, skonto, item.skonto_amount, False, chart, [(invoice, amount)])
        settled.append((invoice, amount))
    legs.append(Leg(None, transit, sum(item.amount for item, _, _ in rows), None, "amount", run.message_id))
    posted = await post_legs(
        session, category="payment", booking_date=run.execution_date, description=f"Payment run {run.label}"[:500],
        legs=legs, provenance=provenance, external_reference=run.message_id,
        acknowledge_soft_lock=acknowledge_soft_lock,
        custom_metadata={"payment_run_id": run.id, "settles": [
            {"invoice_id": invoice.id, "amount": format_amount(amount, c)} for invoice, amount in settled]})
    now = utc_now()
    session.add_all([Settlement(id=str(uuid4()), payment_intent_id=posted.intent_id, invoice_id=invoice.id,
                                amount=amount, base_amount=amount, created_at=now) for invoice, amount in settled])
    await session.flush()
    await append_event(session, run.id, "complete", provenance, intent_id=posted.intent_id)
    return await run_view(session, run.id)


async def cancel_run(session: AsyncSession, run_id: str, reason: str | None, provenance: Provenance) -> PaymentRunView:
    run, state = await _get_run(session, run_id)
    _refuse_status(run, state.status, "cancelled", set(ACTIVE),
                   "A completed run is undone by reversing its intent (reverse_intent), not by cancelling.")
    if not (reason or "").strip():
        raise ValidationFailed("Cancelling a payment run needs a reason.",
                               hint="Say why, e.g. 'bank rejected the file' or 'wrong execution date'.")
    await append_event(session, run.id, "cancel", provenance, note=(reason or "").strip()[:500])
    return await run_view(session, run.id)
