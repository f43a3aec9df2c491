"""Reconciliation: explaining bank transactions in the books, one match group per explanation.

Modes: open_items (a payment intent settles invoices, as settle_open_items does, with fee, Skonto and
rounding adjustments), intent (an intent posted elsewhere that moved exactly this money on the bank's
ledger account, or a payment run's, whose money in transit the debit then clears), booking (a direct
booking against an account, with a tax code), dismiss (not to be booked, with a reason), and unmatch
(the group's intent is reversed, its items reopen, its transactions are open again; the group stays as
history). Control accounts are only ever moved through settlements.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain
from ledger_mcp.ledger.accounts import read_meta, require_accounts
from ledger_mcp.ledger.bank.state import live_group
from ledger_mcp.ledger.clock import today, utc_now
from ledger_mcp.ledger.errors import (
    AlreadyReconciled,
    BankTransactionNotFound,
    IdempotencyConflict,
    IntentNotFound,
    NotReconciled,
    PeriodLocked,
    ReconciliationMismatch,
    UnknownTaxCode,
    ValidationFailed,
)
from ledger_mcp.ledger.invoices import get_invoice
from ledger_mcp.ledger.models import (
    BankAccount,
    BankMatch,
    BankMatchGroup,
    BankTransaction,
    Intent,
    Invoice,
    InvoiceLine,
    JournalLine,
    Party,
    PaymentRun,
    Settlement,
    TaxCode,
)
from ledger_mcp.ledger.money import format_amount, parse_amount, split_gross
from ledger_mcp.ledger.open_items import signed
from ledger_mcp.ledger.payment_runs import clearing
from ledger_mcp.ledger.posting import (
    ACK_DESCRIPTION,
    BookingLine,
    BookingRequest,
    Leg,
    ReversalRequest,
    post_booking,
    post_legs,
    reverse_intent,
    reversed_by,
)
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.settlements import SettlementItem, allocate

Mode = Literal["open_items", "intent", "booking", "dismiss", "unmatch"]
PostingMode = Literal["transaction_date", "current_date"]
AdjustmentKind = Literal["fee", "skonto", "rounding"]
MAX_TRANSACTIONS = 100
MAX_ITEMS = 100

# Default accounts for adjustments per chart: (cost, gain). A cost lowers what came in (or raises what
# went out); a gain does the opposite.
ADJUSTMENT_ACCOUNTS = {
    "skr03": {"fee": ("4970", "2700"), "skonto_granted": ("8736", ""), "skonto_received": ("", "3736"),
              "rounding": ("4900", "2700")},
    "skr04": {"fee": ("6855", "4830"), "skonto_granted": ("4736", ""), "skonto_received": ("", "5736"),
              "rounding": ("6300", "4830")},
}


# What a reconciliation settles is what a payment settles.
Allocation = SettlementItem


class Adjustment(BaseModel):
    """A difference between the money moved and the items settled."""

    model_config = ConfigDict(frozen=True)
    kind: AdjustmentKind = Field(description="fee: bank charges (a cost); skonto: cash discount granted to a "
                                             "customer or taken from a vendor, with its VAT correction; rounding: "
                                             "a small difference either way.")
    amount: str = Field(description="Positive decimal string, e.g. '3.40'. Skonto: the gross discount.")
    account: str | None = Field(default=None, description="Default: SKR03 fee 4970, Skonto 8736 (granted) / "
                                                          "3736 (received), rounding 4900/2700 (SKR04: 6855, "
                                                          "4736/5736, 6300/4830).")
    tax_code: str | None = Field(default=None, description="Skonto's VAT correction, e.g. USt19 (granted) or "
                                                           "VSt19 (received); default: split over the items' tax "
                                                           "codes in proportion to their gross amounts.")


class ReconcileRequest(BaseModel):
    """One explanation of one or more bank transactions."""

    model_config = ConfigDict(frozen=True)
    bank_transaction_ids: list[str] = Field(min_length=1, max_length=MAX_TRANSACTIONS)
    mode: Mode
    items: list[Allocation] = Field(default_factory=list, max_length=MAX_ITEMS)
    adjustments: list[Adjustment] = Field(default_factory=list, max_length=10)
    intent_id: str | None = None
    account: str | None = None
    tax_code: str | None = None
    description: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=500)
    evidence: str | None = Field(default=None, max_length=1000)
    posting_mode: PostingMode = "transaction_date"
    idempotency_key: str | None = Field(default=None, max_length=200)
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)


class ReconciledItem(BaseModel):
    invoice_id: str
    invoice_number: str
    amount: str = Field(description="Settled by this reconciliation.")
    remaining_amount: str
    status: str


class ReconcileResult(BaseModel):
    """What a reconciliation booked (or, for unmatch, undid)."""

    ok: bool = True
    mode: str
    match_group_id: str
    bank_transaction_ids: list[str]
    status: str = Field(description="The transactions' status now: reconciled, dismissed or open.")
    amount: str = Field(description="Sum of the transactions, signed (negative: money out).")
    intent_id: str | None = Field(description="The intent that explains the transactions (posted here or linked).")
    posted: bool = Field(description="True if this call posted intent_id.")
    booking_date: str | None = None
    reversal_intent_id: str | None = Field(default=None, description="unmatch: the Storno of the group's intent.")
    items: list[ReconciledItem] = Field(default_factory=list)
    replayed: bool = False


async def reconcile(session: AsyncSession, request: ReconcileRequest, provenance: Provenance) -> ReconcileResult:
    """Apply one reconciliation in the caller's transaction."""
    if request.mode == "unmatch":
        return await unmatch(session, request, provenance)
    request_hash = chain.sha256_hex(chain.canonical_json(request.model_dump(exclude={"acknowledge_soft_lock"})))
    if request.idempotency_key:
        earlier = (await session.exec(select(BankMatchGroup).where(
            BankMatchGroup.idempotency_key == request.idempotency_key))).first()
        if earlier:
            if earlier.request_hash != request_hash:
                raise IdempotencyConflict(
                    f"idempotency_key {request.idempotency_key!r} was used for a different reconciliation.",
                    hint="Use a new key for a new reconciliation; resend the identical request to replay.")
            return await group_result(session, earlier, replayed=True)
    transactions = await _open_transactions(session, request.bank_transaction_ids)
    account = await session.get(BankAccount, transactions[0].bank_account_id)
    assert account is not None
    total = sum(t.amount for t in transactions)
    day = today() if request.posting_mode == "current_date" else max(t.booking_date for t in transactions)
    group = BankMatchGroup(id=str(uuid4()), bank_account_id=account.id, mode=request.mode,
                           reason=(request.reason or "").strip() or None,
                           counterparty_key=counterparty_key(transactions[0]),
                           idempotency_key=request.idempotency_key,
                           request_hash=request_hash if request.idempotency_key else None, created_at=utc_now(),
                           **provenance.columns())
    metadata: dict[str, object] = {"bank_transaction_ids": [t.id for t in transactions], "match_group_id": group.id}
    if request.evidence:
        metadata["evidence"] = request.evidence
    run: PaymentRun | None = None
    cleared: list[str] = []  # a payment run's items whose debit these transactions are
    try:
        if request.mode == "dismiss":
            if not group.reason:
                raise ValidationFailed("Dismissing a transaction needs a reason.",
                                       hint="Say why it is not booked, e.g. 'transfer between own accounts, booked "
                                            "on the other account'.")
            group.mode = "dismissed"
        elif request.mode == "intent" and (run := await clearing.completed_run(session, request.intent_id)):
            # A payment run's intent booked the money in transit: the statement's debit clears it.
            group.intent_id, cleared = await clearing.clear(session, run, account, transactions, day, metadata,
                                                            provenance,
                                                            acknowledge_soft_lock=request.acknowledge_soft_lock)
            group.posted = True
        elif request.mode == "intent":
            group.intent_id = await _check_intent(session, request.intent_id, account, total)
        elif request.mode == "booking":
            group.intent_id = await _book(session, request, account, transactions, total, day, metadata, provenance)
            group.posted = True
            group.rule = chain.canonical_json({"account": request.account, "tax_code": request.tax_code,
                                               "description": request.description})
        else:
            group.intent_id, party_id = await _settle(session, request, account, transactions, total, day, metadata,
                                                      provenance)
            group.posted = group.intent_id is not None
            group.rule = chain.canonical_json({"party_id": party_id}) if party_id else None
    except PeriodLocked as exc:
        if request.posting_mode == "current_date":
            raise
        raise PeriodLocked(exc.message, hint="Call again with posting_mode 'current_date' to book it today in the "
                                             "open period, or ask for the period to be reopened.",
                           details=exc.details) from None
    session.add(group)
    await session.flush()
    session.add_all([BankMatch(match_group_id=group.id, bank_transaction_id=t.id) for t in transactions])
    await session.flush()
    if run is not None and group.intent_id:
        await clearing.record_clear(session, run, group.id, group.intent_id, cleared, provenance)
    return await group_result(session, group)


def counterparty_key(transaction: BankTransaction) -> str | None:
    if transaction.counterparty_iban:
        return f"iban:{transaction.counterparty_iban}"
    if transaction.counterparty_name:
        return f"name:{' '.join(transaction.counterparty_name.casefold().split())}"[:240]
    return None


async def _open_transactions(session: AsyncSession, ids: list[str]) -> list[BankTransaction]:
    if len(set(ids)) != len(ids):
        raise ValidationFailed("A bank transaction appears twice.", hint="List each transaction once.")
    found = {t.id: t for t in (await session.exec(select(BankTransaction).where(
        col(BankTransaction.id).in_(ids)))).all()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise BankTransactionNotFound(f"No bank transaction with id {missing[0]!r}.",
                                      hint="Take the ids from list_bank_transactions or suggest_matches.")
    if len({t.bank_account_id for t in found.values()}) > 1:
        raise ValidationFailed("The transactions belong to different bank accounts.",
                               hint="Reconcile each bank account's transactions separately.")
    taken = (await session.exec(
        select(BankMatch.bank_transaction_id, BankMatchGroup.id, BankMatchGroup.mode)
        .join(BankMatchGroup, col(BankMatchGroup.id) == BankMatch.match_group_id)
        .where(col(BankMatch.bank_transaction_id).in_(ids), live_group()))).first()
    if taken:
        raise AlreadyReconciled(f"Bank transaction {taken[0]} is already {taken[2]} (match group {taken[1]}).",
                                hint="Unmatch it first (mode unmatch) if the explanation was wrong.",
                                details={"bank_transaction_id": taken[0], "match_group_id": taken[1]})
    return [found[i] for i in ids]


async def _check_intent(session: AsyncSession, intent_id: str | None, account: BankAccount, total: int) -> str:
    if not intent_id:
        raise ValidationFailed("mode intent needs intent_id.", hint="Pass the intent that booked this payment.")
    intent = await session.get(Intent, intent_id)
    if intent is None or intent.category == "reversal" or await reversed_by(session, intent_id):
        raise IntentNotFound(f"Intent {intent_id!r} does not exist, is a reversal or is reversed.",
                             hint="Find the intent with query_journal on the bank's ledger account.")
    lines = (await session.exec(select(JournalLine).where(JournalLine.intent_id == intent_id))).all()
    number = account.ledger_account
    moved = sum(li.amount * ((li.debit_account == number) - (li.credit_account == number)) for li in lines)
    if moved != total:
        raise ReconciliationMismatch(
            f"Intent {intent_id} moved {signed(moved, account.currency)} on {number}; the transactions add up to "
            f"{signed(total, account.currency)}.",
            hint="Link the intent that booked exactly this money on the bank's ledger account, or book directly.",
            details={"intent_moved": signed(moved, account.currency), "transactions": signed(total, account.currency)})
    linked = (await session.exec(select(BankMatchGroup.id).where(BankMatchGroup.intent_id == intent_id,
                                                                 live_group()))).first()
    if linked:
        raise AlreadyReconciled(f"Intent {intent_id} already explains match group {linked}.",
                                hint="An intent explains one group of transactions.",
                                details={"match_group_id": linked})
    return intent_id


async def _book(session: AsyncSession, request: ReconcileRequest, account: BankAccount,
                transactions: list[BankTransaction], total: int, day: date, metadata: dict[str, object],
                provenance: Provenance) -> str:
    if not request.account:
        raise ValidationFailed("mode booking needs account (and tax_code where VAT applies).",
                               hint="e.g. account '4970' for bank fees without tax, '4930' with tax_code 'VSt19' "
                                    "for a card payment, '1800' for a private withdrawal (SKR03).")
    if total == 0:
        raise ReconciliationMismatch("The transactions add up to zero; there is nothing to book.",
                                     hint="Use mode open_items without items to pair them, or dismiss them.")
    other = request.account.strip()
    bank = account.ledger_account
    debit, credit = (bank, other) if total > 0 else (other, bank)
    first = transactions[0]
    text = request.description or " ".join(
        p for p in (first.counterparty_name, first.remittance_information) if p)[:500] or "Bank transaction"
    booking = BookingRequest(
        booking_date=day.isoformat(), description=text,
        lines=[BookingLine(debit_account=debit, credit_account=credit, amount=format_amount(abs(total),
                                                                                             account.currency),
                           tax_code=request.tax_code)],
        currency=account.currency, external_reference=_reference(transactions), custom_metadata=metadata,
        acknowledge_soft_lock=request.acknowledge_soft_lock)
    return (await post_booking(session, booking, provenance)).intent_id


def _reference(transactions: list[BankTransaction]) -> str:
    """Belegfeld: the bank's reference, else the transaction id (unique, so no false duplicate warning)."""
    first = transactions[0]
    return (first.bank_reference or first.end_to_end_id or f"BANK-{first.id}")[:200]


async def _settle(session: AsyncSession, request: ReconcileRequest, account: BankAccount,
                  transactions: list[BankTransaction], total: int, day: date, metadata: dict[str, object],
                  provenance: Provenance) -> tuple[str | None, str | None]:
    """Post one payment intent: bank, control account per item, adjustments; then the settlement rows."""
    c = account.currency
    allocations, party = await _allocations(session, request.items, c)
    receivable = bool(allocations) and allocations[0][0].direction == "receivable"
    # What the items make flow in: receivables paid in, payables paid out; credit notes the other way.
    expected = sum(amount * (1 if (inv.type == "invoice") == (inv.direction == "receivable") else -1)
                   for inv, amount in allocations)
    chart = (await read_meta(session))["chart"]
    legs: list[Leg] = []
    for invoice, amount in allocations:
        reduces = (invoice.type == "invoice") == receivable  # credit the control account
        legs.append(Leg(None, invoice.control_account, amount, None, "amount", invoice.invoice_number) if reduces
                    else Leg(invoice.control_account, None, amount, None, "amount", invoice.invoice_number))
    net_adjust = 0  # costs minus gains
    for index, adjustment in enumerate(request.adjustments, start=1):
        units = parse_amount(adjustment.amount, c, field=f"adjustments[{index}].amount")
        cost = _is_cost(adjustment, receivable, expected - total - net_adjust, bool(allocations))
        net_adjust += units if cost else -units
        legs += await adjustment_legs(session, adjustment, units, cost, chart, allocations)
    if expected - net_adjust != total:
        difference = total - (expected - net_adjust)
        raise ReconciliationMismatch(
            f"The transactions move {signed(total, c)}; the items and adjustments explain "
            f"{signed(expected - net_adjust, c)} (difference {signed(difference, c)}).",
            hint="Settle part amounts, or add an adjustment (fee, skonto, rounding) for the difference.",
            details={"transactions": signed(total, c), "explained": signed(expected - net_adjust, c),
                     "difference": signed(difference, c)})
    if not legs and total == 0:
        return None, None  # transactions that cancel out (e.g. a returned direct debit with its original)
    bank = account.ledger_account
    if total:
        legs.append(Leg(bank, None, total, None, "amount", None) if total > 0
                    else Leg(None, bank, -total, None, "amount", None))
    numbers = ", ".join(inv.invoice_number for inv, _ in allocations)
    who = party.name if party else (transactions[0].counterparty_name or "Bank")
    text = request.description or (f"{'Payment received' if receivable else 'Payment'} {who}: {numbers}"
                                    if allocations else f"Bank {who}")
    if allocations:
        metadata = {**metadata, "party_id": party.id if party else None, "settles": [
            {"invoice_id": inv.id, "amount": format_amount(amount, c)} for inv, amount in allocations]}
    posted = await post_legs(
        session, category="payment", booking_date=day, description=text[:500], legs=legs, provenance=provenance,
        external_reference=(numbers or _reference(transactions))[:200], custom_metadata=metadata,
        party_id=f"{party.id if party else ''}:{transactions[0].id}",
        acknowledge_soft_lock=request.acknowledge_soft_lock)
    now = utc_now()
    # Bank accounts and the items they settle are in the base currency (checked in _allocations), so an
    # item's base value cleared is the amount itself.
    session.add_all([Settlement(id=str(uuid4()), payment_intent_id=posted.intent_id, invoice_id=inv.id, amount=amount,
                                base_amount=amount, created_at=now) for inv, amount in allocations])
    await session.flush()
    return posted.intent_id, party.id if party else None


async def _allocations(session: AsyncSession, items: list[Allocation], currency: str
                       ) -> tuple[list[tuple[Invoice, int]], Party | None]:
    """The items' allocations (checked as settle_open_items checks them), in the bank account's currency."""
    if not items:
        return [], None
    allocations, _, party = await allocate(session, items)
    foreign = allocations[0][0]
    if foreign.currency != currency:
        raise ValidationFailed(f"Invoice {foreign.invoice_number} is in {foreign.currency}, the bank account in "
                               f"{currency}.", hint="Foreign-currency settlement is not supported yet.")
    return allocations, party


def _is_cost(adjustment: Adjustment, receivable: bool, open_difference: int, has_items: bool) -> bool:
    """open_difference: what the items still expect to flow in beyond the money moved; rounding closes it."""
    if adjustment.kind == "fee":
        return True
    if adjustment.kind == "skonto":
        if not has_items:
            raise ValidationFailed("A Skonto adjustment needs the items it discounts.",
                                   hint="List the invoices in items.")
        return receivable  # granted to a customer: a cost; taken from a vendor: a gain
    return open_difference >= 0


async def adjustment_legs(session: AsyncSession, adjustment: Adjustment, units: int, cost: bool, chart: str,
                          allocations: list[tuple[Invoice, int]]) -> list[Leg]:
    defaults = ADJUSTMENT_ACCOUNTS.get(chart, ADJUSTMENT_ACCOUNTS["skr03"])
    key = adjustment.kind if adjustment.kind != "skonto" else ("skonto_granted" if cost else "skonto_received")
    account = (adjustment.account or defaults[key][0 if cost else 1]).strip()
    await require_accounts(session, {account})
    shares = (await _skonto_shares(session, adjustment, units, cost, allocations) if adjustment.kind == "skonto"
              else [(None, units)])
    parts: list[tuple[str, int, str | None, str]] = []
    for tax, part in shares:
        if tax is not None and tax.vat_account:
            net, vat = split_gross(part, Decimal(tax.rate))
            parts += [(account, net, tax.code, "amount"), (tax.vat_account, vat, tax.code, "tax")]
        else:
            parts.append((account, part, None, "amount"))
    text = {"fee": "Bank fee", "skonto": "Skonto", "rounding": "Rounding difference"}[adjustment.kind]
    return [Leg(number, None, value, code, role, text) if cost else Leg(None, number, value, code, role, text)
            for number, value, code, role in parts if value]


async def _skonto_shares(session: AsyncSession, adjustment: Adjustment, units: int, granted: bool,
                         allocations: list[tuple[Invoice, int]]) -> list[tuple[TaxCode | None, int]]:
    """The discount split over the tax codes whose VAT it corrects: the one given, else the items' codes in
    proportion to their gross amounts (a Skonto reduces every rate's base alike)."""
    if adjustment.tax_code:
        return [(await _skonto_tax(session, adjustment.tax_code, granted), units)]
    gross: dict[str | None, int] = {}
    for code, net, tax in (await session.exec(select(InvoiceLine.tax_code, InvoiceLine.net_amount,
                                                     InvoiceLine.tax_amount).where(
            col(InvoiceLine.invoice_id).in_([inv.id for inv, _ in allocations])))).all():
        gross[code] = gross.get(code, 0) + net + tax
    total = sum(gross.values())
    if total <= 0:
        return [(None, units)]
    codes = sorted(gross, key=lambda c: (c is None, c or ""))
    shares = [units * gross[c] // total for c in codes]
    # Largest remainder: the cents lost to rounding go to the largest shares.
    order = sorted(range(len(codes)), key=lambda i: -(units * gross[codes[i]] % total))
    for i in order[:units - sum(shares)]:
        shares[i] += 1
    return [(await _skonto_tax(session, code, granted) if code else None, share)
            for code, share in zip(codes, shares, strict=True) if share]


async def _skonto_tax(session: AsyncSession, code: str, granted: bool) -> TaxCode | None:
    tax = await session.get(TaxCode, code)
    if tax is None:
        raise UnknownTaxCode(f"Tax code {code!r} does not exist.", hint="See list_tax_codes.")
    wanted = "output" if granted else "input"
    if tax.kind not in {wanted, "exempt"}:
        raise ValidationFailed(f"Tax code {code} is {tax.kind} VAT; a Skonto {'granted' if granted else 'received'} "
                               f"corrects {wanted} VAT.", hint="e.g. USt19 for Skonto granted, VSt19 for Skonto "
                                                               "received; a reverse-charge Skonto is booked by hand.")
    return tax if tax.kind != "exempt" else None


async def unmatch(session: AsyncSession, request: ReconcileRequest, provenance: Provenance) -> ReconcileResult:
    """Undo the live group of the transactions: reverse its intent if it posted one (Storno; its
    settlements end with it, so the items reopen) and mark the group unmatched."""
    if not (request.reason or "").strip():
        raise ValidationFailed("Unmatching needs a reason.", hint="Say why, e.g. 'matched to the wrong invoice'.")
    groups = (await session.exec(
        select(BankMatchGroup).join(BankMatch, col(BankMatch.match_group_id) == BankMatchGroup.id)
        .where(col(BankMatch.bank_transaction_id).in_(request.bank_transaction_ids), live_group()))).all()
    unique = {g.id: g for g in groups}
    if not unique:
        raise NotReconciled("These bank transactions are open: nothing to unmatch.",
                            hint="Check the status with list_bank_transactions.")
    if len(unique) > 1:
        raise ValidationFailed("The transactions belong to different match groups.",
                               hint="Unmatch one group at a time.", details={"match_group_ids": sorted(unique)})
    group = next(iter(unique.values()))
    if group.posted and group.intent_id:
        reversal = ReversalRequest(
            intent_id=group.intent_id, reason=f"Unmatch: {request.reason}"[:500],
            posting_mode="current_date" if request.posting_mode == "current_date" else "original_date",
            acknowledge_soft_lock=request.acknowledge_soft_lock,
            custom_metadata={"match_group_id": group.id, "unmatch": True})
        try:
            group.reversal_intent_id = (await reverse_intent(session, reversal, provenance)).intent_id
        except PeriodLocked as exc:
            if request.posting_mode == "current_date":
                raise
            raise PeriodLocked(exc.message, hint="Call again with posting_mode 'current_date': the Storno then "
                                                 "lands in the open period.", details=exc.details) from None
    group.unmatched_at = utc_now()
    group.unmatched_by = provenance.actor_display[:300]
    group.unmatch_reason = request.reason
    session.add(group)
    await session.flush()
    return await group_result(session, group)


async def group_result(session: AsyncSession, group: BankMatchGroup, *, replayed: bool = False) -> ReconcileResult:
    transactions = (await session.exec(
        select(BankTransaction).join(BankMatch, col(BankMatch.bank_transaction_id) == BankTransaction.id)
        .where(BankMatch.match_group_id == group.id).order_by(col(BankTransaction.booking_date),
                                                               col(BankTransaction.id)))).all()
    currency = transactions[0].currency if transactions else "EUR"
    items = []
    if group.intent_id:
        settled = Counter[str]()
        for settlement in (await session.exec(select(Settlement).where(
                Settlement.payment_intent_id == group.intent_id))).all():
            settled[settlement.invoice_id] += settlement.amount
        for invoice_id, amount in settled.items():
            state = await get_invoice(session, invoice_id)
            items.append(ReconciledItem(invoice_id=invoice_id, invoice_number=state.invoice_number,
                                        amount=format_amount(amount, currency),
                                        remaining_amount=state.remaining_amount, status=state.status))
    intent = await session.get(Intent, group.intent_id) if group.intent_id else None
    live = (await session.exec(select(BankMatchGroup.id).where(BankMatchGroup.id == group.id, live_group()))).first()
    status = "open" if live is None else ("dismissed" if group.mode == "dismissed" else "reconciled")
    return ReconcileResult(
        mode="unmatch" if group.unmatched_at else group.mode, match_group_id=group.id,
        bank_transaction_ids=[t.id for t in transactions], status=status,
        amount=signed(sum(t.amount for t in transactions), currency), intent_id=group.intent_id,
        posted=group.posted and not replayed and not group.unmatched_at,
        booking_date=intent.booking_date.isoformat() if intent else None,
        reversal_intent_id=group.reversal_intent_id, items=sorted(items, key=lambda i: i.invoice_number),
        replayed=replayed)
