"""The GoBD hash chain.

Every journal line carries `content_hash` = sha256 over a canonical payload of all its stored
fields (including the hash of its intent), `prev_hash` = the `audit_hash` of the line before it,
and `audit_hash` = sha256(prev_hash + content_hash). Journal numbers are gapless from 1. Changing
any stored field of any line or intent, removing or inserting a line, breaks the chain at that
point, and `verify_chain` names the first broken link.

The payload is versioned (`hash_version`) so that a later payload format can coexist with lines
hashed under an earlier one. Version 4 (`render`) is a text the database can build itself: verifying
reads one rendered text per line and intent (`rendered`, in SQL for SQLite and PostgreSQL) and hashes
it, instead of encoding two dozen fields per line in Python.

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
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from hashlib import sha256
from operator import attrgetter
from pathlib import Path
from typing import Any
from typing import cast as cast_type

from sqlalchemy import Boolean, Date, Integer, LargeBinary, String, Text, case, cast, func, literal_column
from sqlalchemy import select as core_select
from sqlmodel import AutoString, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import anchor as anchoring
from ledger_mcp.ledger import records, scan
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.fiscal import period_bounds, period_of
from ledger_mcp.ledger.models import Intent, JournalLine, PeriodEvent
from ledger_mcp.ledger.statements import Query

HASH_VERSION = 4
"""Payload version of new journal lines, and of their intent's hash. Version 4 hashes the `render`ed fields
in a fixed order, a text SQL builds as well. Version 3 hashed a JSON array of the same fields (cheap to
build in Python, no key sorting). Versions 1 and 2 hashed a JSON object with sorted
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
_LINE_FIELDS_BY_VERSION = {1: _LINE_FIELDS, 2: _LINE_FIELDS_V2, 3: _LINE_FIELDS_V2, 4: _LINE_FIELDS_V2}
# Values as every path reads them: dates as ISO text, booleans as 0/1 (what SQLite stores).
_get_intent_values = attrgetter(*_INTENT_FIELDS)
_get_line_values = attrgetter(*_LINE_FIELDS_V2)
_DUPLICATE_OVERRIDE = _INTENT_FIELDS.index("duplicate_override")


def _iso(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a stored value")


# Built once: json.dumps with options builds a new encoder on every call.
_ARRAY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_iso)


def render(values: Iterable[Any]) -> bytes:
    """The version 4 payload: each value as `<length>:<text>`, the length in UTF-8 bytes, or `~` for None.
    Texts as stored, integers in decimal (booleans as 0/1), dates in ISO form. `rendered` builds the same
    bytes in SQL, so nothing may differ: bytes, not characters, because SQLite's length() of a text stops
    at a NUL character."""
    parts = []
    for value in values:
        if value is None:
            parts.append(b"~")
            continue
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationFailed("A text contains the NUL character (U+0000), which the ledger cannot store.",
                                       hint="Remove the NUL characters from descriptions, references and names, "
                                            "and send the call again.")
            data = value.encode()
        elif isinstance(value, int):  # bool included: True is 1
            data = b"%d" % value
        else:
            data = _iso(value).encode()
        parts.append(b"%d:%s" % (len(data), data))
    return b"".join(parts)


def canonical_json(data: Any) -> str:
    return records.canonical(data)


def sha256_hex(text: str) -> str:
    return sha256(text.encode("utf-8")).hexdigest()


def _plain(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(int(v) if isinstance(v, bool) else v for v in values)


def intent_hash(intent: Any, version: int | None = None) -> str:
    """The hash of an intent's fields, in the payload of its lines' hash version (default HASH_VERSION)."""
    return _intent_digest(_plain(_get_intent_values(intent)), version or HASH_VERSION)


def _intent_digest(values: Sequence[Any], version: int) -> str:
    if version >= 4:
        return sha256(render((version, *values))).hexdigest()
    if version == 3:
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
    if version == 4:
        return sha256(render((*values, intent_content_hash))).hexdigest()
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

    Memory stays flat: the journal is read in batches with each intent beside its first line, and only the
    current link (previous hash, current intent) is kept. An intent's lines are consecutive (each write appends
    all of them at the chain head), so its line count is checked when the next intent starts. Version 4 lines
    and intents come rendered by the database (`fast_query`); the fields of lines of earlier versions are read
    by a second query over those lines only (`journal_query`), in step."""
    events = list((await session.exec(select(PeriodEvent).order_by(col(PeriodEvent.seq)))).all())
    locked = {e.period for e in events if e.action == "approve_lock"}
    expected, prev = 1, GENESIS_HASH
    intents = 0
    intent_id: str | None = None
    intent_digest, intent_field, line_count, seen = "", b"", 0, 0

    def broken(problem: str, number: int | None, intent: str | None, stored_date: Any) -> ChainReport:
        return ChainReport(False, expected - 1, intents, expected - 1, prev, {
            "journal_number": number, "intent_id": intent, "period": _raw_period(stored_date),
            "problem": _in_locked(problem, stored_date, locked)})

    dialect = session.get_bind().dialect.name
    legacy_query = journal_query(dialect).where(JournalLine.__table__.c.hash_version != HASH_VERSION)  # type: ignore[attr-defined]
    async with (aclosing(scan.batches(session, fast_query(dialect), batch_size)) as rows,
                aclosing(_rows(scan.batches(session, legacy_query, batch_size))) as legacy_rows):
        async for batch in rows:
            for number, line_intent, version, line_date, text, content_hash, prev_hash, audit, joined, \
                    intent_text, stored_digest, stored_count, intent_date in batch:
                old = None if text is not None else await anext(legacy_rows)  # a line of an earlier version
                if number != expected:
                    return broken(f"gap or reorder: expected journal number {expected}, found {number}",
                                  number, line_intent, line_date)
                if line_intent != intent_id:  # the first line of the next intent
                    if seen != line_count:
                        return broken(_short(seen, line_count), None, intent_id, None)
                    if joined is None:
                        stored = await _intent_row(session, line_intent)
                        if stored is None:
                            return broken("line belongs to no stored intent", number, line_intent, line_date)
                        stored_digest, stored_count, intent_date = (stored[_INTENT_CONTENT_HASH],
                                                                    stored[_LINE_COUNT], stored[_INTENT_DATE])
                    intents += 1
                    intent_id, line_count, seen = line_intent, stored_count, 0
                    intent_digest = sha256(intent_text).hexdigest() if intent_text is not None else ""
                    if intent_digest != stored_digest:  # an earlier version, or a change: read the fields
                        fields = old[_JOINED:] if old is not None and joined is not None else \
                            await _intent_row(session, line_intent)
                        intent_digest = _intent_check(cast_type(Sequence[Any], fields), version)
                    if intent_digest != stored_digest:
                        return broken("intent fields do not match their content_hash (intent was changed)",
                                      None, intent_id, intent_date)
                    intent_field = b"64:" + intent_digest.encode()  # render((intent_digest,)), inlined
                if prev_hash != prev:
                    return broken("prev_hash does not match the previous line's audit_hash", number, intent_id,
                                  line_date)
                if old is None:
                    content = sha256(text + intent_field).hexdigest()
                else:
                    try:
                        content = _line_digest(old[:_CONTENT], intent_digest)
                    except (ValueError, TypeError) as exc:
                        return broken(str(exc), number, intent_id, line_date)
                if content != content_hash:
                    return broken("line fields do not match its content_hash (line was changed)", number,
                                  intent_id, line_date)
                prev = sha256((prev + content).encode()).hexdigest()
                if prev != audit:
                    prev = prev_hash  # report the link before this line
                    return broken("audit_hash does not match sha256(prev_hash + content_hash)", number,
                                  intent_id, line_date)
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


async def _rows(batches: AsyncGenerator[Sequence[Sequence[Any]], None]) -> AsyncGenerator[Sequence[Any], None]:
    """Rows one by one (the lines of earlier versions, read beside the fast query)."""
    async with aclosing(batches) as each:
        async for batch in each:
            for row in batch:
                yield row


def _intent_check(stored: Sequence[Any], version: Any) -> str:
    """The intent's recomputed hash in the payload of its first line's version. When that does not match
    but another version's payload does, the line's version was changed, not the intent: the line's hash
    names it."""
    values, digest = stored[:_INTENT_CONTENT_HASH], stored[_INTENT_CONTENT_HASH]
    recomputed = _intent_digest(values, version if version in _LINE_FIELDS_BY_VERSION else HASH_VERSION)
    if recomputed != digest:
        for other in (RECORD_VERSION, 3, 4):
            if _intent_digest(values, other) == digest:
                return str(digest)
    return recomputed


def _short(seen: int, line_count: int) -> str:
    return f"intent has {seen} of its {line_count} journal lines (lines were removed)"


# The journal query's row: the line's fields (_LINE_FIELDS_V2 order) and hashes, then, on an intent's first
# line only, the intent's fields (_INTENT_FIELDS order) and content_hash. Dates as ISO text, booleans as 0/1.
_CONTENT = len(_LINE_FIELDS_V2)
_JOINED = _CONTENT + 3
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


def fast_query(dialect: str) -> Any:
    """Every journal line in journal order: (journal_number, intent_id, hash_version, booking_date, rendered
    line, content_hash, prev_hash, audit_hash), then on an intent's first line (intent id, rendered intent,
    content_hash, line_count, booking_date). The rendered texts (`rendered`, bytes) only for version 4 lines."""
    line, intent = JournalLine.__table__, Intent.__table__  # type: ignore[attr-defined]
    current = line.c.hash_version == HASH_VERSION
    line_text = rendered([line.c[name] for name in _LINE_FIELDS_V2], dialect)
    intent_text = rendered([literal_column(str(HASH_VERSION)), *(intent.c[name] for name in _INTENT_FIELDS)],
                           dialect)
    first_line = (intent.c.id == line.c.intent_id) & (line.c.line_index == 1)
    return (core_select(line.c.journal_number, line.c.intent_id, line.c.hash_version,
                   _stored(line.c.booking_date, dialect), case((current, line_text)), line.c.content_hash,
                   line.c.prev_hash, line.c.audit_hash, intent.c.id,
                   case((current & intent.c.id.is_not(None), intent_text)),
                   intent.c.content_hash, intent.c.line_count, _stored(intent.c.booking_date, dialect))
            .select_from(line.outerjoin(intent, first_line)).order_by(line.c.journal_number))


def rendered(columns: Sequence[Any], dialect: str) -> Any:
    """`render` of these columns as one SQL expression (bytes): what the Python side builds, value by value.

    On SQLite one printf() call renders the row (a chain of || operators costs three times as much); its %s
    stops at a NUL character, which `render` refuses, and the length before it counts every byte, so a NUL
    written into a value later still changes the text."""
    if dialect == "sqlite":
        formats, arguments = [], []
        for column in columns:
            text = _as_text(column, dialect)
            size = func.length(cast(text, LargeBinary))
            if getattr(column, "nullable", True):
                formats.append("%s%s")
                arguments += [func.coalesce(_concat(size, literal_column("':'")), literal_column("'~'")), text]
            else:
                formats.append("%d:%s")
                arguments += [size, text]
        return cast(func.printf(literal_column(f"'{''.join(formats)}'"), *arguments), LargeBinary)
    fields = []
    for column in columns:
        text = _as_text(column, dialect)
        size = func.octet_length(func.convert_to(text, literal_column("'UTF8'")))
        fields.append(func.coalesce(_concat(cast(size, Text), literal_column("':'"), text), literal_column("'~'")))
    return func.convert_to(_concat(*fields), literal_column("'UTF8'"))


def _as_text(column: Any, dialect: str) -> Any:
    """A stored value as `render` writes it: dates in ISO form, integers in decimal, booleans as 0/1."""
    kind = getattr(column, "type", None)
    if dialect == "sqlite":  # printf's %s writes integers in decimal; dates and booleans are stored as text, 0/1
        return column
    if isinstance(kind, Date):
        return _stored(column, dialect)
    if isinstance(kind, Boolean):
        return cast(cast(column, Integer), Text)
    if isinstance(kind, (String, AutoString)):  # Text included
        return column
    return cast(column, Text)


def _concat(*parts: Any) -> Any:
    whole = parts[0]
    for part in parts[1:]:
        whole = whole.op("||")(part)
    return whole


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
