"""Open items, aging and party balances.

An open item is an invoice or credit note that is not cancelled and has a remaining amount. Its
`open_amount` is signed: positive for invoices, negative for credit notes, so a party's items add
up to what it owes us (receivables) or we owe it (payables). The same figure is derived from the
journal by `party_balance`, which is how the subledger is reconciled with the open items.
Items keep their own currency; totals, aging and party balances are in the base currency, at the
base value each item is carried at (see invoices.carrying_base).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy import or_, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import parse_date, today
from ledger_mcp.ledger.invoices import Direction, carrying_base, state_query
from ledger_mcp.ledger.models import Intent, Invoice, JournalLine, Party, Settlement
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.parties import PartyInfo, get_party, search_parties
from ledger_mcp.ledger.portable import binary


def signed(units: int, currency: str) -> str:
    return format_amount(units, currency) if units >= 0 else "-" + format_amount(-units, currency)


class OpenItem(BaseModel):
    invoice_id: str
    intent_id: str
    kind: str = Field(description="payable or receivable")
    type: str = Field(description="invoice or credit_note")
    party_id: str
    party_name: str
    party_number: str
    invoice_number: str
    invoice_date: str
    due_date: str
    days_overdue: int = Field(description="Days past the due date on as_of; 0 or less is not yet due.")
    currency: str
    total_gross: str
    settled_amount: str
    remaining_amount: str
    open_amount: str = Field(description="remaining_amount, negative for credit notes.")
    exchange_rate: str | None = Field(description="Rate the item was booked at; null in the base currency.")
    remaining_amount_base: str = Field(description="The open rest as carried in the base currency.")
    open_amount_base: str = Field(description="remaining_amount_base, negative for credit notes.")
    status: str
    control_account: str


class OpenItemList(BaseModel):
    as_of: str
    currency: str = Field(description="The base currency the totals are in.")
    open_items: list[OpenItem]
    total_receivable: str = Field(description="Sum of the receivable items' open_amount_base.")
    total_payable: str = Field(description="Sum of the payable items' open_amount_base.")


@dataclass(frozen=True)
class _Open:
    invoice: Invoice
    party: Party
    settled: int
    status: str
    carrying: int  # the open rest in the base currency

    @property
    def remaining(self) -> int:
        return self.invoice.total_gross - self.settled

    @property
    def open_units(self) -> int:
        """The open rest in the base currency, negative for credit notes."""
        return -self.carrying if self.invoice.type == "credit_note" else self.carrying


async def _open(session: AsyncSession, day: date, historic: bool, kind: Direction | None = None,
                party_ids: list[str] | None = None, due_before: str | None = None,
                overdue_only: bool = False) -> list[_Open]:
    stmt = state_query(day if historic else None).where(col(Invoice.invoice_date) <= day)
    if kind:
        stmt = stmt.where(Invoice.direction == kind)
    if party_ids is not None:
        stmt = stmt.where(col(Invoice.party_id).in_(party_ids))
    if due_before:
        stmt = stmt.where(col(Invoice.due_date) < parse_date(due_before, field="due_before"))
    if overdue_only:
        stmt = stmt.where(col(Invoice.due_date) < day)
    stmt = stmt.order_by(col(Invoice.due_date), binary(Invoice.invoice_number), binary(Invoice.id))
    rows = [row for row in (await session.exec(stmt)).all()
            if row[3] != "cancelled" and row[0].total_gross != int(row[2])]
    carrying = await carrying_base(session, [row[0] for row in rows], day if historic else None)
    return [_Open(invoice, party, int(settled), status, carrying[invoice.id])
            for invoice, party, settled, status in rows]


async def open_item_state(session: AsyncSession, day: date | None) -> list[_Open]:
    """Every item open on `day` (None: now), with what it is carried at in the base currency then."""
    return await _open(session, day, True) if day else await _open(session, date.max, False)


async def open_items(session: AsyncSession, kind: Direction | None = None, party_id: str | None = None,
                     due_before: str | None = None, overdue_only: bool = False,
                     as_of: str | None = None) -> OpenItemList:
    """Open items as of a date (default today: the current state), oldest due date first."""
    day = parse_date(as_of, field="as_of") if as_of else today()
    currency = (await read_meta(session))["base_currency"]
    totals = {"receivable": 0, "payable": 0}
    items = []
    for o in await _open(session, day, as_of is not None, kind, [party_id] if party_id else None, due_before,
                         overdue_only):
        invoice, c = o.invoice, o.invoice.currency
        totals[invoice.direction] += o.open_units
        items.append(OpenItem(
            invoice_id=invoice.id, intent_id=invoice.intent_id, kind=invoice.direction, type=invoice.type,
            party_id=o.party.id, party_name=o.party.name, party_number=o.party.number,
            invoice_number=invoice.invoice_number, invoice_date=invoice.invoice_date.isoformat(),
            due_date=invoice.due_date.isoformat(), days_overdue=(day - invoice.due_date).days, currency=c,
            total_gross=format_amount(invoice.total_gross, c), settled_amount=format_amount(o.settled, c),
            remaining_amount=format_amount(o.remaining, c),
            open_amount=signed(-o.remaining if invoice.type == "credit_note" else o.remaining, c),
            exchange_rate=invoice.exchange_rate, remaining_amount_base=format_amount(o.carrying, currency),
            open_amount_base=signed(o.open_units, currency), status=o.status, control_account=invoice.control_account))
    return OpenItemList(as_of=day.isoformat(), currency=currency, open_items=items,
                        total_receivable=signed(totals["receivable"], currency),
                        total_payable=signed(totals["payable"], currency))


BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


class AgingRow(BaseModel):
    party_id: str | None = Field(description="null on the totals row")
    party_name: str
    party_number: str | None
    current: str = Field(description="Not yet due.")
    days_1_30: str
    days_31_60: str
    days_61_90: str
    days_over_90: str
    total: str


class AgingReport(BaseModel):
    kind: str
    as_of: str
    currency: str
    rows: list[AgingRow]
    totals: AgingRow


def bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "days_1_30"
    if days_overdue <= 60:
        return "days_31_60"
    return "days_61_90" if days_overdue <= 90 else "days_over_90"


async def aging(session: AsyncSession, kind: Direction, as_of: str | None = None) -> AgingReport:
    """Open amounts per party in buckets of days past due (current, 1-30, 31-60, 61-90, >90)."""
    day = parse_date(as_of, field="as_of") if as_of else today()
    currency = (await read_meta(session))["base_currency"]
    sums: dict[str, dict[str, int]] = {}
    parties: dict[str, Party] = {}
    for o in await _open(session, day, as_of is not None, kind):
        sums.setdefault(o.party.id, dict.fromkeys(BUCKETS, 0))[bucket((day - o.invoice.due_date).days)] += o.open_units
        parties[o.party.id] = o.party
    totals = dict.fromkeys(BUCKETS, 0)
    rows = []
    for party_id in sorted(sums, key=lambda p: (parties[p].name.casefold(), parties[p].number)):
        for name in BUCKETS:
            totals[name] += sums[party_id][name]
        party = parties[party_id]
        rows.append(_aging_row(party.id, party.name, party.number, sums[party_id], currency))
    return AgingReport(kind=kind, as_of=day.isoformat(), currency=currency, rows=rows,
                       totals=_aging_row(None, "Total", None, totals, currency))


def _aging_row(party_id: str | None, name: str, number: str | None, sums: dict[str, int], currency: str) -> AgingRow:
    return AgingRow(party_id=party_id, party_name=name, party_number=number, total=signed(sum(sums.values()), currency),
                    **{b: signed(sums[b], currency) for b in BUCKETS})


async def party_balance(session: AsyncSession, party_id: str) -> int:
    """The party's subledger balance from the journal, in minor units: what it owes us (customer) or we
    owe it (vendor), over its invoice intents, the payments linked to them and their reversals."""
    party = await session.get(Party, party_id)
    if party is None:
        return 0
    invoices = select(Invoice.intent_id.label("intent_id")).where(Invoice.party_id == party_id)  # type: ignore[attr-defined]
    payments = (select(Settlement.payment_intent_id.label("intent_id"))  # type: ignore[attr-defined]
                .join(Invoice, col(Invoice.id) == Settlement.invoice_id).where(Invoice.party_id == party_id))
    own = union(invoices, payments).subquery()
    reversals = select(Intent.id).where(col(Intent.reverses_intent_id).in_(select(own.c.intent_id)))
    controls = select(Invoice.control_account).where(Invoice.party_id == party_id).distinct()
    lines = select(JournalLine.debit_account, JournalLine.credit_account, JournalLine.base_amount).where(
        or_(col(JournalLine.intent_id).in_(select(own.c.intent_id)), col(JournalLine.intent_id).in_(reversals)),
        or_(col(JournalLine.debit_account).in_(controls), col(JournalLine.credit_account).in_(controls)))
    control_accounts = set((await session.exec(controls)).all())
    balance = 0
    for debit, credit, amount in (await session.exec(lines)).all():
        balance += amount * ((debit in control_accounts) - (credit in control_accounts))
    return balance if party.kind == "customer" else -balance


async def party_open_amounts(session: AsyncSession, party_ids: list[str]) -> dict[str, int]:
    """Signed open amount per party (invoices minus credit notes still open), today."""
    result = dict.fromkeys(party_ids, 0)
    for o in await _open(session, date.max, False, party_ids=party_ids):
        result[o.party.id] += o.open_units
    return result


async def find_parties(session: AsyncSession, kind: str | None = None, search: str = "", party_id: str | None = None,
                       is_active: bool | None = True, limit: int = 50, offset: int = 0) -> list[PartyInfo]:
    """Parties with their open amount; one party by id (whatever its state) when party_id is given."""
    found = ([await get_party(session, party_id, kind)] if party_id
             else await search_parties(session, kind, search, is_active, limit, offset))
    amounts = await party_open_amounts(session, [p.id for p in found])
    return [PartyInfo.of(p, signed(amounts[p.id], (await read_meta(session))["base_currency"])) for p in found]
