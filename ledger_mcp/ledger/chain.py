"""The GoBD hash chain.

Every journal line carries `content_hash` = sha256 over a canonical JSON payload of all its stored
fields (including the hash of its intent), `prev_hash` = the `audit_hash` of the line before it,
and `audit_hash` = sha256(prev_hash + content_hash). Journal numbers are gapless from 1. Changing
any stored field of any line or intent, removing or inserting a line, breaks the chain at that
point, and `verify_chain` names the first broken link.

The payload is versioned (`hash_version`) so that a later payload format can coexist with lines
hashed under an earlier one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast
from sqlalchemy.exc import StatementError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.models import Intent, JournalLine

HASH_VERSION = 1
GENESIS_HASH = "0" * 64

PROVENANCE_FIELDS = ("surface", "channel", "actor_type", "actor_label", "actor_key_prefix",
                      "client_name", "client_version")
_INTENT_FIELDS = ("id", "category", "booking_date", "description", "currency", "external_reference",
                  "idempotency_key", "document_id", "custom_metadata", "reverses_intent_id",
                  "reversal_reason", "duplicate_override", "line_count", "created_at", *PROVENANCE_FIELDS)
_LINE_FIELDS = ("journal_number", "intent_id", "line_index", "booking_date", "debit_account",
                "credit_account", "amount", "currency", "tax_code", "line_role", "description",
                "created_at", "hash_version", *PROVENANCE_FIELDS)


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
    return sha256_hex(canonical_json({"v": HASH_VERSION, **_payload(intent, _INTENT_FIELDS)}))


def line_content_hash(line: Any, intent_content_hash: str) -> str:
    if line.hash_version != HASH_VERSION:
        raise ValueError(f"unknown hash_version {line.hash_version}")
    return sha256_hex(canonical_json({**_payload(line, _LINE_FIELDS), "intent_hash": intent_content_hash}))


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
    first_break: the first broken link, {journal_number, intent_id, problem}, or None.
    """

    ok: bool
    lines_checked: int
    intents_checked: int
    head_journal_number: int
    head_hash: str
    first_break: dict[str, Any] | None


def _raw_columns(table: Any, session: AsyncSession) -> list[Any]:
    """All columns. On SQLite dates as the stored text: a tampered, invalid date must fail the hash, not
    the read. PostgreSQL stores only valid dates, and its date-to-text cast follows the DateStyle setting."""
    if session.get_bind().dialect.name != "sqlite":
        return list(table.c)
    return [cast(c, String).label(c.name) if c.name == "booking_date" else c for c in table.c]


async def verify_chain(session: AsyncSession, *, batch_size: int = 5000) -> ChainReport:
    """Recompute every hash from the stored fields, in journal order, without loading the whole
    journal at once. Stops at the first broken link."""
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
                "journal_number": None, "intent_id": intent.id,
                "problem": "intent fields do not match their content_hash (intent was changed)"})

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
                    "journal_number": line.journal_number, "intent_id": line.intent_id, "problem": problem})
            seen[line.intent_id] += 1
            lines_checked += 1
            expected_number += 1
            prev = line.audit_hash
    except (ValueError, TypeError, StatementError) as exc:
        return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
            "journal_number": expected_number, "intent_id": None, "problem": f"stored line cannot be read: {exc}"})

    short = sorted(i for i, n in seen.items() if n != line_counts[i])
    if short:
        return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
            "journal_number": None, "intent_id": short[0],
            "problem": f"intent has {seen[short[0]]} of its {line_counts[short[0]]} journal lines "
                       "(lines were removed)"})
    return ChainReport(True, lines_checked, intents_checked, expected_number - 1, prev, None)


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
