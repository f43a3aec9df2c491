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

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.models import Intent, JournalLine

HASH_VERSION = 1
GENESIS_HASH = "0" * 64

_PROVENANCE_FIELDS = ("surface", "channel", "actor_type", "actor_label", "actor_key_prefix",
                      "client_name", "client_version")
_INTENT_FIELDS = ("id", "category", "booking_date", "description", "currency", "external_reference",
                  "idempotency_key", "document_id", "custom_metadata", "reverses_intent_id",
                  "reversal_reason", "duplicate_override", "created_at", *_PROVENANCE_FIELDS)
_LINE_FIELDS = ("journal_number", "intent_id", "line_index", "booking_date", "debit_account",
                "credit_account", "amount", "currency", "tax_code", "line_role", "description",
                "created_at", "hash_version", *_PROVENANCE_FIELDS)


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


def intent_hash(intent: Intent) -> str:
    return sha256_hex(canonical_json({"v": HASH_VERSION, **_payload(intent, _INTENT_FIELDS)}))


def line_content_hash(line: JournalLine, intent_content_hash: str) -> str:
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


async def verify_chain(session: AsyncSession, *, batch_size: int = 5000) -> ChainReport:
    """Recompute every hash from the stored fields, in journal order, without loading the whole
    journal at once. Stops at the first broken link."""
    intent_hashes: dict[str, str] = {}
    intents_checked = 0
    async for intent in await session.stream_scalars(select(Intent)):
        intents_checked += 1
        recomputed = intent_hash(intent)
        intent_hashes[intent.id] = recomputed
        if recomputed != intent.content_hash:
            return ChainReport(False, 0, intents_checked, 0, "", {
                "journal_number": None, "intent_id": intent.id,
                "problem": "intent fields do not match their content_hash (intent was changed)"})

    expected_number, prev = 1, GENESIS_HASH
    lines_checked = 0
    seen_intents: set[str] = set()
    stream = await session.stream_scalars(
        select(JournalLine).order_by(col(JournalLine.journal_number)).execution_options(yield_per=batch_size))
    async for line in stream:
        problem = None
        if line.journal_number != expected_number:
            problem = f"gap or reorder: expected journal number {expected_number}, found {line.journal_number}"
        elif line.intent_id not in intent_hashes:
            problem = "line belongs to no stored intent"
        elif line.prev_hash != prev:
            problem = "prev_hash does not match the previous line's audit_hash"
        else:
            try:
                recomputed = line_content_hash(line, intent_hashes[line.intent_id])
            except ValueError as exc:
                recomputed, problem = "", str(exc)
            if problem is None and recomputed != line.content_hash:
                problem = "line fields do not match its content_hash (line was changed)"
            elif problem is None and audit_hash(prev, line.content_hash) != line.audit_hash:
                problem = "audit_hash does not match sha256(prev_hash + content_hash)"
        if problem:
            await stream.close()
            return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
                "journal_number": line.journal_number, "intent_id": line.intent_id, "problem": problem})
        seen_intents.add(line.intent_id)
        lines_checked += 1
        expected_number += 1
        prev = line.audit_hash

    orphans = set(intent_hashes) - seen_intents
    if orphans:
        return ChainReport(False, lines_checked, intents_checked, expected_number - 1, prev, {
            "journal_number": None, "intent_id": sorted(orphans)[0],
            "problem": "intent has no journal lines (its lines were removed)"})
    return ChainReport(True, lines_checked, intents_checked, expected_number - 1, prev, None)
