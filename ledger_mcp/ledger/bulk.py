"""Many bookings in one transaction: atomic batches (post_bookings) and bulk imports.

Each booking goes through the same checks and splitting as post_booking (posting.prepare_booking),
with accounts, tax codes and period states read once for the whole run instead of once per booking.
The journal chain and the record history are extended in memory with their modules' own hash
functions, and the rows are inserted with one executemany per table and part. All or nothing: when
any booking is refused, every refusal is reported, named by its index, and nothing is written.

Idempotency: a booking whose idempotency_key was already posted with the same request is replayed
(not written again). A batch key names the whole batch: booking i without a key of its own gets
`<batch key>#<i>`, so a repeated batch is a replay of every booking, and a batch key reused for a
different batch is an IDEMPOTENCY_CONFLICT.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, periods, records
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import (
    BatchRefused,
    DuplicateSuspected,
    IdempotencyConflict,
    LedgerError,
    PeriodSoftLocked,
    ValidationFailed,
)
from ledger_mcp.ledger.fiscal import period_of
from ledger_mcp.ledger.models import Intent, JournalLine
from ledger_mcp.ledger.posting import (
    BookingContext,
    BookingRequest,
    PostingResult,
    PreparedBooking,
    Row,
    booking_context,
    chain_lines,
    duplicate_suspected,
    inserted_intents,
    intent_columns,
    posting_result,
    prepare_booking,
    prepared_intent,
    replay_booking,
    request_hash,
)
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.statements import RowInsert

MAX_BATCH = 100
"""Bookings per post_bookings call (seed 003: 1-100 entries per batch)."""
_PART = 2000  # intents per insert: hashed while the part before is being inserted
_QUERY_CHUNK = 500  # values per IN (...) list, well below every database's parameter limit


@dataclass
class BulkOutcome:
    """What a bulk write did. results: one per request in order (only when asked for);
    written / replayed: counts of new and replayed intents; lines: journal lines written."""

    written: int = 0
    replayed: int = 0
    lines: int = 0
    results: list[PostingResult] = field(default_factory=list)


class EntryError(BaseModel):
    """Why one booking of a batch was refused."""

    index: int = Field(description="1-based position of the booking in the batch.")
    code: str
    message: str
    hint: str


def entry_keys(requests: list[BookingRequest], batch_key: str | None) -> list[BookingRequest]:
    """The requests with `<batch key>#<i>` as idempotency_key where they have none of their own."""
    if not batch_key:
        return requests
    return [r if r.idempotency_key else r.model_copy(update={"idempotency_key": f"{batch_key}#{i}"})
            for i, r in enumerate(requests, start=1)]


async def post_many(session: AsyncSession, requests: list[BookingRequest], provenance: Provenance, *,
                    batch_key: str | None = None, with_results: bool = True,
                    allow_duplicates: bool = False, summary: Mapping[str, Any] | None = None) -> BulkOutcome:
    """Post every request in one transaction (the caller's), or raise BATCH_REFUSED naming every refused
    request by index and write nothing. `with_results`: build a PostingResult per request (a tool's
    answer); imports only count. `allow_duplicates` (imports): book suspected duplicates and record
    that on them, as skip_duplicate_check does, without changing the requests (their keys replay).
    `summary` (imports): one import.posted event with these fields for what the call wrote, instead of
    an intent.posted event per intent."""
    with collector_paused():
        return await _post_many(session, requests, provenance, batch_key, with_results, allow_duplicates, summary)


@contextmanager
def collector_paused() -> Iterator[None]:
    """A run allocates hundreds of thousands of rows that form no reference cycles; the garbage collector
    would only walk them again and again (a fifth of the run). Paused for the run, then restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _post_many(session: AsyncSession, requests: list[BookingRequest], provenance: Provenance,
                     batch_key: str | None, with_results: bool, allow_duplicates: bool,
                     summary: Mapping[str, Any] | None) -> BulkOutcome:
    """The run in parts: each part is checked (post_booking's rules, duplicates, periods) and, while no
    booking has been refused, hashed and handed to the driver, which inserts it while the next part is
    checked. A refusal stops the writing; the checks go on to name every refusal, and the caller's
    savepoint takes back what was inserted."""
    requests = entry_keys(requests, batch_key)
    context = await booking_context(session)
    errors: dict[int, LedgerError] = {}
    replays = await _replays(session, requests, batch_key, errors, with_results)
    todo = [i for i in range(1, len(requests) + 1) if i not in replays and i not in errors]
    checks = _Checks(session, requests, errors)
    writer = _Writer(session, context, provenance.columns(), utc_now())
    try:
        for start in range(0, len(todo), _PART):
            prepared: dict[int, PreparedBooking] = {}
            for i in todo[start:start + _PART]:
                try:
                    prepared[i] = await prepare_booking(session, requests[i - 1], context)
                except LedgerError as exc:
                    errors[i] = exc
            duplicates = await checks.duplicates(prepared, writer.ids)
            if not allow_duplicates:
                errors.update(duplicates)
            intents = {i: prepared_intent(p, writer.provenance, writer.created_at, i in duplicates)
                       for i, p in prepared.items() if i not in errors}
            await checks.periods(intents)
            if not errors:
                await writer.add(intents, prepared)
    finally:
        await writer.settle()
    if errors:
        raise _refused(errors, len(requests))
    await writer.finish(summary)
    intents, lines = writer.intents, writer.lines
    outcome = BulkOutcome(written=len(intents), replayed=len(replays), lines=sum(len(v) for v in lines.values()))
    if with_results:
        for i in range(1, len(requests) + 1):
            replayed = replays.get(i)
            outcome.results.append(replayed or posting_result(cast(Intent, intents[i]),
                                                               cast(list[JournalLine], lines[i]), context.base))
    return outcome


async def _replays(session: AsyncSession, requests: list[BookingRequest], batch_key: str | None,
                   errors: dict[int, LedgerError], with_results: bool) -> dict[int, PostingResult | None]:
    """Requests already posted under their idempotency key (index -> the earlier result, None unless
    asked for); a key used twice in the batch or for a different request goes into `errors`."""
    by_key: dict[str, int] = {}
    for i, request in enumerate(requests, start=1):
        key = request.idempotency_key
        if key and key in by_key:
            errors[i] = ValidationFailed(f"idempotency_key {key!r} is used by bookings {by_key[key]} and {i}.",
                                         hint="Give every booking of a batch its own key (or none).")
        elif key:
            by_key[key] = i
    found: dict[str, str | None] = {}
    keys = list(by_key)
    if batch_key:
        keys.append(f"{batch_key}#{len(requests) + 1}")
    for start in range(0, len(keys), _QUERY_CHUNK):
        chunk = keys[start:start + _QUERY_CHUNK]
        rows = await session.exec(select(Intent.idempotency_key, Intent.request_hash)
                                  .where(col(Intent.idempotency_key).in_(chunk)))
        found.update((key, request_hash) for key, request_hash in rows if key)
    if batch_key:
        derived = [i for i, r in enumerate(requests, start=1) if r.idempotency_key == f"{batch_key}#{i}"]
        seen = [i for i in derived if f"{batch_key}#{i}" in found]
        if seen and (len(seen) != len(derived) or f"{batch_key}#{len(requests) + 1}" in found):
            raise IdempotencyConflict(
                f"idempotency_key {batch_key!r} was already used for a different batch.",
                hint="Use a new idempotency_key for a new batch, or resend exactly the original batch.")
    replays: dict[int, PostingResult | None] = {}
    for key, i in by_key.items():
        if key not in found or i in errors:
            continue
        if not with_results and found[key] == request_hash(requests[i - 1]):
            replays[i] = None  # a re-import: nothing to read back
            continue
        try:  # the earlier request's hash decides: replay, or IDEMPOTENCY_CONFLICT worded by posting
            replays[i] = await replay_booking(session, requests[i - 1])
        except LedgerError as exc:
            errors[i] = exc
    return replays


_REVERSAL = aliased(Intent)
_LIVE_FINGERPRINTS = (select(Intent.fingerprint, Intent.id, Intent.created_at)
                      .outerjoin(_REVERSAL, col(_REVERSAL.reverses_intent_id) == Intent.id)
                      .where(Intent.category != "reversal", col(_REVERSAL.id).is_(None)))


class _Checks:
    """The checks that look beyond one booking, part by part: duplicates against the ledger and the
    bookings before in the run, and the period guard, asked once per period."""

    def __init__(self, session: AsyncSession, requests: list[BookingRequest], errors: dict[int, LedgerError]):
        self.session = session
        self.requests = requests
        self.errors = errors
        self.first: dict[str, int] = {}  # fingerprint -> the first checked booking with it
        self.periods_seen: dict[str, LedgerError | None] = {}

    async def duplicates(self, prepared: dict[int, PreparedBooking], written: set[str]) -> dict[int, LedgerError]:
        """post_booking's duplicate check for a part (one query per chunk of fingerprints; the intents this
        run wrote already, `written`, are bookings before it in the run). The suspected duplicates."""
        checked = {i: p.fingerprint for i, p in prepared.items() if not p.request.skip_duplicate_check}
        fingerprints = sorted(set(checked.values()))
        existing: dict[str, tuple[str, str]] = {}
        for start in range(0, len(fingerprints), _QUERY_CHUNK):
            rows = await self.session.exec(_LIVE_FINGERPRINTS.where(
                col(Intent.fingerprint).in_(fingerprints[start:start + _QUERY_CHUNK])))
            existing.update((f, (intent_id, created_at)) for f, intent_id, created_at in rows
                            if intent_id not in written)
        found: dict[int, LedgerError] = {}
        for i, fingerprint in checked.items():
            if i in self.errors:
                pass
            elif fingerprint in existing:
                found[i] = duplicate_suspected(*existing[fingerprint])
            elif fingerprint in self.first:
                found[i] = DuplicateSuspected(
                    f"Booking {i} has the same date, accounts, amounts and reference as booking "
                    f"{self.first[fingerprint]} of this batch.",
                    hint="Leave the repetition out; only if it is really a second, separate business event, send "
                         "it with skip_duplicate_check=true.")
            self.first.setdefault(fingerprint, i)
        return found

    async def periods(self, intents: dict[int, Row]) -> None:
        """The period guard of every write, asked once per period: a locked period refuses each of its
        bookings; a soft-locked one takes those that acknowledge it (each recorded by the guard)."""
        for i, intent in intents.items():
            period = period_of(intent.booking_date)
            if period not in self.periods_seen:
                try:
                    await periods.guard_write(self.session, cast(Intent, intent), acknowledge_soft_lock=False)
                    self.periods_seen[period] = None
                except LedgerError as exc:
                    self.periods_seen[period] = exc
            refusal = self.periods_seen[period]
            if refusal is None:
                continue
            if isinstance(refusal, PeriodSoftLocked) and self.requests[i - 1].acknowledge_soft_lock:
                await periods.guard_write(self.session, cast(Intent, intent), acknowledge_soft_lock=True)
            else:
                self.errors[i] = refusal


class _Writer:
    """Hashes the intents and their lines at the chain head, in request order, and inserts them with one
    executemany per table and part: while the driver inserts one part (outside the GIL), the next is
    checked and hashed."""

    def __init__(self, session: AsyncSession, context: BookingContext, provenance: dict[str, Any],
                 created_at: str) -> None:
        self.session = session
        self.context = context
        self.provenance = provenance
        self.created_at = created_at
        self.intents: dict[int, Row] = {}
        self.lines: dict[int, list[Row]] = {}
        self.ids: set[str] = set()
        self.head: tuple[int, str] | None = None
        self.history: tuple[int, str] = (0, records.GENESIS_HASH)
        self.first_number = 0
        self.pending: asyncio.Future[None] | None = None

    async def add(self, intents: dict[int, Row], prepared: dict[int, PreparedBooking]) -> None:
        if self.head is None:
            self.head = await chain.head(self.session)
            self.first_number = self.head[0] + 1
            found = (await (await self.session.connection()).execute(records.HEAD)).first()
            self.history = (found[0], found[1]) if found else self.history
        number, prev = self.head
        base = self.context.base
        for i, intent in intents.items():
            intent.content_hash = chain.intent_hash(intent)
            self.lines[i], number, prev = chain_lines(intent, prepared[i].pairs, base, prepared[i].rate, number, prev)
        self.head = (number, prev)
        self.intents.update(intents)
        self.ids.update(intent.id for intent in intents.values())
        conn = await self.session.connection()
        intent_insert, line_insert = RowInsert.of(conn, Intent), RowInsert.of(conn, JournalLine)
        intent_rows = [intent_insert.row(intent) for intent in intents.values()]
        line_rows = [line_insert.row(line) for i in intents for line in self.lines[i]]
        event_rows, self.history = records.insert_events(
            "intent", [intent_columns(intent) for intent in intents.values()], self.history, self.created_at)
        await self.settle()
        self.pending = asyncio.ensure_future(_insert(conn, (intent_insert.sql, intent_rows),
                                                     (line_insert.sql, line_rows),
                                                     (records.EVENT_INSERT.sql(conn.dialect), event_rows)))
        await asyncio.sleep(0)  # hand the part to the driver before checking the next one

    async def settle(self) -> None:
        """Wait for the part being inserted."""
        if self.pending:
            pending, self.pending = self.pending, None
            await pending

    async def finish(self, summary: Mapping[str, Any] | None) -> None:
        """The Core inserts bypass the ORM's flush, which records history events and chain heads: record them."""
        if not self.intents or self.head is None:
            return
        if summary is not None:
            summary = {**summary, "journal_number_first": self.first_number, "journal_number_last": self.head[0]}
        await self.session.run_sync(inserted_intents, list(self.intents.values()), self.head, summary, self.history)


async def _insert(conn: AsyncConnection, *parts: tuple[str, list[Any]]) -> None:
    for sql, rows in parts:
        if rows:
            await conn.exec_driver_sql(sql, rows)


def _refused(errors: dict[int, LedgerError], size: int) -> BatchRefused:
    listed = [EntryError(index=i, code=e.code, message=e.message, hint=e.hint).model_dump()
              for i, e in sorted(errors.items())]
    first = listed[0]
    return BatchRefused(
        f"{len(errors)} of {size} bookings refused; nothing was written. First: booking {first['index']}: "
        f"{first['message']}",
        hint="Fix the bookings listed in details.errors (index = position in the batch, from 1) and send the "
             "whole batch again.",
        details={"errors": listed})


class BatchEntry(BaseModel):
    """One booking of a batch as written (or replayed)."""

    intent_id: str
    booking_date: str
    total_amount: str
    currency: str
    journal_number_first: int
    journal_number_last: int
    replayed: bool


class BatchResult(BaseModel):
    """What post_bookings wrote, in the order of the request."""

    total_created: int = Field(description="Intents written by this call.")
    total_replayed: int = Field(description="Intents an earlier call with the same key had already written.")
    intents: list[BatchEntry]


async def post_batch(session: AsyncSession, requests: list[BookingRequest], provenance: Provenance,
                     batch_key: str | None = None) -> BatchResult:
    """post_bookings: 1-MAX_BATCH bookings, all or nothing."""
    if not 1 <= len(requests) <= MAX_BATCH:
        raise ValidationFailed(f"A batch has 1-{MAX_BATCH} bookings, not {len(requests)}.",
                               hint=f"Split it into batches of at most {MAX_BATCH}.")
    outcome = await post_many(session, requests, provenance, batch_key=batch_key)
    return BatchResult(total_created=outcome.written, total_replayed=outcome.replayed, intents=[
        BatchEntry(intent_id=r.intent_id, booking_date=r.booking_date, total_amount=r.total_amount,
                   currency=r.currency, journal_number_first=r.journal_number_first,
                   journal_number_last=r.journal_number_last, replayed=r.replayed) for r in outcome.results])
