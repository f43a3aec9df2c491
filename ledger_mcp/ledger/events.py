"""Events: what a committed write did, derived in one place from what it flushed.

Every ORM flush notes the rows it inserted, changed or deleted (`_note`, an after_flush listener like the
record history's); the bulk path notes its rows with `note_bulk_insert`. Just before the commit
(`_write_outbox`) the notes become

- events (EVENT_TYPES), each written to the `event_outbox` table in the same transaction, so that an
  event exists if and only if its write committed, together with one pending webhook delivery per
  endpoint that wants it;
- topics: the things a reader may want to read again (`intent:<id>`, `invoice:<id>`,
  `open_items:payable`, `review_case:<id>`, `period:2026-03`, ...).

Both are left in `session.info[COMMITTED_KEY]` as a `Committed`, which `Database` hands to its
listeners once the commit succeeded (resource subscriptions, the webhook worker). Event payloads hold
ids, keys, amounts as decimal strings and periods; never a document's contents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, bindparam, event, func, insert, inspect, or_
from sqlalchemy.orm import Session, UOWTransaction
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.models import (
    Intent,
    Invoice,
    JournalLine,
    OutboxEvent,
    ReviewCase,
    Settlement,
    WebhookDelivery,
    WebhookEndpoint,
)
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.statements import Insert, Query, insert_in

EVENT_TYPES = ("intent.posted", "intent.reversed", "invoice.created", "invoice.settled", "review_case.created",
               "review_case.decided", "period.locked", "bank_import.finished", "import.posted")
NOTES_KEY = "ledger_event_notes"
COMMITTED_KEY = "ledger_committed"
_DECIDED = frozenset({"approved", "rejected"})
CREATING = frozenset({"intent.posted", "intent.reversed", "invoice.created", "review_case.created", "import.posted"})
"""Event types whose write added something with an address of its own."""


@dataclass(frozen=True)
class Committed:
    """What one committed write did: its events (the webhook bodies) and the topics it changed.
    `created`: whether it added something readers can address (a new intent, invoice, case, ...).
    `deliveries`: webhook deliveries it queued (none while no endpoint wants its events)."""

    events: tuple[dict[str, Any], ...]
    topics: frozenset[str]
    created: bool
    deliveries: int = 0


@dataclass
class _Notes:
    """Collected over a transaction's flushes: rows by table (inserted, and changed) and topics."""

    inserted: dict[str, dict[str, Any]] = field(default_factory=dict)  # "table:id()" -> {table, row}
    decided: dict[str, ReviewCase] = field(default_factory=dict)
    imported: list[dict[str, Any]] = field(default_factory=list)  # import.posted payloads (note_import)
    topics: set[str] = field(default_factory=set)
    created: bool = False


# Rows whose insert adds something with an address of its own.
_ADDRESSABLE = frozenset({"intent", "invoice", "review_case", "party", "bank_account", "payment_run", "document"})


def _notes(session: Session) -> _Notes:
    notes = session.info.get(NOTES_KEY)
    if notes is None:
        notes = session.info[NOTES_KEY] = _Notes()
    return notes


def _topics_of(table: str, row: Any) -> list[str]:
    """The topics a changed row belongs to (lists and the row itself)."""
    def get(name: str) -> Any:
        return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)

    match table:
        case "intent":
            return [f"intent:{get('id')}"] + ([f"intent:{get('reverses_intent_id')}"]
                                              if get("reverses_intent_id") else [])
        case "invoice":
            return [f"invoice:{get('id')}", f"open_items:{get('direction')}", f"party:{get('party_id')}"]
        case "settlement":
            return [f"invoice:{get('invoice_id')}"]
        case "review_case":
            return [f"review_case:{get('id')}"]
        case "period_event":
            return [f"period:{get('period')}"]
        case "party":
            return [f"party:{get('id')}"]
        case "bank_account":
            return [f"bank_account:{get('id')}"]
        case "bank_import_batch" | "bank_match_group":
            return [f"bank_account:{get('bank_account_id')}"]
        case "payment_run":
            return [f"payment_run:{get('id')}"]
        case "payment_run_event":
            return [f"payment_run:{get('run_id')}"]
        case "document":
            return [f"document:{get('id')}"]
    return []


@event.listens_for(Session, "after_flush")
def _note(session: Session, _context: UOWTransaction) -> None:
    notes: _Notes | None = None
    for action, objects in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            table = getattr(type(obj), "__tablename__", None)
            topics = _topics_of(table, obj) if isinstance(table, str) else []
            if not topics:
                continue
            notes = notes or _notes(session)
            notes.topics.update(topics)
            if action == "insert":
                notes.inserted.setdefault(f"{table}:{id(obj)}", {"table": table, "row": obj})
                notes.created = notes.created or table in _ADDRESSABLE
            elif (action == "update" and isinstance(obj, ReviewCase) and obj.queue_state in _DECIDED
                  and inspect(obj).attrs["queue_state"].history.has_changes()):
                notes.decided[obj.id] = obj


def note_bulk_insert(session: Session, table_name: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """What `_note` does for the ORM, for rows a bulk statement inserted (ledger.bulk)."""
    notes = _notes(session)
    for row in rows:
        notes.topics.update(_topics_of(table_name, row))
        notes.inserted.setdefault(f"{table_name}:{id(row)}", {"table": table_name, "row": row})
    notes.created = notes.created or (bool(rows) and table_name in _ADDRESSABLE)


def note_import(session: Session, intents: Sequence[Any], data: Mapping[str, Any]) -> None:
    """One `import.posted` event for intents an import wrote (instead of an intent.posted each): `data`
    plus their count, journal lines and the ranges of journal numbers and booking dates they fill."""
    if not intents:
        return
    notes = _notes(session)
    first, last = intents[0], intents[-1]
    dates = sorted({i.booking_date for i in intents})
    notes.imported.append({**data, "intents": len(intents), "journal_lines": sum(i.line_count for i in intents),
                           "intent_id_first": first.id, "intent_id_last": last.id,
                           "booking_date_first": dates[0].isoformat(), "booking_date_last": dates[-1].isoformat()})
    notes.topics.update(f"intent:{i.id}" for i in intents)
    notes.created = True


@event.listens_for(Session, "before_commit")
def _write_outbox(session: Session) -> None:
    if NOTES_KEY not in session.info:
        session.info.pop(COMMITTED_KEY, None)
        return
    session.flush()  # the commit's own flush comes after this hook: take its notes now
    notes: _Notes = session.info.pop(NOTES_KEY)
    connection = session.connection()
    now = utc_now()
    built = _Builder(connection, notes, now).build()
    topics = set(notes.topics) | built.topics
    deliveries = 0
    if built.events:
        insert_in(connection, _OUTBOX_INSERT.sql(connection.dialect),
                  [(e["id"], e["type"], now, json.dumps(e, ensure_ascii=False, separators=(",", ":")))
                   for e in built.events])
        deliveries = enqueue(connection, built.events, now)
    session.info[COMMITTED_KEY] = Committed(tuple(built.events), frozenset(topics), notes.created, deliveries)


_OUTBOX_INSERT = Insert(OutboxEvent.__table__, ("id", "type", "occurred_at", "payload"))  # type: ignore[attr-defined]
_ENDPOINTS = Query(select(WebhookEndpoint.id, WebhookEndpoint.events).where(col(WebhookEndpoint.removed_at).is_(None)))


def enqueue(connection: Connection, events: Sequence[Mapping[str, Any]], now: str, *, fresh: bool = True) -> int:
    """One pending delivery per event and active endpoint that wants it; returns how many. `fresh`: the
    events were just written (no delivery can exist yet); else existing deliveries are left as they are."""
    endpoints = _ENDPOINTS.rows_in(connection)
    if not endpoints:
        return 0
    existing: set[tuple[str, str]] = set() if fresh else set(connection.execute(
        select(WebhookDelivery.event_id, WebhookDelivery.endpoint_id)
        .where(col(WebhookDelivery.event_id).in_([e["id"] for e in events]))).all())
    rows = [{"event_id": e["id"], "endpoint_id": endpoint, "status": "pending", "attempts": 0,
             "next_attempt_at": now} for e in events for endpoint, wanted in endpoints
            if wants(wanted, e["type"]) and (e["id"], endpoint) not in existing]
    if rows:
        connection.execute(insert(WebhookDelivery.__table__), rows)  # type: ignore[attr-defined]
    return len(rows)


def wants(events: str, event_type: str) -> bool:
    """Whether an endpoint subscribed to `events` ("*" or space-separated types) wants `event_type`."""
    chosen = events.split()
    return "*" in chosen or event_type in chosen


@dataclass
class _Built:
    events: list[dict[str, Any]] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)


_TOTALS = Query(select(JournalLine.currency, func.sum(JournalLine.amount))
                .where(col(JournalLine.intent_id) == bindparam("intent_id")).group_by(JournalLine.currency))


class _Builder:
    """Turns a transaction's notes into event payloads, reading what the rows alone do not say (intent
    totals, invoice numbers) in the same transaction."""

    def __init__(self, connection: Connection, notes: _Notes, now: str) -> None:
        self.connection = connection
        self.notes = notes
        self.now = now
        self.result = _Built()

    def _rows(self, table: str) -> list[Any]:
        return [n["row"] for n in self.notes.inserted.values() if n["table"] == table]

    def _event(self, event_type: str, data: dict[str, Any]) -> None:
        self.result.events.append({"id": f"evt_{uuid4().hex}", "type": event_type, "occurred_at": self.now,
                                   "data": data})

    def build(self) -> _Built:
        self._intents()
        for imported in self.notes.imported:
            self._event("import.posted", imported)
        self._invoices()
        for case in self._rows("review_case"):
            self._event("review_case.created", {"review_case_id": _get(case, "id"),
                                                "document_id": _get(case, "document_id"),
                                                "queue_state": _get(case, "queue_state")})
        for case in self.notes.decided.values():
            self._event("review_case.decided", {"review_case_id": case.id, "decision": case.queue_state,
                                                "invoice_id": case.invoice_id, "intent_id": case.intent_id,
                                                "decided_by": case.decided_by})
        for period_event in self._rows("period_event"):
            if _get(period_event, "action") == "approve_lock":
                self._event("period.locked", {"period": _get(period_event, "period"),
                                              "closing_hash": _get(period_event, "closing_hash"),
                                              "head_journal_number": _get(period_event, "head_journal_number"),
                                              "approved_by": _get(period_event, "actor_id")})
        for batch in self._rows("bank_import_batch"):
            self._event("bank_import.finished", {
                name: _get(batch, name) for name in ("bank_account_id", "format", "statement_id", "total_rows",
                                                     "imported", "skipped_duplicates", "error_count")}
                | {"batch_id": _get(batch, "id"), "document_id": _get(batch, "document_id")})
        return self.result

    def _intents(self) -> None:
        intents = self._rows("intent")
        if not intents:
            return
        ids = [_get(i, "id") for i in intents]
        totals: dict[tuple[str, str], int] = {}
        if len(ids) == 1:  # a single booking: the common write, with a statement compiled once
            totals.update(((ids[0], currency), total) for currency, total in _TOTALS.rows_in(self.connection,
                                                                                              intent_id=ids[0]))
        for part in _parts(ids) if len(ids) > 1 else ():
            totals.update({(intent_id, currency): total for intent_id, currency, total in self.connection.execute(
                select(JournalLine.intent_id, JournalLine.currency, func.sum(JournalLine.amount))
                .where(col(JournalLine.intent_id).in_(part))
                .group_by(JournalLine.intent_id, JournalLine.currency))})
        reversed_ids = [_get(i, "reverses_intent_id") for i in intents if _get(i, "reverses_intent_id")]
        if reversed_ids:  # a Storno reopens the invoice it posted or the items its payment settled
            invoices = self.connection.execute(
                select(Invoice.id, Invoice.direction, Invoice.party_id).where(or_(
                    col(Invoice.intent_id).in_(reversed_ids),
                    col(Invoice.id).in_(select(Settlement.invoice_id)
                                        .where(col(Settlement.payment_intent_id).in_(reversed_ids)))))).all()
            for invoice_id, direction, party_id in invoices:
                self.result.topics.update({f"invoice:{invoice_id}", f"open_items:{direction}", f"party:{party_id}"})
        for intent in intents:
            intent_id, currency = _get(intent, "id"), _get(intent, "currency")
            booking_date = str(_get(intent, "booking_date"))
            data: dict[str, Any] = {"intent_id": intent_id, "category": _get(intent, "category"),
                                    "booking_date": booking_date, "period": booking_date[:7], "currency": currency,
                                    "total_amount": format_amount(totals.get((intent_id, currency), 0), currency),
                                    "external_reference": _get(intent, "external_reference")}
            original = _get(intent, "reverses_intent_id")
            if original:
                self._event("intent.reversed", {**data, "reversed_intent_id": original})
            else:
                self._event("intent.posted", data)

    def _invoices(self) -> None:
        for invoice in self._rows("invoice"):
            currency = _get(invoice, "currency")
            self._event("invoice.created", {
                "invoice_id": _get(invoice, "id"), "intent_id": _get(invoice, "intent_id"),
                "direction": _get(invoice, "direction"), "type": _get(invoice, "type"),
                "invoice_number": _get(invoice, "invoice_number"), "party_id": _get(invoice, "party_id"),
                "invoice_date": str(_get(invoice, "invoice_date")), "due_date": str(_get(invoice, "due_date")),
                "currency": currency, "total_net": format_amount(_get(invoice, "total_net"), currency),
                "total_tax": format_amount(_get(invoice, "total_tax"), currency),
                "total_gross": format_amount(_get(invoice, "total_gross"), currency)})
        settlements = self._rows("settlement")
        if not settlements:
            return
        invoice_ids = sorted({_get(s, "invoice_id") for s in settlements})
        invoices = {row.id: row for row in self.connection.execute(
            select(Invoice).where(col(Invoice.id).in_(invoice_ids))).all()}
        reversed_payments = select(Intent.reverses_intent_id).where(col(Intent.reverses_intent_id).is_not(None))
        live = (select(Settlement.invoice_id, func.sum(Settlement.amount))
                .where(col(Settlement.invoice_id).in_(invoice_ids))
                .where(col(Settlement.payment_intent_id).not_in(reversed_payments))
                .group_by(Settlement.invoice_id))
        settled = dict(self.connection.execute(live).all())
        for settlement in settlements:
            invoice = invoices[_get(settlement, "invoice_id")]
            self.result.topics.update({f"open_items:{invoice.direction}", f"party:{invoice.party_id}"})
            remaining = max(invoice.total_gross - settled.get(invoice.id, 0), 0)
            self._event("invoice.settled", {
                "invoice_id": invoice.id, "invoice_number": invoice.invoice_number, "direction": invoice.direction,
                "party_id": invoice.party_id, "settlement_id": _get(settlement, "id"),
                "payment_intent_id": _get(settlement, "payment_intent_id"), "currency": invoice.currency,
                "amount": format_amount(_get(settlement, "amount"), invoice.currency),
                "remaining_amount": format_amount(remaining, invoice.currency), "fully_settled": remaining == 0})


_TOPIC_KEYS = {"intent_id": "intent", "reversed_intent_id": "intent", "invoice_id": "invoice", "party_id": "party",
               "review_case_id": "review_case", "bank_account_id": "bank_account"}


def topics_of(event: Mapping[str, Any]) -> set[str]:
    """The topics an event names, for writes another process committed (their rows are not at hand)."""
    data = event["data"]
    found = {f"{topic}:{data[key]}" for key, topic in _TOPIC_KEYS.items() if data.get(key)}
    if event["type"].startswith("invoice."):
        found.add(f"open_items:{data['direction']}")
    if event["type"] == "period.locked":
        found.add(f"period:{data['period']}")
    if event["type"] == "import.posted":  # the intent list changed (its own topics name every intent)
        found.update({f"intent:{data['intent_id_first']}", f"intent:{data['intent_id_last']}"})
    return found


async def events_after(session: AsyncSession, seq: int, limit: int = 500) -> list[tuple[int, dict[str, Any]]]:
    """Up to `limit` outbox events after `seq`, oldest first, with their seq."""
    rows = (await session.exec(select(OutboxEvent.seq, OutboxEvent.payload).where(col(OutboxEvent.seq) > seq)
                               .order_by(col(OutboxEvent.seq)).limit(limit))).all()
    return [(int(n or 0), json.loads(payload)) for n, payload in rows]


async def last_seq(session: AsyncSession) -> int:
    return int((await session.exec(select(func.max(OutboxEvent.seq)))).one() or 0)


def _parts(values: list[str], size: int = 500) -> list[list[str]]:
    """A bulk write's ids in parts small enough for one IN list."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)

