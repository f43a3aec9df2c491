"""Reading the journal: the audit view of one intent, line queries, the list of intents."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.clock import parse_date
from ledger_mcp.ledger.errors import IntentNotFound, InvalidCursor, ValidationFailed
from ledger_mcp.ledger.models import Account, Intent, Invoice, JournalLine, Settlement
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.portable import binary, lower
from ledger_mcp.ledger.posting import intent_lines, reversed_by
from ledger_mcp.ledger.provenance import CHANNEL_LABELS, SURFACE_LABELS, Channel, Provenance

MAX_PAGE = 500


class ProvenanceSummary(BaseModel):
    surface: str
    surface_label: str
    channel: str
    channel_label: str
    actor_type: str
    actor_label: str
    actor_key_prefix: str | None
    actor_display: str
    client_name: str | None
    client_version: str | None


def provenance_summary(row: Intent | JournalLine) -> ProvenanceSummary:
    stored = Provenance(surface=row.surface, channel=Channel(row.channel), actor_type=row.actor_type,
                        actor_label=row.actor_label, actor_key_prefix=row.actor_key_prefix,
                        client_name=row.client_name, client_version=row.client_version)
    return ProvenanceSummary(
        surface=row.surface, surface_label=SURFACE_LABELS.get(row.surface, row.surface), channel=row.channel,
        channel_label=CHANNEL_LABELS[stored.channel], actor_type=row.actor_type, actor_label=row.actor_label,
        actor_key_prefix=row.actor_key_prefix, actor_display=stored.actor_display,
        client_name=row.client_name, client_version=row.client_version)


class JournalEntry(BaseModel):
    """One journal line with account names and its place in the hash chain."""

    journal_number: int
    intent_id: str
    line_index: int
    booking_date: str
    account_debit: str
    account_debit_name: str
    account_credit: str
    account_credit_name: str
    amount: str = Field(description="Decimal string in the line's currency.")
    amount_minor: int = Field(description="Integer minor units (cents).")
    currency: str
    base_amount: str = Field(description="The amount in the ledger's base currency (what reports add up).")
    base_amount_minor: int
    base_currency: str
    exchange_rate: str | None = Field(description="Units of currency per 1 unit of base currency; null for "
                                                  "base-currency lines.")
    tax_code: str | None
    line_role: str = Field(description="amount, tax (VAT split) or self_assessment (reverse charge).")
    description: str
    created_at: str
    created_by: str
    source: str = Field(description="Source channel, e.g. MCP.")
    content_hash: str
    prev_hash: str
    audit_hash: str
    provenance_summary: ProvenanceSummary


class IntentSummary(BaseModel):
    category: str
    booking_date: str
    description: str
    source: str
    created_at: str
    created_by: str
    provenance_summary: ProvenanceSummary
    document_id: str | None
    external_reference: str | None
    reverses_intent_id: str | None
    reversed_by_intent_id: str | None
    reversal_reason: str | None
    total_amount: str = Field(description="Sum of the lines in the intent's currency.")
    currency: str
    total_base_amount: str = Field(description="Sum of all lines in the base currency.")
    base_currency: str
    journal_number_min: int
    journal_number_max: int
    custom_metadata: dict[str, Any] | None


class LinkedIntents(BaseModel):
    settles_intent_ids: list[str] = Field(description="Open items (invoice intents) this intent settles.")
    settlement_intent_ids: list[str] = Field(description="Payment intents that settle this intent.")


class IntentMetadata(BaseModel):
    intent_category: str
    idempotency_key: str | None
    duplicate_override: bool
    is_split_booking: bool
    total_lines: int
    content_hash: str = Field(description="Hash of the intent's own fields; covered by every line's content_hash.")
    hash_version: int


class IntentView(BaseModel):
    """The full audit view of one intent: lines, provenance, hash chain, reversal and settlement links."""

    intent_id: str
    entries: list[JournalEntry]
    summary: IntentSummary
    linked_intents: LinkedIntents
    metadata: IntentMetadata


async def _account_names(session: AsyncSession, numbers: set[str]) -> dict[str, str]:
    rows = (await session.exec(select(Account.number, Account.name).where(col(Account.number).in_(numbers)))).all()
    return dict(rows)


def _entry(line: JournalLine, names: dict[str, str], base: str) -> JournalEntry:
    return JournalEntry(
        journal_number=line.journal_number, intent_id=line.intent_id, line_index=line.line_index,
        booking_date=line.booking_date.isoformat(), account_debit=line.debit_account,
        account_debit_name=names.get(line.debit_account, ""), account_credit=line.credit_account,
        account_credit_name=names.get(line.credit_account, ""), amount=format_amount(line.amount, line.currency),
        amount_minor=line.amount, currency=line.currency, base_amount=format_amount(line.base_amount, base),
        base_amount_minor=line.base_amount, base_currency=base, exchange_rate=line.exchange_rate,
        tax_code=line.tax_code, line_role=line.line_role,
        description=line.description, created_at=line.created_at, created_by=line.actor_label, source=line.channel,
        content_hash=line.content_hash, prev_hash=line.prev_hash, audit_hash=line.audit_hash,
        provenance_summary=provenance_summary(line))


async def get_intent(session: AsyncSession, intent_id: str) -> IntentView:
    intent = await session.get(Intent, intent_id)
    if intent is None:
        raise IntentNotFound(f"Intent {intent_id!r} does not exist.",
                             hint="List recent intents with ledger://intents or search with query_journal.")
    lines = await intent_lines(session, intent.id)
    names = await _account_names(session, {n for line in lines for n in (line.debit_account, line.credit_account)})
    base = (await read_meta(session))["base_currency"]
    return IntentView(
        intent_id=intent.id,
        entries=[_entry(line, names, base) for line in lines],
        summary=IntentSummary(
            category=intent.category, booking_date=intent.booking_date.isoformat(), description=intent.description,
            source=intent.channel, created_at=intent.created_at, created_by=intent.actor_label,
            provenance_summary=provenance_summary(intent), document_id=intent.document_id,
            external_reference=intent.external_reference, reverses_intent_id=intent.reverses_intent_id,
            reversed_by_intent_id=await reversed_by(session, intent.id), reversal_reason=intent.reversal_reason,
            total_amount=format_amount(sum(li.amount for li in lines if li.currency == intent.currency),
                                       intent.currency),
            currency=intent.currency, total_base_amount=format_amount(sum(li.base_amount for li in lines), base),
            base_currency=base, journal_number_min=lines[0].journal_number if lines else 0,
            journal_number_max=lines[-1].journal_number if lines else 0,
            custom_metadata=json.loads(intent.custom_metadata) if intent.custom_metadata else None),
        linked_intents=await linked_intents(session, intent.id),
        metadata=IntentMetadata(
            intent_category=intent.category, idempotency_key=intent.idempotency_key,
            duplicate_override=intent.duplicate_override, is_split_booking=len(lines) > 1, total_lines=len(lines),
            content_hash=intent.content_hash, hash_version=lines[0].hash_version if lines else 0))


async def linked_intents(session: AsyncSession, intent_id: str) -> LinkedIntents:
    """Settlement links both ways, including those of payments reversed since (their reversal shows there)."""
    settles = (await session.exec(
        select(Invoice.intent_id).join(Settlement, col(Settlement.invoice_id) == Invoice.id)
        .where(Settlement.payment_intent_id == intent_id).order_by(col(Invoice.invoice_date)))).all()
    settled_by = (await session.exec(
        select(Settlement.payment_intent_id).join(Invoice, col(Invoice.id) == Settlement.invoice_id)
        .where(Invoice.intent_id == intent_id).order_by(col(Settlement.created_at)))).all()
    return LinkedIntents(settles_intent_ids=list(dict.fromkeys(settles)),
                         settlement_intent_ids=list(dict.fromkeys(settled_by)))


class JournalPage(BaseModel):
    entries: list[JournalEntry]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != arity:
            raise ValueError
        return parts
    except (ValueError, TypeError):
        raise InvalidCursor("cursor is not one this server issued.",
                            hint="Pass next_cursor from the previous page unchanged, or omit it.") from None


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}, got {limit}.", hint="e.g. limit=50")
    return limit


def date_range(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    start_date = parse_date(start, field="start_date") if start else None
    end_date = parse_date(end, field="end_date") if end else None
    if start_date and end_date and start_date > end_date:
        raise ValidationFailed(f"start_date {start} is after end_date {end}.", hint="Swap the two dates.")
    return start_date, end_date


async def query_journal(session: AsyncSession, *, account: str | None = None, start_date: str | None = None,
                        end_date: str | None = None, search: str | None = None,
                        external_reference: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> JournalPage:
    """Journal lines in journal order, filtered; keyset-paginated on journal_number."""
    start, end = date_range(start_date, end_date)
    debit, credit = aliased(Account), aliased(Account)
    stmt: Any = (select(JournalLine, debit.name, credit.name)
                         .join(debit, col(debit.number) == JournalLine.debit_account)
                         .join(credit, col(credit.number) == JournalLine.credit_account))
    if account:
        stmt = stmt.where(or_(col(JournalLine.debit_account) == account, col(JournalLine.credit_account) == account))
    if start:
        stmt = stmt.where(col(JournalLine.booking_date) >= start)
    if end:
        stmt = stmt.where(col(JournalLine.booking_date) <= end)
    if search:
        stmt = stmt.where(lower(JournalLine.description).contains(search.lower(), autoescape=True))
    if external_reference:
        stmt = stmt.where(col(JournalLine.intent_id).in_(
            select(Intent.id).where(Intent.external_reference == external_reference)))
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        stmt = stmt.where(col(JournalLine.journal_number) > int(after))
    limit = page_limit(limit)
    rows = (await session.exec(stmt.order_by(col(JournalLine.journal_number)).limit(limit + 1))).all()
    base = (await read_meta(session))["base_currency"]
    entries = [_entry(line, {line.debit_account: dn, line.credit_account: cn}, base) for line, dn, cn in rows[:limit]]
    more = len(rows) > limit
    return JournalPage(entries=entries, next_cursor=encode_cursor(entries[-1].journal_number) if more else None)


class IntentListItem(BaseModel):
    intent_id: str
    category: str
    booking_date: str
    description: str
    total_amount: str
    currency: str
    external_reference: str | None
    reverses_intent_id: str | None
    reversed_by_intent_id: str | None
    created_at: str
    channel: str
    actor_label: str
    uri: str


class IntentPage(BaseModel):
    intents: list[IntentListItem]
    next_cursor: str | None


async def list_intents(session: AsyncSession, *, limit: int = 50, cursor: str | None = None) -> IntentPage:
    """Intents, most recent first."""
    reversal = aliased(Intent)
    in_currency = case((col(JournalLine.currency) == Intent.currency, JournalLine.amount), else_=0)
    total = (select(func.sum(in_currency)).where(JournalLine.intent_id == Intent.id)
             .correlate(Intent).scalar_subquery())
    stmt: Any = (select(Intent, total, reversal.id)
                         .outerjoin(reversal, col(reversal.reverses_intent_id) == Intent.id))
    if cursor:
        created, intent_id = decode_cursor(cursor, 2)
        stmt = stmt.where(or_(binary(Intent.created_at) < created,
                              and_(col(Intent.created_at) == created, binary(Intent.id) < intent_id)))
    limit = page_limit(limit)
    # Code point order on every database (the cursor compares the same way). On PostgreSQL a page
    # then sorts the intents rather than walking ix_intent_created (a top-N sort: one pass, no spill).
    rows = (await session.exec(stmt.order_by(binary(Intent.created_at).desc(), binary(Intent.id).desc())
                               .limit(limit + 1))).all()
    items = [IntentListItem(
        intent_id=i.id, category=i.category, booking_date=i.booking_date.isoformat(), description=i.description,
        total_amount=format_amount(int(amount or 0), i.currency), currency=i.currency,
        external_reference=i.external_reference, reverses_intent_id=i.reverses_intent_id,
        reversed_by_intent_id=rev, created_at=i.created_at, channel=i.channel, actor_label=i.actor_label,
        uri=f"ledger://intents/{i.id}") for i, amount, rev in rows[:limit]]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return IntentPage(intents=items, next_cursor=encode_cursor(last.created_at, last.id) if last else None)


async def intent_ids_starting(session: AsyncSession, prefix: str, limit: int = 20) -> list[str]:
    """Intent ids beginning with `prefix`, most recent first (for argument completion)."""
    stmt = select(Intent.id).where(col(Intent.id).startswith(prefix.strip().lower()))
    stmt = stmt.order_by(col(Intent.created_at).desc()).limit(limit)
    return list((await session.exec(stmt)).all())


async def booked_months(session: AsyncSession) -> list[str]:
    """The months (YYYY-MM) that have bookings, latest first."""
    days = (await session.exec(select(col(Intent.booking_date)).distinct())).all()
    return sorted({d.isoformat()[:7] for d in days}, reverse=True)
