"""Incoming (payable) and outgoing (receivable) invoices and credit notes.

Creating an invoice posts its intent: the expense or revenue lines at their net amounts, the VAT
per tax code, and the payable or receivable leg for the gross amount on the control account,
appended by the server. VAT per rate is computed on the sum of the rate's net amounts, as German
invoices state it; a stated VAT amount is accepted within one minor unit per line of rounding.
A credit note posts the same legs the other way round. Cancelling an invoice reverses its intent.

Status and remaining amount are derived, never stored: cancelled when the intent is reversed,
otherwise from the live settlements (those whose payment intent is not reversed).

An invoice in a foreign currency is stated, settled and listed in that currency; it is booked at
the rate given or the rate table's rate for the invoice date (every line, VAT included, converted
at that one rate, § 16 (6) UStG). Its base value (`total_gross_base`, what the control account
holds) goes down with each settlement's share and moves with live period-end revaluations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exists, func
from sqlalchemy.orm import aliased
from sqlmodel import case, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import fx
from ledger_mcp.ledger.accounts import read_meta, require_accounts
from ledger_mcp.ledger.clock import parse_date, utc_now
from ledger_mcp.ledger.errors import (
    DuplicateInvoice,
    IntentNotFound,
    InvoiceNotFound,
    TotalsMismatch,
    UnknownTaxCode,
    ValidationFailed,
)
from ledger_mcp.ledger.models import (
    Account,
    Intent,
    Invoice,
    InvoiceLine,
    JournalLine,
    Party,
    RevaluationItem,
    Settlement,
    TaxCode,
)
from ledger_mcp.ledger.money import format_amount, parse_amount, tax_on_net
from ledger_mcp.ledger.parties import DEFAULT_PAYMENT_TERMS_DAYS, get_party
from ledger_mcp.ledger.portable import binary
from ledger_mcp.ledger.posting import ACK_DESCRIPTION, Leg, post_legs, replayed_intent, reversed_by
from ledger_mcp.ledger.provenance import Provenance

Direction = Literal["payable", "receivable"]
InvoiceType = Literal["invoice", "credit_note"]
Status = Literal["open", "partially_paid", "paid", "cancelled"]

PARTY_KIND = {"payable": "vendor", "receivable": "customer"}
CONTROL_CATEGORY = {"payable": "payables", "receivable": "receivables"}
# Tax code kinds that belong on each side: input VAT (and self-assessed reverse charge) on
# purchases, output VAT on sales; exempt on both.
TAX_KINDS = {"payable": {"input", "reverse_charge", "exempt"}, "receivable": {"output", "exempt"}}
MAX_INVOICE_LINES = 200


class InvoiceLineInput(BaseModel):
    """One invoice line as stated on the invoice."""

    model_config = ConfigDict(frozen=True)
    net_amount: str = Field(description="Net amount of the line, positive decimal string (also on credit notes).")
    tax_code: str | None = Field(default=None, description="e.g. VSt19/VSt7/RC19 on payables, USt19/USt7 on "
                                                           "receivables, EXEMPT; omit for no VAT.")
    account: str | None = Field(default=None, description="Expense/asset (payable) or revenue (receivable) "
                                                          "account; defaults to the party's default_account.")
    tax_amount: str | None = Field(default=None, description="VAT of the line as printed; omit to compute it.")
    description: str | None = Field(default=None, max_length=500)


class InvoiceRequest(BaseModel):
    """An invoice to record (and post, unless intent_id links one already posted)."""

    model_config = ConfigDict(frozen=True)
    direction: Direction = Field(description="payable: a vendor's invoice to us; receivable: ours to a customer.")
    party_id: str = Field(description="Vendor (payable) or customer (receivable) id.")
    invoice_number: str = Field(min_length=1, max_length=200)
    invoice_date: str = Field(description="YYYY-MM-DD")
    total_gross: str = Field(description="Gross total as stated on the invoice.")
    lines: list[InvoiceLineInput] = Field(default_factory=list, max_length=MAX_INVOICE_LINES)
    type: InvoiceType = "invoice"
    due_date: str | None = Field(default=None, description="YYYY-MM-DD; default: invoice date plus the party's "
                                                           "payment terms.")
    total_net: str | None = Field(default=None, description="Checked against the lines when given.")
    total_tax: str | None = Field(default=None, description="Checked against the lines when given.")
    currency: str | None = Field(default=None, description="ISO 4217 currency of the invoice; default: the "
                                                          "ledger's base currency.")
    exchange_rate: str | None = Field(default=None, description="Foreign-currency invoices: units of the currency "
                                                               "per 1 EUR, e.g. '1.0856'; default: the rate "
                                                               "table's rate for the invoice date.")
    booking_date: str | None = Field(default=None, description="YYYY-MM-DD; default: the invoice date.")
    intent_id: str | None = Field(default=None, description="Link an intent already posted instead of posting.")
    document_id: str | None = Field(default=None, max_length=64)
    notes: str | None = Field(default=None, max_length=2000)
    idempotency_key: str | None = Field(default=None, max_length=200)
    custom_metadata: dict[str, Any] | None = Field(default=None, description="Kept on the intent, hashed.")
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)


class InvoiceLineInfo(BaseModel):
    line_index: int
    description: str
    account: str
    tax_code: str | None
    net_amount: str
    tax_amount: str


class SettlementInfo(BaseModel):
    payment_intent_id: str
    booking_date: str
    amount: str
    base_amount: str = Field(description="Base value of the item this payment cleared.")
    live: bool = Field(description="False once the payment intent has been reversed.")


class InvoiceInfo(BaseModel):
    id: str
    direction: str
    type: str
    party_id: str
    party_name: str
    party_number: str
    invoice_number: str
    invoice_date: str
    due_date: str
    currency: str
    total_net: str
    total_tax: str
    total_gross: str
    settled_amount: str
    remaining_amount: str
    base_currency: str
    exchange_rate: str | None = Field(description="Rate the invoice was booked at; null in the base currency.")
    total_gross_base: str = Field(description="Gross total in the base currency, as booked.")
    remaining_amount_base: str = Field(description="What the open rest is carried at in the base currency.")
    status: str = Field(description="open, partially_paid, paid or cancelled")
    control_account: str
    intent_id: str
    document_id: str | None
    notes: str | None
    created_at: str
    created_by: str
    updated_at: str
    lines: list[InvoiceLineInfo] | None = Field(default=None, description="Filled for a single invoice.")
    settlements: list[SettlementInfo] | None = Field(default=None, description="Filled for a single invoice.")
    replayed: bool = False


# --- derived state -------------------------------------------------------------------------------


def live_settled(as_of: date | None = None) -> Any:
    """Correlated sum of an invoice's live settlements (payment booked, and not reversed, by as_of)."""
    payment = aliased(Intent)
    reversal = aliased(Intent)
    reversed_ = select(reversal.id).where(col(reversal.reverses_intent_id) == payment.id)
    stmt = (select(func.coalesce(func.sum(Settlement.amount), 0))
            .join(payment, col(payment.id) == Settlement.payment_intent_id)
            .where(Settlement.invoice_id == Invoice.id))
    if as_of:
        reversed_ = reversed_.where(col(reversal.booking_date) <= as_of)
        stmt = stmt.where(col(payment.booking_date) <= as_of)
    return stmt.where(~exists(reversed_)).correlate(Invoice).scalar_subquery()


def is_cancelled(as_of: date | None = None) -> Any:
    reversal = aliased(Intent)
    stmt = select(reversal.id).where(col(reversal.reverses_intent_id) == Invoice.intent_id)
    if as_of:
        stmt = stmt.where(col(reversal.booking_date) <= as_of)
    return exists(stmt.correlate(Invoice))


def state_query(as_of: date | None = None) -> Any:
    """Invoices with their party, live settled amount and status (as of a date if given)."""
    settled = live_settled(as_of).label("settled")
    remaining = Invoice.total_gross - settled
    status = case((is_cancelled(as_of), "cancelled"), (remaining == 0, "paid"),
                  (remaining < Invoice.total_gross, "partially_paid"), else_="open").label("status")
    return select(Invoice, Party, settled, status).join(Party, col(Party.id) == Invoice.party_id)


def info(invoice: Invoice, party: Party, settled: int, status: str, base: str, carrying: int) -> InvoiceInfo:
    c = invoice.currency
    return InvoiceInfo(
        base_currency=base, exchange_rate=invoice.exchange_rate,
        total_gross_base=format_amount(invoice.total_gross_base, base),
        remaining_amount_base=format_amount(0 if status == "cancelled" else carrying, base),
        id=invoice.id, direction=invoice.direction, type=invoice.type, party_id=party.id, party_name=party.name,
        party_number=party.number, invoice_number=invoice.invoice_number, invoice_date=invoice.invoice_date.isoformat(),
        due_date=invoice.due_date.isoformat(), currency=c, total_net=format_amount(invoice.total_net, c),
        total_tax=format_amount(invoice.total_tax, c), total_gross=format_amount(invoice.total_gross, c),
        settled_amount=format_amount(int(settled), c),
        remaining_amount=format_amount(0 if status == "cancelled" else invoice.total_gross - int(settled), c),
        status=status, control_account=invoice.control_account, intent_id=invoice.intent_id,
        document_id=invoice.document_id, notes=invoice.notes, created_at=invoice.created_at,
        created_by=invoice.created_by, updated_at=invoice.updated_at)


async def carrying_base(session: AsyncSession, invoices: list[Invoice], as_of: date | None = None) -> dict[str, int]:
    """Each invoice's open rest in the base currency: its base gross, less the base value its live
    settlements cleared, plus its live revaluations (as of a date if given)."""
    result = {i.id: i.total_gross_base for i in invoices}
    if not result:
        return result
    parts: list[tuple[Any, Any, Any, int]] = [
        (Settlement.invoice_id, Settlement.payment_intent_id, Settlement.base_amount, -1),
        (RevaluationItem.invoice_id, RevaluationItem.intent_id, RevaluationItem.base_delta, 1)]
    for invoice_id, intent_id, amount, sign in parts:
        booked, reversal = aliased(Intent), aliased(Intent)
        reversed_ = select(reversal.id).where(col(reversal.reverses_intent_id) == booked.id)
        stmt = (select(invoice_id, func.sum(amount)).join(booked, col(booked.id) == intent_id)
                .where(col(invoice_id).in_(list(result))))
        if as_of:
            reversed_ = reversed_.where(col(reversal.booking_date) <= as_of)
            stmt = stmt.where(col(booked.booking_date) <= as_of)
        for key, total in (await session.exec(stmt.where(~exists(reversed_)).group_by(invoice_id))).all():
            result[key] += sign * int(total or 0)
    return result


def asset_like(invoice: Invoice) -> bool:
    """Receivable invoices and payable credit notes sit on the debit side of their control account."""
    return (invoice.direction == "receivable") != (invoice.type == "credit_note")


async def infos(session: AsyncSession, rows: list[Any]) -> list[InvoiceInfo]:
    """InvoiceInfo for state_query rows."""
    base = (await read_meta(session))["base_currency"]
    carrying = await carrying_base(session, [row[0] for row in rows])
    return [info(invoice, party, settled, status, base, carrying[invoice.id])
            for invoice, party, settled, status in rows]


# --- operations ----------------------------------------------------------------------------------


async def create_invoice(session: AsyncSession, request: InvoiceRequest, provenance: Provenance) -> InvoiceInfo:
    meta = await read_meta(session)
    currency = fx.checked_currency(request.currency, meta["base_currency"])
    replay = await replayed_intent(session, request.idempotency_key, request)
    if replay:
        invoice = (await session.exec(select(Invoice).where(Invoice.intent_id == replay.id))).one()
        return (await get_invoice(session, invoice.id)).model_copy(update={"replayed": True})
    party = await get_party(session, request.party_id, PARTY_KIND[request.direction])
    if not party.is_active:
        raise ValidationFailed(f"{party.kind.capitalize()} {party.name} is deactivated.",
                               hint="Reactivate it with save_party is_active=true, or pick the active party.")
    invoice_date = parse_date(request.invoice_date, field="invoice_date")
    terms = party.payment_terms_days if party.payment_terms_days is not None else DEFAULT_PAYMENT_TERMS_DAYS
    due_date = (parse_date(request.due_date, field="due_date") if request.due_date
                else invoice_date + timedelta(days=terms))
    if due_date < invoice_date:
        raise ValidationFailed(f"due_date {due_date} is before invoice_date {invoice_date}.",
                               hint="Check both dates; the due date is on or after the invoice date.")
    number = request.invoice_number.strip()
    await _refuse_duplicate_number(session, party, number)
    control = await control_account(session, request.direction)
    gross = parse_amount(request.total_gross, currency, field="total_gross")
    lines, tax_codes = await _lines(session, request, party, currency)
    total_net, total_tax = sum(li.net_amount for li in lines), sum(li.tax_amount for li in lines)
    if request.lines:
        _check_totals(request, currency, total_net, total_tax, gross)
    elif request.intent_id is None:
        raise ValidationFailed("An invoice to post needs lines.",
                               hint="Pass lines with net_amount, tax_code and account, or intent_id to link an "
                                    "intent already posted.")
    invoice_id = str(uuid4())
    if request.intent_id:
        intent_id = await _check_linked_intent(session, request, control, gross)
        if not request.lines:
            total_net, total_tax = gross, 0
    else:
        rate = await fx.rate_for(session, currency, invoice_date, request.exchange_rate)
        legs = _legs(request.direction, request.type, lines, tax_codes, control, gross)
        kind = "Vendor invoice" if request.direction == "payable" else "Invoice"
        if request.type == "credit_note":
            kind = "Vendor credit note" if request.direction == "payable" else "Credit note"
        posted = await post_legs(
            session, category=request.type, booking_date=request.booking_date or request.invoice_date,
            description=f"{kind} {number} {party.name}", legs=legs, provenance=provenance,
            external_reference=number, idempotency_key=request.idempotency_key, request=request,
            document_id=request.document_id, party_id=party.id, acknowledge_soft_lock=request.acknowledge_soft_lock,
            custom_metadata={**(request.custom_metadata or {}), "invoice_id": invoice_id, "party_id": party.id,
                             "party_number": party.number, "direction": request.direction,
                             "due_date": due_date.isoformat()}, rate=rate)
        intent_id = posted.intent_id
    gross_base, rate_used = await control_base(session, intent_id, control)
    now = utc_now()
    invoice = Invoice(
        id=invoice_id, direction=request.direction, type=request.type, party_id=party.id, invoice_number=number,
        number_key=number.casefold(), invoice_date=invoice_date, due_date=due_date, currency=currency,
        total_net=total_net, total_tax=total_tax, total_gross=gross, total_gross_base=gross_base,
        exchange_rate=rate_used, control_account=control, intent_id=intent_id,
        document_id=request.document_id, notes=request.notes, created_at=now,
        created_by=provenance.actor_display, updated_at=now)
    session.add(invoice)
    session.add_all([InvoiceLine(invoice_id=invoice_id, **asdict(li)) for li in lines])
    await session.flush()
    return await get_invoice(session, invoice_id)


async def get_invoice(session: AsyncSession, invoice_id: str) -> InvoiceInfo:
    row = (await session.exec(state_query().where(Invoice.id == invoice_id))).first()
    if row is None:
        raise InvoiceNotFound(f"No invoice with id {invoice_id!r}.",
                              hint="Find it with list_invoices or list_open_items.")
    (result,) = await infos(session, [row])
    stored = (await session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                                 .order_by(col(InvoiceLine.line_index)))).all()
    result.lines = [InvoiceLineInfo(line_index=li.line_index, description=li.description, account=li.account,
                                    tax_code=li.tax_code, net_amount=format_amount(li.net_amount, result.currency),
                                    tax_amount=format_amount(li.tax_amount, result.currency)) for li in stored]
    payments = (await session.exec(
        select(Settlement, Intent).join(Intent, col(Intent.id) == Settlement.payment_intent_id)
        .where(Settlement.invoice_id == invoice_id).order_by(col(Intent.booking_date), col(Intent.created_at))
    )).all()
    result.settlements = [SettlementInfo(payment_intent_id=s.payment_intent_id,
                                         booking_date=p.booking_date.isoformat(),
                                         amount=format_amount(s.amount, result.currency),
                                         base_amount=format_amount(s.base_amount, result.base_currency),
                                         live=await reversed_by(session, p.id) is None) for s, p in payments]
    return result


class InvoiceFilter(BaseModel):
    model_config = ConfigDict(frozen=True)
    direction: Direction | None = None
    party_id: str | None = None
    status: Status | None = None
    type: InvoiceType | None = None
    start_date: str | None = Field(default=None, description="invoice_date from, YYYY-MM-DD")
    end_date: str | None = Field(default=None, description="invoice_date to, YYYY-MM-DD")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


async def list_invoices(session: AsyncSession, where: InvoiceFilter) -> list[InvoiceInfo]:
    """Newest invoice date first."""
    stmt = state_query()
    if where.direction:
        stmt = stmt.where(Invoice.direction == where.direction)
    if where.party_id:
        stmt = stmt.where(Invoice.party_id == where.party_id)
    if where.type:
        stmt = stmt.where(Invoice.type == where.type)
    if where.start_date:
        stmt = stmt.where(col(Invoice.invoice_date) >= parse_date(where.start_date, field="start_date"))
    if where.end_date:
        stmt = stmt.where(col(Invoice.invoice_date) <= parse_date(where.end_date, field="end_date"))
    rows = (await session.exec(stmt.order_by(col(Invoice.invoice_date).desc(), col(Invoice.created_at).desc()))).all()
    found = await infos(session, list(rows))
    if where.status:  # derived in SQL, filtered here so the status expression is written once
        found = [i for i in found if i.status == where.status]
    return found[where.offset:where.offset + where.limit]


async def update_invoice(session: AsyncSession, invoice_id: str, due_date: str | None,
                         notes: str | None) -> InvoiceInfo:
    """Only what the chain does not cover: due date and notes. Amounts change by cancel and re-issue."""
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        raise InvoiceNotFound(f"No invoice with id {invoice_id!r}.", hint="Find it with list_invoices.")
    if due_date is not None:
        new_due = parse_date(due_date, field="due_date")
        if new_due < invoice.invoice_date:
            raise ValidationFailed(f"due_date {new_due} is before the invoice date {invoice.invoice_date}.",
                                   hint="The due date is on or after the invoice date.")
        invoice.due_date = new_due
    if notes is not None:
        invoice.notes = notes.strip() or None
    invoice.updated_at = utc_now()
    session.add(invoice)
    await session.flush()
    return await get_invoice(session, invoice_id)


# --- helpers -------------------------------------------------------------------------------------


@dataclass
class _Line:
    """An invoice line resolved to minor units; tax_amount -1 until computed."""

    line_index: int
    description: str
    account: str
    tax_code: str | None
    net_amount: int
    tax_amount: int


async def control_movement(session: AsyncSession, intent_id: str, control: str, *, base: bool = False) -> int:
    """What an intent credited minus what it debited on a control account, in minor units (of the base
    currency with `base`)."""
    lines = (await session.exec(select(JournalLine).where(JournalLine.intent_id == intent_id))).all()
    return sum((li.base_amount if base else li.amount)
               * ((li.credit_account == control) - (li.debit_account == control)) for li in lines)


async def control_base(session: AsyncSession, intent_id: str, control: str) -> tuple[int, str | None]:
    """What an invoice intent put on its control account in the base currency, and the rate it used."""
    lines = (await session.exec(select(JournalLine).where(JournalLine.intent_id == intent_id))).all()
    on_control = [li for li in lines if control in (li.debit_account, li.credit_account)]
    moved = sum(li.base_amount * ((li.credit_account == control) - (li.debit_account == control)) for li in on_control)
    return abs(moved), next((li.exchange_rate for li in on_control if li.exchange_rate), None)


async def control_account(session: AsyncSession, direction: str) -> str:
    category = CONTROL_CATEGORY[direction]
    number = (await session.exec(select(Account.number).where(Account.category == category, col(Account.is_active))
                                 .order_by(binary(Account.number)))).first()
    if number is None:
        raise ValidationFailed(f"The chart has no active {category} account.",
                               hint=f"Create one with create_account, category '{category}'.")
    return number


async def _refuse_duplicate_number(session: AsyncSession, party: Party, number: str) -> None:
    existing = (await session.exec(
        select(col(Invoice.id), col(Invoice.invoice_date))
        .where(Invoice.party_id == party.id, Invoice.number_key == number.casefold(), ~is_cancelled()))).first()
    if existing:
        raise DuplicateInvoice(
            f"{party.name} already has invoice number {number!r} (invoice {existing[0]}, dated {existing[1]}).",
            hint="This invoice is probably booked already. If the earlier one was wrong, cancel it "
                 "(reverse_intent on its intent) and record this one again.",
            details={"existing_invoice_id": existing[0]})


async def _lines(session: AsyncSession, request: InvoiceRequest, party: Party,
                 currency: str) -> tuple[list[_Line], dict[str, TaxCode]]:
    """The lines in minor units with their VAT, and the tax codes they use."""
    codes = {li.tax_code.strip() for li in request.lines if li.tax_code and li.tax_code.strip()}
    tax_codes = {t.code: t for t in (await session.exec(select(TaxCode).where(col(TaxCode.code).in_(codes)))).all()}
    allowed = TAX_KINDS[request.direction]
    for code in codes:
        tax = tax_codes.get(code)
        if tax is None or not tax.is_active or tax.kind not in allowed:
            usable = (await session.exec(select(TaxCode.code).where(col(TaxCode.is_active),
                                                                    col(TaxCode.kind).in_(allowed)))).all()
            why = (f"is not usable on a {request.direction}" if tax and tax.is_active
                   else "does not exist or is inactive")
            raise UnknownTaxCode(f"Tax code {code!r} {why}.",
                                 hint=f"Use one of: {', '.join(sorted(usable))} for {request.direction}s.")
    resolved: list[_Line] = []
    for i, li in enumerate(request.lines, start=1):
        account = (li.account or "").strip() or party.default_account or ""
        if not account:
            raise ValidationFailed(f"lines[{i}] names no account and {party.name} has no default_account.",
                                   hint="Give the line an account, or set the party's default_account.")
        line_code = (li.tax_code or "").strip() or None
        net = parse_amount(li.net_amount, currency, field=f"lines[{i}].net_amount")
        stated = parse_amount(li.tax_amount, currency, field=f"lines[{i}].tax_amount",
                              allow_zero=True) if li.tax_amount else None
        tax = tax_codes[line_code] if line_code else None
        charged = tax is not None and tax.kind in ("input", "output")
        if not charged and stated:
            raise TotalsMismatch(f"lines[{i}] states VAT {li.tax_amount} but tax code {line_code or 'none'} "
                                 "charges none.",
                                 hint="Give the line the tax code of its VAT rate (reverse charge invoices show no "
                                      "VAT), or drop tax_amount.")
        resolved.append(_Line(i, (li.description or "").strip() or f"Line {i}", account, line_code, net,
                              stated if stated is not None else -1))
    await require_accounts(session, {li.account for li in resolved})
    _fill_tax(resolved, tax_codes, currency)
    return resolved, tax_codes


def _fill_tax(lines: list[_Line], tax_codes: dict[str, TaxCode], currency: str) -> None:
    """VAT per tax code on the sum of its nets; lines without a stated VAT share the rest."""
    groups: dict[str, list[_Line]] = defaultdict(list)
    for li in lines:
        tax = tax_codes.get(li.tax_code or "")
        if tax is None or tax.kind not in ("input", "output"):
            li.tax_amount = 0
            continue
        groups[tax.code].append(li)
    for code, members in groups.items():
        rate = Decimal(tax_codes[code].rate)
        expected = tax_on_net(sum(li.net_amount for li in members), rate)
        open_ = [li for li in members if li.tax_amount < 0]
        stated = sum(li.tax_amount for li in members if li.tax_amount >= 0)
        if open_:  # per-line VAT for lines without one; the rounding rest goes to the largest line
            for li in open_:
                li.tax_amount = tax_on_net(li.net_amount, rate)
            rest = expected - stated - sum(li.tax_amount for li in open_)
            max(open_, key=lambda li: li.net_amount).tax_amount += rest
        total = sum(li.tax_amount for li in members)
        if abs(total - expected) > len(members):
            raise TotalsMismatch(
                f"VAT for {code} is {format_amount(total, currency)} but {rate} % of the net "
                f"{format_amount(sum(li.net_amount for li in members), currency)} is "
                f"{format_amount(expected, currency)}.",
                hint="Check the lines' tax_amount and tax_code; a difference of more than one cent per line is "
                     "not rounding.", details={"tax_code": code, "stated": format_amount(total, currency),
                                               "computed": format_amount(expected, currency)})


def _check_totals(request: InvoiceRequest, currency: str, net: int, tax: int, gross: int) -> None:
    stated = {"total_net": (request.total_net, net), "total_tax": (request.total_tax, tax)}
    for field, (text, computed) in stated.items():
        if text is not None:
            value = parse_amount(text, currency, field=field, allow_zero=field == "total_tax")
            if value != computed:
                raise TotalsMismatch(f"{field} {text} does not match the lines: they add up to "
                                     f"{format_amount(computed, currency)}.",
                                     hint="Correct the lines or the total so they agree.",
                                     details={"field": field, "stated": text,
                                              "computed": format_amount(computed, currency)})
    if net + tax != gross:
        raise TotalsMismatch(
            f"total_gross {request.total_gross} is not net {format_amount(net, currency)} plus VAT "
            f"{format_amount(tax, currency)} = {format_amount(net + tax, currency)}.",
            hint="Check the gross total and the lines' net amounts and tax codes.",
            details={"field": "total_gross", "stated": request.total_gross,
                     "computed": format_amount(net + tax, currency)})


def _legs(direction: str, type_: str, lines: list[_Line], tax_codes: dict[str, TaxCode], control: str,
          gross: int) -> list[Leg]:
    """Payable: expense and input VAT debited, the vendor's payable credited; receivable the mirror.
    Credit notes swap every leg."""
    codes = {li.tax_code for li in lines if li.tax_code}
    legs: list[Leg] = []
    for li in lines:
        legs.append(_oriented(direction, li.account, control, li.net_amount, li.tax_code, "amount", li.description))
    for code in sorted(codes):
        tax = tax_codes[code]
        members = [li for li in lines if li.tax_code == code]
        if tax.kind in ("input", "output"):
            amount = sum(li.tax_amount for li in members)
            if amount:
                assert tax.vat_account
                legs.append(_oriented(direction, tax.vat_account, control, amount, code, "tax", tax.label))
        elif tax.kind == "reverse_charge":
            assert tax.vat_account and tax.self_assess_account
            amount = tax_on_net(sum(li.net_amount for li in members), Decimal(tax.rate))
            if amount:
                legs.append(Leg(tax.vat_account, tax.self_assess_account, amount, code, "self_assessment",
                                f"{tax.label} (self-assessed)"))
    assert sum(leg.amount for leg in legs if control in (leg.debit, leg.credit)) == gross
    if type_ == "credit_note":
        legs = [Leg(leg.credit, leg.debit, leg.amount, leg.tax_code, leg.role, leg.description) for leg in legs]
    return legs


def _oriented(direction: str, account: str, control: str, amount: int, tax_code: str | None, role: str,
              description: str) -> Leg:
    debit, credit = (account, control) if direction == "payable" else (control, account)
    return Leg(debit, credit, amount, tax_code, role, description)


async def _check_linked_intent(session: AsyncSession, request: InvoiceRequest, control: str, gross: int) -> str:
    """An intent posted elsewhere may become this invoice if it moves the gross amount on the control account."""
    assert request.intent_id
    intent = await session.get(Intent, request.intent_id)
    if intent is None or intent.category == "reversal":
        raise IntentNotFound(f"Intent {request.intent_id!r} does not exist or is a reversal.",
                             hint="Pass the intent that posted the invoice, or omit intent_id to post it.")
    if await reversed_by(session, intent.id):
        raise ValidationFailed(f"Intent {intent.id} is reversed.", hint="Link an intent that stands.")
    linked = (await session.exec(select(Invoice.id).where(Invoice.intent_id == intent.id))).first()
    if linked:
        raise DuplicateInvoice(f"Intent {intent.id} already belongs to invoice {linked}.",
                               hint="Each intent is one invoice.", details={"existing_invoice_id": linked})
    owed = await control_movement(session, intent.id, control)
    if request.direction == "receivable":
        owed = -owed
    if request.type == "credit_note":
        owed = -owed
    if owed != gross:
        raise TotalsMismatch(
            f"Intent {intent.id} moves {format_amount(owed, intent.currency)} on {control}, the invoice's gross is "
            f"{format_amount(gross, intent.currency)}.",
            hint=f"Link the intent that books the invoice's gross amount on {control}, or post the invoice from "
                 "its lines.", details={"control_account": control})
    return intent.id
