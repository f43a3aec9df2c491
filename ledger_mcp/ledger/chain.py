"""The GoBD hash chain.

Every journal line carries `content_hash` = sha256 over a canonical JSON payload of all its stored
fields (including the hash of its intent), `prev_hash` = the `audit_hash` of the line before it,
and `audit_hash` = sha256(prev_hash + content_hash). Journal numbers are gapless from 1. Changing
any stored field of any line or intent, removing or inserting a line, breaks the chain at that
point, and `verify_chain` names the first broken link.

The payload is versioned (`hash_version`) so that a later payload format can coexist with lines
hashed under an earlier one.

Locking a period seals it with a `closing_hash` over the chain head at locking time and the
period's totals; `verify_chain` recomputes those totals from the journal, so a locked period whose
lines were changed (even with every hash recomputed) or whose last sealed lines were removed is
named. Period events (the lock history) form a hash chain of their own.

Everything else that shapes the books is covered by the record history (ledger_mcp.ledger.records),
and the heads of all three chains are anchored outside the database (ledger_mcp.ledger.anchor);
`verify_chain` checks both and reports its coverage, table by table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from hashlib import sha256
from operator import attrgetter
from pathlib import Path
from typing import Any
from typing import cast as cast_type

from sqlalchemy import Boolean, Date, Integer, String, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import anchor as anchoring
from ledger_mcp.ledger import records, scan
from ledger_mcp.ledger.fiscal import period_bounds, period_of
from ledger_mcp.ledger.models import Intent, JournalLine, PeriodEvent
from ledger_mcp.ledger.statements import Query

HASH_VERSION = 3
"""Payload version of new journal lines, and of their intent's hash. Version 3 hashes a JSON array of the
fields in a fixed order (cheap to build, no key sorting). Versions 1 and 2 hashed a JSON object with sorted
keys (RECORD_VERSION for the intent): version 2 added base_amount and exchange_rate; version 1 lines (written
before foreign currency) verify under their own payload, with base_amount equal to amount. A line keeps the
version it was written with, and its intent's hash follows its lines' version."""
RECORD_VERSION = 1
"""Payload version of intents hashed with version 1 and 2 lines, period events and closing hashes."""
GENESIS_HASH = "0" * 64

PROVENANCE_FIELDS = ("surface", "channel", "actor_type", "actor_label", "actor_key_prefix",
                      "client_name", "client_version")
_INTENT_FIELDS = ("id", "category", "booking_date", "description", "currency", "external_reference",
                  "idempotency_key", "document_id", "custom_metadata", "reverses_intent_id",
                  "reversal_reason", "duplicate_override", "line_count", "created_at", *PROVENANCE_FIELDS)
_LINE_FIELDS = ("journal_number", "intent_id", "line_index", "booking_date", "debit_account",
                "credit_account", "amount", "currency", "tax_code", "line_role", "description",
                "created_at", "hash_version", *PROVENANCE_FIELDS)
_LINE_FIELDS_V2 = (*_LINE_FIELDS, "base_amount", "exchange_rate")
_LINE_FIELDS_BY_VERSION = {1: _LINE_FIELDS, 2: _LINE_FIELDS_V2, 3: _LINE_FIELDS_V2}
# Values as every path reads them: dates as ISO text, booleans as 0/1 (what SQLite stores).
_get_intent_values = attrgetter(*_INTENT_FIELDS)
_get_line_values = attrgetter(*_LINE_FIELDS_V2)
_DUPLICATE_OVERRIDE = _INTENT_FIELDS.index("duplicate_override")


def _iso(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a stored value")


# Built once: json.dumps with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_ARRAY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_iso)


def canonical_json(data: Any) -> str:
    return _CANONICAL.encode(data)


def sha256_hex(text: str) -> str:
    return sha256(text.encode("utf-8")).hexdigest()


def _plain(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(int(v) if isinstance(v, bool) else v for v in values)


def intent_hash(intent: Any, version: int = HASH_VERSION) -> str:
    """The hash of an intent's fields, in the payload of its lines' hash version."""
    return _intent_digest(_plain(_get_intent_values(intent)), version)


def _intent_digest(values: Sequence[Any], version: int) -> str:
    if version >= 3:
        return sha256(_ARRAY.encode([version, *values]).encode()).hexdigest()
    payload = dict(zip(_INTENT_FIELDS, values, strict=True))
    payload["duplicate_override"] = bool(values[_DUPLICATE_OVERRIDE])
    return sha256_hex(canonical_json({"v": RECORD_VERSION, **payload}))


def line_content_hash(line: Any, intent_content_hash: str) -> str:
    return _line_digest(_get_line_values(line), intent_content_hash)


_VERSION_AT = _LINE_FIELDS_V2.index("hash_version")
_AMOUNT_AT, _BASE_AT, _RATE_AT = (_LINE_FIELDS_V2.index(f) for f in ("amount", "base_amount", "exchange_rate"))


def _line_digest(values: Sequence[Any], intent_content_hash: str) -> str:
    """`values`: the line's fields in _LINE_FIELDS_V2 order. Raises ValueError for a payload that cannot be."""
    version = values[_VERSION_AT]
    if version == 3:
        return sha256(_ARRAY.encode((*values, intent_content_hash)).encode()).hexdigest()
    fields = _LINE_FIELDS_BY_VERSION.get(version)
    if fields is None:
        raise ValueError(f"unknown hash_version {version}")
    if version == 1 and (values[_BASE_AT] != values[_AMOUNT_AT] or values[_RATE_AT] is not None):
        raise ValueError("a version 1 line has no exchange rate and its base_amount equals its amount "
                         "(line was changed)")
    payload = dict(zip(fields, values[:len(fields)], strict=True))
    return sha256_hex(canonical_json({**payload, "intent_hash": intent_content_hash}))


def audit_hash(prev_hash: str, content_hash: str) -> str:
    return sha256_hex(prev_hash + content_hash)


_HEAD = Query(select(JournalLine.journal_number, JournalLine.audit_hash)
              .order_by(col(JournalLine.journal_number).desc()).limit(1))


async def head(session: AsyncSession) -> tuple[int, str]:
    """(last journal number, its audit hash), or (0, genesis) for an empty journal."""
    row = await _HEAD.first(session)
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def seal_line(line: JournalLine, intent_content_hash: str, prev_hash: str) -> None:
    """Fill in the hash fields of a new line that follows `prev_hash`."""
    line.hash_version = HASH_VERSION
    line.content_hash = line_content_hash(line, intent_content_hash)
    line.prev_hash = prev_hash
    line.audit_hash = audit_hash(prev_hash, line.content_hash)


@dataclass(frozen=True)
class ChainReport:
    """The outcome of `verify_chain`.

    ok: every check passed. lines_checked / intents_checked: how much was read.
    head_journal_number / head_hash: the last line's number and audit hash.
    first_break: the first broken link, {journal_number, intent_id, period, table, row, column, problem},
    or None; `period` names the accounting period the broken line or closing belongs to, `table`, `row`
    (its primary key) and `column` the changed row (as far as known).
    locked_periods_checked: locked periods whose closing hash was recomputed.
    coverage: rows checked per table (document_file: stored files hashed).
    anchors: each anchor checked (anchor log, checkpoint): its source and, per chain, the anchored and
    the database's newest number.
    """

    ok: bool
    lines_checked: int
    intents_checked: int
    head_journal_number: int
    head_hash: str
    first_break: dict[str, Any] | None
    locked_periods_checked: int = 0
    coverage: dict[str, int] = field(default_factory=dict)
    anchors: list[dict[str, Any]] = field(default_factory=list)


def _located(problem: dict[str, Any]) -> dict[str, Any]:
    """A break in the common shape: journal and period fields plus table, row and column."""
    table = problem.get("table") or ("journal_line" if problem.get("journal_number") else
                                     "intent" if problem.get("intent_id") else
                                     "period_event" if problem.get("period") else None)
    row = problem.get("row") or problem.get("journal_number") or problem.get("intent_id")
    return {"journal_number": None, "intent_id": None, "period": None, "column": None, **problem,
            "table": table, "row": row}


async def verify_chain(session: AsyncSession, *, documents_dir: Path | None = None,
                       anchors: Sequence[anchoring.Anchor] = (), batch_size: int = 5000) -> ChainReport:
    """Check the journal chain and the locked periods (`verify_journal`), the record history and, when
    `documents_dir` is given, every stored document file (ledger_mcp.ledger.records), then each anchor
    (ledger_mcp.ledger.anchor). Stops at the first broken link."""
    report = await verify_journal(session, batch_size=batch_size)
    coverage = {"journal_line": report.lines_checked, "intent": report.intents_checked,
                "period_event": (await session.exec(select(func.count()).select_from(PeriodEvent))).one()}
    if report.first_break:
        return replace(report, first_break=_located(report.first_break), coverage=coverage)
    history = await records.verify(session, documents_dir)
    coverage.update(history.coverage)
    if history.problem:
        return replace(report, ok=False, first_break=_located(history.problem), coverage=coverage)
    checked = []
    for anchor in anchors:
        result, problem = await anchoring.check(session, anchor)
        checked.append(result)
        if problem:
            return replace(report, ok=False, first_break=_located(problem), coverage=coverage, anchors=checked)
    return replace(report, coverage=coverage, anchors=checked)


async def verify_journal(session: AsyncSession, *, batch_size: int = scan.BATCH) -> ChainReport:
    """Recompute every hash from the stored fields in journal order, then every locked period's closing hash.
    Stops at the first broken link.

    Memory stays flat: the journal is read in batches with each intent's fields beside its first line, and
    only the current link (previous hash, current intent) is kept. An intent's lines are consecutive (each
    write appends all of them at the chain head), so its line count is checked when the next intent starts."""
    events = list((await session.exec(select(PeriodEvent).order_by(col(PeriodEvent.seq)))).all())
    locked = {e.period for e in events if e.action == "approve_lock"}
    expected, prev = 1, GENESIS_HASH
    intents = 0
    intent_id: str | None = None
    intent_digest, line_count, seen = "", 0, 0

    def broken(problem: str, number: int | None, intent: str | None, stored_date: Any) -> ChainReport:
        return ChainReport(False, expected - 1, intents, expected - 1, prev, {
            "journal_number": number, "intent_id": intent, "period": _raw_period(stored_date),
            "problem": _in_locked(problem, stored_date, locked)})

    encode, content_at, prev_at, audit_at = _ARRAY.encode, _CONTENT, _PREV, _AUDIT  # locals: read per line
    number_at, intent_at, version_at = _NUMBER, _INTENT, _VERSION
    async with aclosing(scan.batches(session, journal_query(session.get_bind().dialect.name), batch_size)) as rows:
        async for batch in rows:
            for row in batch:
                if row[number_at] != expected:
                    return broken(f"gap or reorder: expected journal number {expected}, found {row[number_at]}",
                                  row[number_at], row[intent_at], row[_DATE])
                if row[intent_at] != intent_id:  # the first line of the next intent
                    if seen != line_count:
                        return broken(_short(seen, line_count), None, intent_id, None)
                    stored = row[_JOINED:] if row[_JOINED] is not None else await _intent_row(session, row[intent_at])
                    if stored is None:
                        return broken("line belongs to no stored intent", row[number_at], row[intent_at],
                                      row[_DATE])
                    intents += 1
                    intent_id, line_count, seen = row[intent_at], stored[_LINE_COUNT], 0
                    intent_digest = _intent_check(stored, row[version_at])
                    if intent_digest != stored[_INTENT_CONTENT_HASH]:
                        return broken("intent fields do not match their content_hash (intent was changed)",
                                      None, intent_id, stored[_INTENT_DATE])
                if row[prev_at] != prev:
                    return broken("prev_hash does not match the previous line's audit_hash", row[number_at],
                                  intent_id, row[_DATE])
                try:  # version 3 (_line_digest) inlined: this runs once per line
                    content = (sha256(encode((*row[:content_at], intent_digest)).encode()).hexdigest()
                               if row[version_at] == 3 else _line_digest(row[:content_at], intent_digest))
                except (ValueError, TypeError) as exc:
                    return broken(str(exc), row[number_at], intent_id, row[_DATE])
                if content != row[content_at]:
                    return broken("line fields do not match its content_hash (line was changed)", row[number_at],
                                  intent_id, row[_DATE])
                prev = sha256((prev + content).encode()).hexdigest()
                if prev != row[audit_at]:
                    prev = row[prev_at]  # report the link before this line
                    return broken("audit_hash does not match sha256(prev_hash + content_hash)", row[number_at],
                                  intent_id, row[_DATE])
                expected += 1
                seen += 1
    if seen != line_count:
        return broken(_short(seen, line_count), None, intent_id, None)
    stray = await _intent_without_lines(session, intents)
    if stray:
        return broken(stray[1], None, stray[0], None)
    closing_break = await _closing_break(session, events)
    if closing_break:
        return ChainReport(False, expected - 1, intents, expected - 1, prev, closing_break, len(locked))
    return ChainReport(True, expected - 1, intents, expected - 1, prev, None, len(locked))


def _intent_check(stored: Sequence[Any], version: Any) -> str:
    """The intent's recomputed hash in the payload of its first line's version. When that does not match
    but the other payload does, the line's version was changed, not the intent: the line's hash names it."""
    values, digest = stored[:_INTENT_CONTENT_HASH], stored[_INTENT_CONTENT_HASH]
    recomputed = _intent_digest(values, version if version in _LINE_FIELDS_BY_VERSION else HASH_VERSION)
    if recomputed != digest:
        other = _intent_digest(values, RECORD_VERSION if version == HASH_VERSION else HASH_VERSION)
        return other if other == digest else recomputed
    return recomputed


def _short(seen: int, line_count: int) -> str:
    return f"intent has {seen} of its {line_count} journal lines (lines were removed)"


# The journal query's row: the line's fields (_LINE_FIELDS_V2 order) and hashes, then, on an intent's first
# line only, the intent's fields (_INTENT_FIELDS order) and content_hash. Dates as ISO text, booleans as 0/1.
_CONTENT = len(_LINE_FIELDS_V2)
_PREV, _AUDIT, _JOINED = _CONTENT + 1, _CONTENT + 2, _CONTENT + 3
_NUMBER, _INTENT, _DATE, _VERSION = (_LINE_FIELDS_V2.index(f) for f in
                                     ("journal_number", "intent_id", "booking_date", "hash_version"))
_INTENT_CONTENT_HASH = len(_INTENT_FIELDS)
_LINE_COUNT, _INTENT_DATE = _INTENT_FIELDS.index("line_count"), _INTENT_FIELDS.index("booking_date")


def _stored(column: Any, dialect: str) -> Any:
    """A column as the hashes see it: dates as ISO text (on SQLite the stored text, so that a tampered,
    invalid date fails the hash, not the read; PostgreSQL's plain text cast would follow DateStyle)."""
    if isinstance(column.type, Date):
        return cast(column, String) if dialect == "sqlite" else func.to_char(column, "YYYY-MM-DD")
    if isinstance(column.type, Boolean):
        return cast(column, Integer)
    return column


def _intent_columns(dialect: str) -> list[Any]:
    table = Intent.__table__  # type: ignore[attr-defined]
    return [_stored(table.c[name], dialect) for name in (*_INTENT_FIELDS, "content_hash")]


def journal_query(dialect: str) -> Any:
    """Every journal line in journal order, each intent's fields beside its first line (see _CONTENT)."""
    line, intent = JournalLine.__table__, Intent.__table__  # type: ignore[attr-defined]
    columns = [_stored(line.c[name], dialect) for name in (*_LINE_FIELDS_V2, "content_hash", "prev_hash",
                                                           "audit_hash")]
    first_line = (intent.c.id == line.c.intent_id) & (line.c.line_index == 1)
    return (select(*columns, *_intent_columns(dialect)).select_from(line.outerjoin(intent, first_line))
            .order_by(line.c.journal_number))


async def _intent_row(session: AsyncSession, intent_id: str) -> Sequence[Any] | None:
    """An intent whose first line in the journal is not its line 1 (read on its own; rare)."""
    table = Intent.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    row = (await session.exec(select(*_intent_columns(dialect)).where(table.c.id == intent_id))).first()
    return cast_type(Sequence[Any] | None, row)


async def _intent_without_lines(session: AsyncSession, seen: int) -> tuple[str, str] | None:
    """(intent id, problem) when the journal named fewer intents than are stored."""
    table = Intent.__table__  # type: ignore[attr-defined]
    stored = (await session.exec(select(func.count()).select_from(table))).one()
    if stored == seen:
        return None
    lines = JournalLine.__table__  # type: ignore[attr-defined]
    row = (await session.exec(select(table.c.id, table.c.line_count).where(
        ~select(lines.c.journal_number).where(lines.c.intent_id == table.c.id).exists()
    ).order_by(table.c.id).limit(1))).first()
    if row:
        return row[0], _short(0, row[1])
    return "", f"the journal holds the lines of {seen} intents in runs, but {stored} intents are stored " \
               "(an intent's lines are not consecutive)"


def _raw_period(stored_date: Any) -> str | None:
    text = str(stored_date or "")
    return text[:7] if len(text) >= 7 else None


def _in_locked(problem: str, stored_date: Any, locked: set[str]) -> str:
    period = _raw_period(stored_date)
    return f"{problem}; in locked period {period}" if period in locked else problem


# --- Closing hashes of locked periods ---


@dataclass(frozen=True)
class PeriodTotals:
    """What a period holds: intents and journal lines booked into it, and the sum of line amounts
    (every line debits and credits the same amount, so this is the debit total)."""

    intent_count: int = 0
    line_count: int = 0
    debit_total: int = 0


async def period_totals(session: AsyncSession, first: str, last: str) -> dict[str, PeriodTotals]:
    """Totals of every period from `first` to `last` that holds anything, by period."""
    start, end = period_bounds(first)[0], period_bounds(last)[1]
    lines = (await session.exec(
        select(col(JournalLine.booking_date), func.count(), func.sum(JournalLine.amount))
        .where(JournalLine.booking_date >= start, JournalLine.booking_date <= end)
        .group_by(col(JournalLine.booking_date)))).all()
    intents = (await session.exec(
        select(col(Intent.booking_date), func.count())
        .where(Intent.booking_date >= start, Intent.booking_date <= end)
        .group_by(col(Intent.booking_date)))).all()
    counts: dict[str, list[int]] = {}
    for day, n, total in lines:
        row = counts.setdefault(period_of(day), [0, 0, 0])
        row[1] += int(n)
        row[2] += int(total or 0)
    for day, n in intents:
        counts.setdefault(period_of(day), [0, 0, 0])[0] += int(n)
    return {period: PeriodTotals(*row) for period, row in counts.items()}


def closing_hash(period: str, head_journal_number: int, head_hash: str, totals: PeriodTotals) -> str:
    return sha256_hex(canonical_json({
        "v": RECORD_VERSION, "period": period, "head_journal_number": head_journal_number, "head_hash": head_hash,
        "intent_count": totals.intent_count, "line_count": totals.line_count, "debit_total": totals.debit_total}))


_EVENT_FIELDS = ("seq", "period", "action", "actor_id", "request_id", "intent_id", "reason", "intent_count",
                 "line_count", "debit_total", "head_journal_number", "head_hash", "closing_hash", "created_at",
                 *PROVENANCE_FIELDS)


def _payload(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    payload = {}
    for name in fields:
        value = getattr(row, name)
        payload[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return payload


def period_event_hash(event: Any) -> str:
    return audit_hash(event.prev_hash, sha256_hex(canonical_json({"v": RECORD_VERSION,
                                                                  **_payload(event, _EVENT_FIELDS)})))


async def _closing_break(session: AsyncSession, events: list[PeriodEvent]) -> dict[str, Any] | None:
    """The first broken period event link or locked period closing, or None."""
    prev = GENESIS_HASH
    for expected, event in enumerate(events, start=1):
        if event.seq != expected or event.prev_hash != prev or period_event_hash(event) != event.event_hash:
            return {"journal_number": None, "intent_id": None, "period": event.period,
                    "problem": f"period event {event.seq} ({event.action}) does not match its hash chain "
                               "(the lock history was changed)"}
        prev = event.event_hash
    for event in events:
        if event.action != "approve_lock":
            continue
        period = event.period
        head = event.head_journal_number or 0
        if head:
            stored = (await session.exec(
                select(JournalLine.audit_hash).where(JournalLine.journal_number == head))).first()
            if stored != event.head_hash:
                return {"journal_number": head, "intent_id": None, "period": period,
                        "problem": f"locked period {period}: the chain head sealed at locking (#{head}) is "
                                   "missing or changed (lines were removed)"}
        totals = (await period_totals(session, period, period)).get(period, PeriodTotals())
        if closing_hash(period, head, event.head_hash or GENESIS_HASH, totals) != event.closing_hash:
            return {"journal_number": None, "intent_id": None, "period": period,
                    "problem": f"locked period {period}: its totals no longer match the closing hash "
                               f"(now {totals.intent_count} intents, {totals.line_count} lines, debit total "
                               f"{totals.debit_total} minor units; sealed {event.intent_count}, {event.line_count}, "
                               f"{event.debit_total})"}
    return None
