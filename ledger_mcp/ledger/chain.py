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

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, func
from sqlalchemy.exc import StatementError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import anchor as anchoring
from ledger_mcp.ledger import records
from ledger_mcp.ledger.fiscal import period_bounds, period_of
from ledger_mcp.ledger.models import Intent, JournalLine, PeriodEvent

HASH_VERSION = 2
"""Payload version of new journal lines. Version 2 adds base_amount and exchange_rate; version 1 lines
(written before foreign currency) verify under their own payload, with base_amount equal to amount."""
RECORD_VERSION = 1
"""Payload version of intents, period events and closing hashes (unchanged since version 1)."""
GENESIS_HASH = "0" * 64

PROVENANCE_FIELDS = ("surface", "channel", "actor_type", "actor_label", "actor_key_prefix",
                      "client_name", "client_version")
_INTENT_FIELDS = ("id", "category", "booking_date", "description", "currency", "external_reference",
                  "idempotency_key", "document_id", "custom_metadata", "reverses_intent_id",
                  "reversal_reason", "duplicate_override", "line_count", "created_at", *PROVENANCE_FIELDS)
_LINE_FIELDS = ("journal_number", "intent_id", "line_index", "booking_date", "debit_account",
                "credit_account", "amount", "currency", "tax_code", "line_role", "description",
                "created_at", "hash_version", *PROVENANCE_FIELDS)
_LINE_FIELDS_BY_VERSION = {1: _LINE_FIELDS, 2: (*_LINE_FIELDS, "base_amount", "exchange_rate")}


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _payload(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    payload = {}
    for name in fields:
        value = getattr(row, name)
        payload[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return payload


def intent_hash(intent: Any) -> str:
    return sha256_hex(canonical_json({"v": RECORD_VERSION, **_payload(intent, _INTENT_FIELDS)}))


def line_content_hash(line: Any, intent_content_hash: str) -> str:
    fields = _LINE_FIELDS_BY_VERSION.get(line.hash_version)
    if fields is None:
        raise ValueError(f"unknown hash_version {line.hash_version}")
    if line.hash_version == 1 and (line.base_amount != line.amount or line.exchange_rate is not None):
        raise ValueError("a version 1 line has no exchange rate and its base_amount equals its amount "
                         "(line was changed)")
    return sha256_hex(canonical_json({**_payload(line, fields), "intent_hash": intent_content_hash}))


def audit_hash(prev_hash: str, content_hash: str) -> str:
    return sha256_hex(prev_hash + content_hash)


async def head(session: AsyncSession) -> tuple[int, str]:
    """(last journal number, its audit hash), or (0, genesis) for an empty journal."""
    row = (await session.exec(
        select(JournalLine.journal_number, JournalLine.audit_hash)
        .order_by(col(JournalLine.journal_number).desc()).limit(1)
    )).first()
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


def _raw_columns(table: Any, session: AsyncSession) -> list[Any]:
    """All columns. On SQLite dates as the stored text: a tampered, invalid date must fail the hash, not
    the read. PostgreSQL stores only valid dates, and its date-to-text cast follows the DateStyle setting."""
    if session.get_bind().dialect.name != "sqlite":
        return list(table.c)
    return [cast(c, String).label(c.name) if c.name == "booking_date" else c for c in table.c]


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


async def verify_journal(session: AsyncSession, *, batch_size: int = 5000) -> ChainReport:
    """Recompute every hash from the stored fields, in journal order, without loading the whole
    journal at once, then every locked period's closing hash. Stops at the first broken link."""
    events = list((await session.exec(select(PeriodEvent).order_by(col(PeriodEvent.seq)))).all())
    locked = {e.period for e in events if e.action == "approve_lock"}
    intent_hashes: dict[str, str] = {}
    line_counts: dict[str, int] = {}
    intents_checked = 0
    intents = await session.stream(select(*_raw_columns(Intent.__table__, session)))  # type: ignore[attr-defined]
    async for intent in intents:
        intents_checked += 1
        recomputed = intent_hash(intent)
        intent_hashes[intent.id] = recomputed
        line_counts[intent.id] = intent.line_count
        if recomputed != intent.content_hash:
            await intents.close()
            return ChainReport(False, 0, intents_checked, 0, "", {
                "journal_number": None, "intent_id": intent.id, "period": _raw_period(intent.booking_date),
                "problem": _in_locked("intent fields do not match their content_hash (intent was changed)",
                                      intent.booking_date, locked)})

    expected_number, prev = 1, GENESIS_HASH
    lines_checked = 0
    seen: dict[str, int] = dict.fromkeys(intent_hashes, 0)
    table = JournalLine.__table__  # type: ignore[attr-defined]
    stream = await session.stream(
        select(*_raw_columns(table, session)).order_by(table.c.journal_number).execution_options(yield_per=batch_size))
    try:
        async for line in stream:
            problem = _line_problem(line, expected_number, prev, intent_hashes)
            if problem:
                await stream.close()
                return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
                    "journal_number": line.journal_number, "intent_id": line.intent_id,
                    "period": _raw_period(line.booking_date),
                    "problem": _in_locked(problem, line.booking_date, locked)})
            seen[line.intent_id] += 1
            lines_checked += 1
            expected_number += 1
            prev = line.audit_hash
    except (ValueError, TypeError, StatementError) as exc:
        return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
            "journal_number": expected_number, "intent_id": None, "period": None,
            "problem": f"stored line cannot be read: {exc}"})

    short = sorted(i for i, n in seen.items() if n != line_counts[i])
    if short:
        return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
            "journal_number": None, "intent_id": short[0], "period": None,
            "problem": f"intent has {seen[short[0]]} of its {line_counts[short[0]]} journal lines "
                       "(lines were removed)"})
    closing_break = await _closing_break(session, events)
    checked = len(locked)
    if closing_break:
        return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, closing_break, checked)
    return ChainReport(True, lines_checked, intents_checked, expected_number - 1, prev, None, checked)


def _line_problem(line: Any, expected_number: int, prev: str, intent_hashes: dict[str, str]) -> str | None:
    if line.journal_number != expected_number:
        return f"gap or reorder: expected journal number {expected_number}, found {line.journal_number}"
    if line.intent_id not in intent_hashes:
        return "line belongs to no stored intent"
    if line.prev_hash != prev:
        return "prev_hash does not match the previous line's audit_hash"
    try:
        recomputed = line_content_hash(line, intent_hashes[line.intent_id])
    except ValueError as exc:
        return str(exc)
    if recomputed != line.content_hash:
        return "line fields do not match its content_hash (line was changed)"
    if audit_hash(prev, line.content_hash) != line.audit_hash:
        return "audit_hash does not match sha256(prev_hash + content_hash)"
    return None


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
