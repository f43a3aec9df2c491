"""Posting intents: bookings, opening balances and reversals (Storno).

A booking line names a debit account, a credit account, or both, and a positive gross amount.
A line with a tax code is split into net and tax postings on the code's VAT accounts (gross in,
like DATEV's BU key; reverse charge books the net and self-assesses the tax). One-sided lines are
paired into two-sided journal lines, so every stored line moves one amount from a credit account
to a debit account and every intent balances by construction.

A booking in a foreign currency keeps each line's amount in that currency and converts it to the
base currency at the booking's rate, half up, once per line; since each line carries one base
amount on both sides, the intent balances in the base currency as it does in every currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from operator import attrgetter
from types import SimpleNamespace
from typing import Any, Literal, cast
from uuid import uuid4
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, bindparam, case, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.orm import Session, aliased
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, events, fx, periods, records
from ledger_mcp.ledger.accounts import database_key, read_meta, require_accounts
from ledger_mcp.ledger.clock import parse_date, today, utc_now
from ledger_mcp.ledger.errors import (
    AlreadyReversed,
    ControlAccountRefused,
    DocumentNotFound,
    DuplicateSuspected,
    IdempotencyConflict,
    IntentNotFound,
    LedgerCapacityReached,
    LedgerError,
    SettledItem,
    Unbalanced,
    UnknownTaxCode,
    ValidationFailed,
)
from ledger_mcp.ledger.models import (
    Account,
    Document,
    Intent,
    Invoice,
    JournalLine,
    RecordEvent,
    RevaluationItem,
    Settlement,
    TaxCode,
)
from ledger_mcp.ledger.money import (
    MAX_JOURNAL_LINES,
    check_bound,
    format_amount,
    parse_amount,
    split_gross,
    tax_on_net,
    to_base,
)
from ledger_mcp.ledger.portable import binary
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.statements import Query, RowInsert, insert

MAX_LINES = 500
# Accounts in these categories carry the open-item subledgers (SKR03 1400/1600, SKR04 1200/3300, and any
# account created in them): only invoices and settlements post there.
CONTROL_CATEGORIES = frozenset({"receivables", "payables"})
OPENING_BALANCE_CATEGORY = "opening_balance"
ACK_DESCRIPTION = "Book into a soft-locked month anyway (recorded)."
# Not part of what is booked: a replay with or without the acknowledgement is the same request.
_UNHASHED_REQUEST_FIELDS = {"acknowledge_soft_lock"}
# Request fields added later: left out of the hash while at their default, so older idempotency keys
# still replay.
_HASHED_WHEN_SET = ("adjustment_period", "control_account_reason", "exchange_rate")
EXCHANGE_RATE_DESCRIPTION = ("Foreign currency: units per 1 EUR (ECB quotation), e.g. '1.0856' for USD; default: the "
                             "rate table's rate for the date, else the booking is refused.")


class BookingLine(BaseModel):
    """One line of a booking request."""

    model_config = ConfigDict(frozen=True)
    debit_account: str | None = Field(default=None, description="Account debited, e.g. '4930'.")
    credit_account: str | None = Field(default=None, description="Account credited, e.g. '1600'.")
    amount: str = Field(description="Positive decimal string, e.g. '119.00'. With a tax_code: the GROSS "
                                    "amount (reverse charge: the net amount).")
    tax_code: str | None = Field(default=None, description="e.g. VSt19, VSt7, USt19, USt7, RC19, EU19, "
                                                           "EXEMPT; see ledger://tax-codes.")
    description: str | None = Field(default=None, max_length=500)


class BookingRequest(BaseModel):
    """A booking: one business event with one or more lines."""

    model_config = ConfigDict(frozen=True)
    booking_date: str = Field(description="YYYY-MM-DD")
    description: str = Field(min_length=1, max_length=500)
    lines: list[BookingLine] = Field(min_length=1, max_length=MAX_LINES)
    currency: str | None = Field(default=None, description="ISO 4217; defaults to the ledger's base currency.")
    exchange_rate: str | None = Field(default=None, description=EXCHANGE_RATE_DESCRIPTION)
    external_reference: str | None = Field(default=None, max_length=200,
                                           description="Invoice or document number (DATEV Belegfeld 1).")
    idempotency_key: str | None = Field(default=None, max_length=200)
    document_id: str | None = Field(default=None, max_length=64)
    custom_metadata: dict[str, Any] | None = None
    skip_duplicate_check: bool = False
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)
    adjustment_period: bool = False
    control_account_reason: str | None = Field(default=None, max_length=500)


class OpeningBalance(BaseModel):
    """The opening balance of one account: a positive amount on its debit or credit side."""

    model_config = ConfigDict(frozen=True)
    account: str = Field(description="Balance sheet account, e.g. '1200'.")
    amount: str = Field(description="Positive decimal string.")
    side: Literal["debit", "credit"] = Field(description="debit for assets, credit for liabilities/equity.")


class OpeningBalancesRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    booking_date: str = Field(description="YYYY-MM-DD, usually the first day of the fiscal year.")
    balances: list[OpeningBalance] = Field(min_length=1, max_length=MAX_LINES)
    description: str = Field(default="Eröffnungsbilanz / opening balances", max_length=500)
    idempotency_key: str | None = Field(default=None, max_length=200)
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)


class ReversalRequest(BaseModel):
    model_config = ConfigDict(frozen=True)
    intent_id: str
    reason: str = Field(min_length=1, max_length=500)
    posting_mode: Literal["original_date", "current_date"] = "original_date"
    acknowledge_soft_lock: bool = Field(default=False, description=ACK_DESCRIPTION)
    custom_metadata: dict[str, Any] | None = None


class PostedLine(BaseModel):
    journal_number: int
    debit_account: str
    credit_account: str
    amount: str = Field(description="In the line's currency.")
    currency: str
    base_amount: str = Field(description="In the ledger's base currency.")
    exchange_rate: str | None = Field(description="Units of currency per base unit; null for base-currency lines.")
    tax_code: str | None
    line_role: str
    description: str


class PostingResult(BaseModel):
    """What a posting wrote."""

    intent_id: str
    category: str
    booking_date: str
    currency: str
    event_count: int = Field(description="Number of journal lines written.")
    total_amount: str = Field(description="Sum of the line amounts in the intent's currency.")
    base_currency: str
    total_base_amount: str = Field(description="Sum of all lines' base amounts.")
    journal_number_first: int
    journal_number_last: int
    audit_hash: str = Field(description="audit_hash of the intent's last line (chain head after posting).")
    reverses_intent_id: str | None = None
    replayed: bool = Field(default=False, description="True: an earlier call with this idempotency_key "
                                                      "already posted this; nothing new was written.")
    duplicate_override: bool = False
    lines: list[PostedLine]


class OpeningBalancesResult(PostingResult):
    total_debit: str
    total_credit: str


@dataclass(frozen=True)
class Leg:
    """A one- or two-sided posting before pairing, in the intent's currency. A two-sided leg may name
    its own `currency` and fix its `base` amount and `rate` (exchange differences, reversals); a leg
    without `base` is converted at the intent's rate."""

    debit: str | None
    credit: str | None
    amount: int
    tax_code: str | None
    role: str
    description: str | None
    currency: str | None = None
    base: int | None = None
    rate: str | None = None


async def post_booking(session: AsyncSession, request: BookingRequest, provenance: Provenance) -> PostingResult:
    context = await booking_context(session)
    try:
        prepared = await prepare_booking(session, request, context)
    except LedgerError:
        replay = await _replay(session, request.idempotency_key, request)  # the original stands as booked
        if replay:
            return replay
        raise
    earlier = await _earlier(session, request.idempotency_key,
                             None if request.skip_duplicate_check else prepared.fingerprint)
    if earlier and earlier[1] is not None and earlier[1] == request.idempotency_key:
        replay = await _replay(session, request.idempotency_key, request)
        assert replay
        return replay
    if earlier:
        raise _duplicate(earlier[0], earlier[2])
    intent = prepared_intent(prepared, provenance.columns(), utc_now())
    return await _write(session, cast(Intent, intent), prepared.pairs, prepared.rate,
                        acknowledge_soft_lock=request.acknowledge_soft_lock)


_REVERSAL = aliased(Intent)


def _earlier_statement(by_key: bool, by_fingerprint: bool) -> Any:
    reversal = _REVERSAL
    same_key = col(Intent.idempotency_key) == bindparam("key")
    conditions = [same_key] if by_key else []
    if by_fingerprint:
        conditions.append((col(Intent.fingerprint) == bindparam("fingerprint")) & (col(Intent.category) != "reversal")
                          & col(reversal.id).is_(None))
    return (select(Intent.id, Intent.idempotency_key, Intent.created_at)
            .outerjoin(reversal, col(reversal.reverses_intent_id) == Intent.id)
            .where(or_(*conditions)).order_by(case((same_key, 0), else_=1) if by_key else Intent.id).limit(1))


_EARLIER = {(k, f): Query(_earlier_statement(k, f)) for k, f in ((True, True), (True, False), (False, True))}


async def _earlier(session: AsyncSession, key: str | None,
                   fingerprint: str | None) -> tuple[str, str | None, str] | None:
    """The idempotency and the duplicate check in one query: (id, idempotency_key, created_at) of the intent
    posted under `key`, else of a live (not reversed) intent with the same fingerprint, else None."""
    if not (key or fingerprint):
        return None
    params = {"key": key} if key else {}
    if fingerprint:
        params["fingerprint"] = fingerprint
    row = await _EARLIER[bool(key), bool(fingerprint)].first(session, **params)
    return (row[0], row[1], row[2]) if row else None


def prepared_intent(p: PreparedBooking, provenance: dict[str, Any], created_at: str, duplicate: bool = False) -> Row:
    """The intent row of a prepared booking (content_hash and line_count are set when it is written)."""
    r = p.request
    return Row(
        id=str(uuid4()), category="booking", booking_date=p.booking_date, description=r.description.strip(),
        currency=p.currency, external_reference=r.external_reference, idempotency_key=r.idempotency_key,
        request_hash=p.request_hash, fingerprint=p.fingerprint, document_id=r.document_id,
        custom_metadata=p.custom_metadata, reverses_intent_id=None, reversal_reason=None,
        duplicate_override=r.skip_duplicate_check or duplicate, line_count=len(p.pairs), created_at=created_at,
        content_hash="", **provenance)


def _booking_metadata(request: BookingRequest) -> str | None:
    """The caller's metadata plus what the ledger records about the booking itself: that it is a
    closing adjustment, and why it touches a control account."""
    metadata = dict(request.custom_metadata or {})
    if request.adjustment_period:
        metadata["adjustment_period"] = True
    if request.control_account_reason:
        metadata["control_account_reason"] = request.control_account_reason.strip()
    return chain.canonical_json(metadata) if metadata else None


def _refuse_control_accounts(accounts: dict[str, Account], reason: str | None) -> None:
    """A booking on a receivables or payables control account opens and settles no open item, so
    the subledger and the account would disagree. Refused unless the caller says why (a migration,
    a reclassification), and the reason is recorded."""
    control = sorted(n for n, a in accounts.items() if a.category in CONTROL_CATEGORIES)
    if control and not (reason and reason.strip()):
        raise ControlAccountRefused(
            f"Account {', '.join(control)} is a control account of the receivables/payables subledger: a plain "
            "booking on it opens no open item and settles none; nothing was booked.",
            hint="Book an invoice or credit note with create_invoice (it posts the control-account leg and opens "
                 "the item); record a payment with settle_open_items, or reconcile_transaction for a bank "
                 "statement line. Only for a migration or a reclassification, send control_account_reason "
                 "saying why (it is recorded).",
            details={"control_accounts": control})


async def require_document(session: AsyncSession, document_id: str) -> None:
    if await session.get(Document, document_id) is None:
        raise DocumentNotFound(f"Document {document_id!r} does not exist.",
                               hint="Send the id ingest_document returned (the file's sha256), or leave document_id "
                                    "out.")


@dataclass(frozen=True)
class BookingContext:
    """What a run of bookings reads once instead of per booking: the base currency, the accounts and
    the active tax codes."""

    base: str
    accounts: dict[str, Account]
    tax_codes: dict[str, TaxCode]


# Per database: the booking context and the record history head (seq, hash) it is known valid at.
_CONTEXTS: WeakKeyDictionary[Engine, tuple[tuple[int, str], BookingContext]] = WeakKeyDictionary()
# Tables whose changes the context reflects (every change to them is recorded in the history).
_CONTEXT_TABLES = frozenset({"account", "tax_code", "ledger_meta"})
# Since the cached head: the event at it (still there, unchanged?), the changes to the context's tables
# after it, and the history's head now. Not every event since: after a bulk import that is one per intent.
# Found by the seq range from the cached head (usually a few events), not by table_name (`|| ''`: not by
# the index on it, which would read every event of the chart's tables ever written).
_EVENTS_SINCE = Query(
    select(RecordEvent.seq, RecordEvent.table_name, RecordEvent.event_hash)
    .where(col(RecordEvent.seq) >= bindparam("seq"),
           or_(col(RecordEvent.seq) == bindparam("seq"),
               *(col(RecordEvent.table_name).concat("") == table for table in sorted(_CONTEXT_TABLES)),
               col(RecordEvent.seq) == select(func.max(RecordEvent.seq)).scalar_subquery()))
    .order_by(col(RecordEvent.seq)))


async def booking_context(session: AsyncSession) -> BookingContext:
    """The context, read once per database and kept while the record history shows no change to accounts,
    tax codes or ledger settings since (whichever process made it): one short query per booking instead
    of reading the chart. A history rolled back past the cached head reads it anew."""
    database = database_key(session)
    cached = _CONTEXTS.get(database)
    if cached:
        (seq, digest), context = cached
        events = await _EVENTS_SINCE.rows(session, seq=seq)
        if events and (events[0][0], events[0][2]) == (seq, digest) and not any(
                table in _CONTEXT_TABLES for _, table, _ in events[1:]):
            _CONTEXTS[database] = ((events[-1][0], events[-1][2]), context)
            return context
    head = (await session.exec(records.HEAD)).first()
    meta = await read_meta(session)
    # Plain rows, not ORM objects: they outlive the session and no rollback expires them.
    tables, conn = SQLModel.metadata.tables, await session.connection()
    accounts = {a.number: a for a in (await conn.execute(
        core_select(tables["account"]).where(tables["account"].c.is_active))).all()}
    codes = {t.code: t for t in (await conn.execute(
        core_select(tables["tax_code"]).where(tables["tax_code"].c.is_active))).all()}
    context = BookingContext(meta["base_currency"], cast(dict[str, Account], accounts),
                             cast(dict[str, TaxCode], codes))
    if head:
        _CONTEXTS[database] = ((head[0], head[1]), context)
    return context


@dataclass(frozen=True)
class PreparedBooking:
    """A booking request checked and split into journal pairs, not yet written: the intent's columns
    except its id, timestamps and hashes."""

    request: BookingRequest
    booking_date: date
    currency: str
    rate: fx.Rate | None
    pairs: list[Leg]
    fingerprint: str
    custom_metadata: str | None
    request_hash: str | None


async def prepare_booking(session: AsyncSession, request: BookingRequest, context: BookingContext) -> PreparedBooking:
    """post_booking's checks and splitting with the lookups from `context`; the database is asked only
    for what the context cannot answer (a foreign-currency rate, a document) and to word an error."""
    currency = fx.checked_currency(request.currency, context.base)
    booking_date = parse_date(request.booking_date, field="booking_date")
    rate = (await fx.rate_for(session, currency, booking_date, request.exchange_rate)
            if currency != context.base or request.exchange_rate is not None else None)
    legs = [_leg(line, i, currency) for i, line in enumerate(request.lines, start=1)]
    numbers = {n for leg in legs for n in (leg.debit, leg.credit) if n}
    if numbers <= context.accounts.keys():
        accounts = {n: context.accounts[n] for n in numbers}
    else:
        accounts = await require_accounts(session, numbers)  # raises UNKNOWN_ACCOUNT with the closest accounts
    _refuse_control_accounts(accounts, request.control_account_reason)
    if request.document_id is not None:
        await require_document(session, request.document_id)
    if {leg.tax_code for leg in legs if leg.tax_code} <= context.tax_codes.keys():
        split = [part for leg in legs for part in (
            _split(leg, context.tax_codes[leg.tax_code], accounts, currency) if leg.tax_code else [leg])]
    else:
        split = await _apply_tax_codes(session, legs, accounts, currency)  # raises UNKNOWN_TAX_CODE
    pairs = _pair(split, currency)
    return PreparedBooking(
        request=request, booking_date=booking_date, currency=currency, rate=rate, pairs=pairs,
        fingerprint=_fingerprint(booking_date.isoformat(), pairs, request.external_reference, rate),
        custom_metadata=_booking_metadata(request),
        request_hash=_request_hash(request) if request.idempotency_key else None)


def base_of(leg: Leg, currency: str, base: str, rate: fx.Rate | None) -> tuple[int, str | None]:
    return _base_of(leg, currency, base, rate)


def request_hash(request: BookingRequest) -> str:
    """What an idempotent replay of the request is matched against."""
    return _request_hash(request)


async def replay_booking(session: AsyncSession, request: BookingRequest) -> PostingResult | None:
    """What an earlier call with the request's idempotency key posted (IDEMPOTENCY_CONFLICT if that call
    was a different request), or None."""
    return await _replay(session, request.idempotency_key, request)


async def refuse_duplicate(session: AsyncSession, fingerprint: str) -> None:
    await _refuse_duplicate(session, fingerprint)


def duplicate_suspected(intent_id: str, created_at: str) -> DuplicateSuspected:
    """DUPLICATE_SUSPECTED naming the live intent a booking repeats."""
    return _duplicate(intent_id, created_at)


async def post_opening_balances(session: AsyncSession, request: OpeningBalancesRequest,
                                provenance: Provenance) -> OpeningBalancesResult:
    meta = await read_meta(session)
    currency = meta["base_currency"]
    booking_date = parse_date(request.booking_date, field="booking_date")
    opening_account = (await session.exec(
        select(Account.number).where(Account.category == OPENING_BALANCE_CATEGORY).order_by(binary(Account.number))
    )).first()
    if opening_account is None:
        raise ValidationFailed("The chart has no opening balance account (category opening_balance).",
                               hint="Create one with create_account, category 'opening_balance'.")
    pairs: list[Leg] = []
    for i, balance in enumerate(request.balances, start=1):
        amount = parse_amount(balance.amount, currency, field=f"balances[{i}].amount")
        debit, credit = ((balance.account, opening_account) if balance.side == "debit"
                         else (opening_account, balance.account))
        if balance.account == opening_account:
            raise ValidationFailed(f"balances[{i}] names the opening balance account itself.",
                                   hint="List the balance sheet accounts; the server books the counter side.")
        pairs.append(Leg(debit, credit, amount, None, "amount", None))
    await require_accounts(session, {b.account for b in request.balances})
    intent = Intent(
        id=str(uuid4()), category=OPENING_BALANCE_CATEGORY, booking_date=booking_date,
        description=request.description, currency=currency, idempotency_key=request.idempotency_key,
        request_hash=_request_hash(request) if request.idempotency_key else None,
        fingerprint=_fingerprint(booking_date.isoformat(), pairs, None), created_at=utc_now(), line_count=0,
        content_hash="", **_provenance_columns(provenance))
    result = (await _replay(session, request.idempotency_key, request)
              or await _write(session, intent, pairs, acknowledge_soft_lock=request.acknowledge_soft_lock))
    total_debit = sum(leg.amount for leg in pairs if leg.debit != opening_account)
    total_credit = sum(leg.amount for leg in pairs if leg.credit != opening_account)
    return OpeningBalancesResult(**result.model_dump(), total_debit=format_amount(total_debit, currency),
                                 total_credit=format_amount(total_credit, currency))


async def reverse_intent(session: AsyncSession, request: ReversalRequest, provenance: Provenance) -> PostingResult:
    original = await session.get(Intent, request.intent_id)
    if original is None:
        raise IntentNotFound(f"Intent {request.intent_id!r} does not exist.",
                             hint="Find the intent with query_journal or ledger://intents.")
    existing = await reversed_by(session, original.id)
    if existing:
        raise AlreadyReversed(f"Intent {original.id} was already reversed by {existing}.",
                              hint="An intent is reversed once. To correct the correction, post a new booking.",
                              details={"reversal_intent_id": existing})
    await _refuse_settled(session, original.id)
    await _refuse_revalued(session, original.id)
    if original.category == "revaluation":
        await _refuse_consumed_revaluation(session, original)
    lines = await intent_lines(session, original.id)
    booking_date = original.booking_date if request.posting_mode == "original_date" else today()
    pairs = [Leg(line.credit_account, line.debit_account, line.amount, line.tax_code, line.line_role,
                 f"Storno: {line.description}", line.currency, line.base_amount, line.exchange_rate)
             for line in lines]
    intent = Intent(
        id=str(uuid4()), category="reversal", booking_date=booking_date,
        description=f"Storno: {original.description}", currency=original.currency,
        external_reference=original.external_reference,
        fingerprint=_fingerprint(booking_date.isoformat(), pairs, original.external_reference),
        document_id=original.document_id, reverses_intent_id=original.id, reversal_reason=request.reason.strip(),
        custom_metadata=chain.canonical_json(request.custom_metadata) if request.custom_metadata else None,
        created_at=utc_now(), line_count=0, content_hash="", **_provenance_columns(provenance))
    return await _write(session, intent, pairs, acknowledge_soft_lock=request.acknowledge_soft_lock)


async def post_legs(session: AsyncSession, *, category: str, booking_date: date | str, description: str,
                    legs: list[Leg], provenance: Provenance, external_reference: str | None = None,
                    idempotency_key: str | None = None, request: BaseModel | None = None,
                    document_id: str | None = None, custom_metadata: dict[str, Any] | None = None,
                    skip_duplicate_check: bool = False, party_id: str | None = None,
                    acknowledge_soft_lock: bool = False, rate: fx.Rate | None = None) -> PostingResult:
    """Post legs the ledger prepared itself (invoices, settlements, the year-end close) through the same
    write path and period guard as every booking. One-sided legs are paired; `request` is what an
    idempotent replay is matched against; `party_id` keeps two parties' look-alike documents from being
    taken for duplicates. With `rate` the legs are in its currency (else the base currency)."""
    meta = await read_meta(session)
    currency = rate.currency if rate else meta["base_currency"]
    date_ = booking_date if isinstance(booking_date, date) else parse_date(booking_date, field="booking_date")
    if idempotency_key and request is not None:
        replay = await _replay(session, idempotency_key, request)
        if replay:
            return replay
    await require_accounts(session, {n for leg in legs for n in (leg.debit, leg.credit) if n})
    pairs = _pair(legs, currency)
    fingerprint = _fingerprint(date_.isoformat(), pairs, f"{party_id}:{external_reference}" if party_id
                               else external_reference, rate)
    if not skip_duplicate_check:
        await _refuse_duplicate(session, fingerprint)
    intent = Intent(
        id=str(uuid4()), category=category, booking_date=date_, description=description.strip(), currency=currency,
        external_reference=external_reference, idempotency_key=idempotency_key,
        request_hash=_request_hash(request) if idempotency_key and request is not None else None,
        fingerprint=fingerprint, document_id=document_id,
        custom_metadata=chain.canonical_json(custom_metadata) if custom_metadata else None,
        duplicate_override=skip_duplicate_check, created_at=utc_now(), line_count=0, content_hash="",
        **_provenance_columns(provenance))
    return await _write(session, intent, pairs, rate, acknowledge_soft_lock=acknowledge_soft_lock)


async def replayed_intent(session: AsyncSession, key: str | None, request: BaseModel) -> Intent | None:
    """The intent an earlier call with this idempotency key posted, if the request is the same."""
    replay = await _replay(session, key, request)
    return await session.get(Intent, replay.intent_id) if replay else None


async def reversed_by(session: AsyncSession, intent_id: str) -> str | None:
    return (await session.exec(select(Intent.id).where(Intent.reverses_intent_id == intent_id))).first()


async def intent_lines(session: AsyncSession, intent_id: str) -> list[JournalLine]:
    return list((await session.exec(
        select(JournalLine).where(JournalLine.intent_id == intent_id).order_by(col(JournalLine.journal_number))
    )).all())


async def _write(session: AsyncSession, intent: Intent, pairs: list[Leg], rate: fx.Rate | None = None, *,
                 acknowledge_soft_lock: bool = False) -> PostingResult:
    """Insert the intent and its lines at the chain head. The caller's transaction commits.
    Every intent is written here, so the period guard here covers every write path."""
    await periods.guard_write(session, intent, acknowledge_soft_lock=acknowledge_soft_lock)
    base = (await read_meta(session))["base_currency"]
    intent.line_count = len(pairs)
    intent.content_hash = chain.intent_hash(intent)
    number, prev = await chain.head(session)
    if number + len(pairs) > MAX_JOURNAL_LINES:
        raise LedgerCapacityReached(f"The ledger holds {number} journal lines; more could make its sums overflow.",
                                    hint="Start a new ledger for the next fiscal year (ledger-mcp init).")
    lines, number, prev = chain_lines(intent, pairs, base, rate, number, prev)
    bind = session.sync_session.get_bind()
    await insert(session, *RowInsert.of(bind, Intent).statement([intent]))
    await insert(session, *RowInsert.of(bind, JournalLine).statement(lines))
    await session.run_sync(inserted_intents, [intent], (number, prev))
    return posting_result(intent, cast(list[JournalLine], lines), base)


class Row(SimpleNamespace):
    """A row to insert, readable by attribute like the model it stands for (the chain's hash
    functions, the period guard and posting_result read attributes)."""


def chain_lines(intent: Any, pairs: list[Leg], base: str, rate: fx.Rate | None, number: int,
                prev: str) -> tuple[list[Row], int, str]:
    """The intent's journal lines, sealed into the chain after (number, prev); the new (number, prev).
    `intent` has its content_hash already."""
    provenance = {name: getattr(intent, name) for name in chain.PROVENANCE_FIELDS}
    lines = []
    for index, leg in enumerate(pairs, start=1):
        assert leg.debit and leg.credit
        number += 1
        currency = leg.currency or intent.currency
        base_amount, line_rate = _base_of(leg, currency, base, rate)
        check_bound(leg.amount, currency, field=f"line {index} amount")
        check_bound(base_amount, base, field=f"line {index} amount in {base}")
        line = Row(
            journal_number=number, intent_id=intent.id, line_index=index, booking_date=intent.booking_date,
            debit_account=leg.debit, credit_account=leg.credit, amount=leg.amount, currency=currency,
            base_amount=base_amount, exchange_rate=line_rate, tax_code=leg.tax_code, line_role=leg.role,
            description=leg.description or intent.description, created_at=intent.created_at,
            hash_version=chain.HASH_VERSION, content_hash="", prev_hash="", audit_hash="", **provenance)
        chain.seal_line(cast(JournalLine, line), intent.content_hash, prev)
        prev = line.audit_hash
        lines.append(line)
    return lines, number, prev


def inserted_intents(session: Session, intents: list[Any], heads: tuple[int, str],
                     summary: Mapping[str, Any] | None = None, history: tuple[int, str] | None = None) -> None:
    """Core inserts bypass the ORM's flush, which records the history and notes the events: do both here.
    With `summary` (an import) the intents are one import.posted event with these fields, not one each;
    `history`: the history head after the intents' events, which the caller inserted with them
    (records.insert_events)."""
    if history is None:
        records.record_bulk_insert(session, "intent", [intent_columns(i) for i in intents], heads)
    else:
        records.recorded_heads(session, history, heads)
    if summary is not None:
        events.note_import(session, intents, summary)
    else:
        events.note_bulk_insert(session, "intent", [dict(zip(_EVENT_FIELDS, _event_values(i), strict=True))
                                                    for i in intents])


# What the intent.posted / intent.reversed events and their topics read of an intent row.
_EVENT_FIELDS = ("id", "category", "booking_date", "currency", "external_reference", "reverses_intent_id")
_event_values = attrgetter(*_EVENT_FIELDS)


def intent_columns(intent: Any) -> dict[str, Any]:
    """What the record history keeps of an inserted intent (records.record_bulk_insert)."""
    return {name: getattr(intent, name) for name in ("id", *records.INTENT_COLUMNS)}


def _base_of(leg: Leg, currency: str, base: str, rate: fx.Rate | None) -> tuple[int, str | None]:
    """A line's base amount and rate: fixed on the leg, the amount itself in the base currency, else
    converted at the intent's rate."""
    if leg.base is not None:
        return leg.base, leg.rate
    if currency == base:
        return leg.amount, None
    assert rate is not None and rate.currency == currency, "a foreign-currency leg needs its rate"
    return to_base(leg.amount, currency, rate.rate, base), rate.text


def posting_result(intent: Intent, lines: list[JournalLine], base: str, *, replayed: bool = False) -> PostingResult:
    return PostingResult(
        intent_id=intent.id, category=intent.category, booking_date=intent.booking_date.isoformat(),
        currency=intent.currency, event_count=len(lines),
        total_amount=format_amount(sum(li.amount for li in lines if li.currency == intent.currency), intent.currency),
        base_currency=base, total_base_amount=format_amount(sum(li.base_amount for li in lines), base),
        journal_number_first=lines[0].journal_number, journal_number_last=lines[-1].journal_number,
        audit_hash=lines[-1].audit_hash, reverses_intent_id=intent.reverses_intent_id, replayed=replayed,
        duplicate_override=intent.duplicate_override,
        lines=[PostedLine(journal_number=line.journal_number, debit_account=line.debit_account,
                          credit_account=line.credit_account, amount=format_amount(line.amount, line.currency),
                          currency=line.currency, base_amount=format_amount(line.base_amount, base),
                          exchange_rate=line.exchange_rate, tax_code=line.tax_code, line_role=line.line_role,
                          description=line.description)
               for line in lines])


async def _replay(session: AsyncSession, key: str | None, request: BaseModel) -> PostingResult | None:
    if not key:
        return None
    intent = (await session.exec(select(Intent).where(Intent.idempotency_key == key))).first()
    if intent is None:
        return None
    if intent.request_hash != _request_hash(request):
        raise IdempotencyConflict(
            f"idempotency_key {key!r} was already used for a different request (intent {intent.id}).",
            hint="Use a new idempotency_key for a new booking, or resend exactly the original request.",
            details={"intent_id": intent.id})
    base = (await read_meta(session))["base_currency"]
    return posting_result(intent, await intent_lines(session, intent.id), base, replayed=True)


def _request_hash(request: BaseModel) -> str:
    fields = request.model_dump(mode="json", exclude=_UNHASHED_REQUEST_FIELDS)
    for name, default in _hashed_when_set(type(request)):
        if name in fields and fields[name] == default:
            del fields[name]
    return chain.sha256_hex(chain.canonical_json({"type": type(request).__name__, **fields}))


_DEFAULTS: dict[type[BaseModel], tuple[tuple[str, Any], ...]] = {}


def _hashed_when_set(model: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    """(name, default) of the model's _HASHED_WHEN_SET fields, read once per model (an import hashes many)."""
    if model not in _DEFAULTS:
        _DEFAULTS[model] = tuple((name, model.model_fields[name].default) for name in _HASHED_WHEN_SET
                                 if name in model.model_fields)
    return _DEFAULTS[model]


def _leg(line: BookingLine, index: int, currency: str) -> Leg:
    debit = (line.debit_account or "").strip() or None
    credit = (line.credit_account or "").strip() or None
    if not debit and not credit:
        raise ValidationFailed(f"lines[{index}] names no account.",
                               hint="Give debit_account and credit_account (or one of them in a split booking).")
    if debit and debit == credit:
        raise ValidationFailed(f"lines[{index}] debits and credits the same account {debit}.",
                               hint="A line moves an amount between two different accounts.")
    amount = parse_amount(line.amount, currency, field=f"lines[{index}].amount")
    tax_code = (line.tax_code or "").strip() or None
    return Leg(debit, credit, amount, tax_code, "amount", line.description)


async def _apply_tax_codes(session: AsyncSession, legs: list[Leg], accounts: dict[str, Account],
                           currency: str) -> list[Leg]:
    codes = {leg.tax_code for leg in legs if leg.tax_code}
    if not codes:
        return legs
    tax_codes = {t.code: t for t in (await session.exec(select(TaxCode).where(col(TaxCode.code).in_(codes)))).all()}
    for code in codes:
        if code not in tax_codes or not tax_codes[code].is_active:
            active = (await session.exec(select(TaxCode.code).where(col(TaxCode.is_active)))).all()
            raise UnknownTaxCode(f"Tax code {code!r} does not exist or is inactive.",
                                 hint=f"Use one of: {', '.join(sorted(active))} (see ledger://tax-codes).")
    out: list[Leg] = []
    for leg in legs:
        tax = tax_codes.get(leg.tax_code or "")
        out.extend(_split(leg, tax, accounts, currency) if tax else [leg])
    return out


def _split(leg: Leg, tax: TaxCode, accounts: dict[str, Account], currency: str) -> list[Leg]:
    """Net and tax legs for a line with a tax code."""
    rate = Decimal(tax.rate)
    if tax.kind == "exempt" or rate == 0:
        return [leg]
    taxed_side = _taxed_side(leg, tax, accounts)
    if tax.kind == "reverse_charge":
        assert tax.vat_account and tax.self_assess_account
        amount = tax_on_net(leg.amount, rate)
        input_, output = tax.vat_account, tax.self_assess_account
        pair = (input_, output) if taxed_side == "debit" else (output, input_)
        extra = [Leg(*pair, amount, tax.code, "self_assessment", f"{tax.label} (self-assessed)")]
        return [leg, *extra] if amount else [leg]
    assert tax.vat_account
    net, amount = split_gross(leg.amount, rate)
    if net <= 0:
        raise ValidationFailed(f"Amount {format_amount(leg.amount, currency)} is too small to split at {rate} %.",
                               hint="Book it without a tax code.")
    taxed, other = (leg.debit, leg.credit) if taxed_side == "debit" else (leg.credit, leg.debit)
    parts = [(taxed, net, "amount", leg.description), (tax.vat_account, amount, "tax", tax.label)]
    legs = []
    for account, value, role, text in parts:
        if value == 0:
            continue
        debit, credit = (account, other) if taxed_side == "debit" else (other, account)
        legs.append(Leg(debit, credit, value, tax.code, role, text))
    return legs


def _taxed_side(leg: Leg, tax: TaxCode, accounts: dict[str, Account]) -> str:
    """The side of the account the tax belongs to: the only side given, else the P&L account's side,
    else the side the code's kind implies (input tax with the debit, output tax with the credit)."""
    if leg.debit is None or leg.credit is None:
        return "debit" if leg.debit else "credit"
    pnl = {"revenue", "expense"}
    debit_pnl = accounts[leg.debit].type in pnl
    credit_pnl = accounts[leg.credit].type in pnl
    if debit_pnl != credit_pnl:
        return "debit" if debit_pnl else "credit"
    return "credit" if tax.kind == "output" else "debit"


def _pair(legs: list[Leg], currency: str) -> list[Leg]:
    """Two-sided legs pass through; one-sided legs are matched debit against credit, splitting amounts."""
    paired = [leg for leg in legs if leg.debit and leg.credit]
    debits = [leg for leg in legs if leg.debit and not leg.credit]
    credits = [leg for leg in legs if leg.credit and not leg.debit]
    difference = sum(leg.amount for leg in debits) - sum(leg.amount for leg in credits)
    if difference:
        raise Unbalanced(
            f"The one-sided lines do not balance: debits exceed credits by {format_amount(difference, currency)}."
            if difference > 0 else
            f"The one-sided lines do not balance: credits exceed debits by {format_amount(-difference, currency)}.",
            hint="Make the debit-only amounts add up to the credit-only amounts (gross, after tax), or give "
                 "each line both a debit_account and a credit_account.",
            details={"difference": format_amount(abs(difference), currency)})
    i = j = 0
    while i < len(debits) and j < len(credits):
        d, c = debits[i], credits[j]
        amount = min(d.amount, c.amount)
        source = d if (d.tax_code or d.role != "amount" or not c.tax_code) else c
        paired.append(Leg(d.debit, c.credit, amount, source.tax_code, source.role,
                          source.description or d.description or c.description))
        debits[i] = replace(d, amount=d.amount - amount)
        credits[j] = replace(c, amount=c.amount - amount)
        i += debits[i].amount == 0
        j += credits[j].amount == 0
    return paired


def _fingerprint(booking_date: str, pairs: list[Leg], reference: str | None, rate: fx.Rate | None = None) -> str:
    parts = sorted((leg.debit or "", leg.credit or "", leg.amount) for leg in pairs)
    key: list[Any] = [booking_date, parts, (reference or "").strip().lower()]
    if rate:  # 100 USD is not 100 EUR; base-currency fingerprints stay as they always were
        key.append(rate.currency)
    return chain.sha256_hex(chain.canonical_json(key))



async def _refuse_duplicate(session: AsyncSession, fingerprint: str) -> None:
    reversal = _REVERSAL
    stmt = (select(Intent.id, Intent.created_at)
            .outerjoin(reversal, col(reversal.reverses_intent_id) == Intent.id)
            .where(Intent.fingerprint == fingerprint, Intent.category != "reversal", col(reversal.id).is_(None))
            .limit(1))
    row = (await session.exec(stmt)).first()
    if row:
        raise _duplicate(row[0], row[1])


def _duplicate(intent_id: str, created_at: str) -> DuplicateSuspected:
    return DuplicateSuspected(
        f"A booking with the same date, accounts, amounts and reference already exists (intent {intent_id}).",
        hint="If you are retrying a call, send the same idempotency_key as the first call: the original is "
             "returned and nothing is booked twice. Only if this is really a second, separate business event "
             "(ask the user), send it with skip_duplicate_check=true.",
        details={"existing_intent_id": intent_id, "created_at": created_at})


async def _refuse_settled(session: AsyncSession, intent_id: str) -> None:
    """An invoice with live settlements cannot be cancelled: its payments would point at nothing."""
    payment = aliased(Intent)
    reversal = aliased(Intent)
    stmt = (select(Settlement.payment_intent_id).join(Invoice, col(Invoice.id) == Settlement.invoice_id)
            .join(payment, col(payment.id) == Settlement.payment_intent_id)
            .outerjoin(reversal, col(reversal.reverses_intent_id) == payment.id)
            .where(Invoice.intent_id == intent_id, col(reversal.id).is_(None)))
    payments = sorted(set((await session.exec(stmt)).all()))
    if payments:
        raise SettledItem(f"Intent {intent_id} is an invoice with {len(payments)} payment(s) settling it.",
                          hint="Reverse the settling payment intents first (reverse_intent), then cancel the "
                               "invoice.", details={"settlement_intent_ids": payments})


async def live_revaluations(session: AsyncSession, invoice_ids: list[str]) -> list[tuple[str, str, date]]:
    """(invoice id, revaluation intent id, its date) of the live (not reversed) revaluations of invoices."""
    reversal = aliased(Intent)
    stmt = (select(col(RevaluationItem.invoice_id), col(Intent.id), col(Intent.booking_date))
            .join(Intent, col(Intent.id) == RevaluationItem.intent_id)
            .outerjoin(reversal, col(reversal.reverses_intent_id) == Intent.id)
            .where(col(RevaluationItem.invoice_id).in_(invoice_ids), col(reversal.id).is_(None)))
    return [(i, r, d) for i, r, d in (await session.exec(stmt)).all()]


async def _refuse_revalued(session: AsyncSession, intent_id: str) -> None:
    """A cancelled invoice would leave its live revaluation on the control account."""
    invoice_ids = list((await session.exec(select(Invoice.id).where(Invoice.intent_id == intent_id))).all())
    found = await live_revaluations(session, invoice_ids) if invoice_ids else []
    if found:
        raise SettledItem(f"Intent {intent_id} is an invoice revalued by {found[0][1]} on {found[0][2]}.",
                          hint="Reverse the revaluation intent first (reverse_intent), then cancel the invoice.",
                          details={"revaluation_intent_ids": sorted({r for _, r, _ in found})})


async def _refuse_consumed_revaluation(session: AsyncSession, revaluation: Intent) -> None:
    """A payment dated on or after a revaluation and recorded after it cleared the item at its revalued
    value; reversing the revaluation then would leave the difference on the control account."""
    payment = aliased(Intent)
    reversal = aliased(Intent)
    stmt = (select(Settlement.payment_intent_id)
            .join(RevaluationItem, col(RevaluationItem.invoice_id) == Settlement.invoice_id)
            .join(payment, col(payment.id) == Settlement.payment_intent_id)
            .outerjoin(reversal, col(reversal.reverses_intent_id) == payment.id)
            .where(RevaluationItem.intent_id == revaluation.id, col(reversal.id).is_(None),
                   col(payment.booking_date) >= revaluation.booking_date,
                   col(Settlement.created_at) >= revaluation.created_at))
    payments = sorted(set((await session.exec(stmt)).all()))
    if payments:
        raise SettledItem(f"Revaluation {revaluation.id} was taken into account by {len(payments)} later payment(s).",
                          hint="Reverse those payments first, or leave the revaluation: the payments already "
                               "booked the exchange difference against the revalued amount.",
                          details={"settlement_intent_ids": payments})


def _provenance_columns(p: Provenance) -> dict[str, Any]:
    return p.columns()

