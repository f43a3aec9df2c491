"""The record history: every change to a row that shapes the books, as a hash-chained event.

The journal and the period events have hash chains of their own (ledger_mcp.ledger.chain). Everything
else that decides what the books say is listed in COVERED: invoices and their lines, settlements,
documents, review cases, master data (accounts, tax codes, parties, ledger settings, API keys, companies,
bank accounts), bank matches, confirmations and the intent columns the journal chain leaves out. (Bank
statement lines and exchange rates are imported in bulk and not covered: bookings copy what they use.)
Whenever the ORM flushes an insert, update or delete of such a row, `record_event` gets an event
holding a canonical snapshot of the row's covered columns, in the same transaction. `verify` replays
the events and compares every current row with its latest snapshot: an edit, a row inserted or
deleted beside the ledger's code, or a changed event is named by table, row and column. Documents'
stored files are hashed and compared with their content address.

Writes must go through the ORM (session.add, attribute changes, session.delete) for these tables:
a bulk statement would bypass the history and `verify` would report its rows. A migration that adds
a covered column should call `snapshot_all` so the column is covered from then on; until a row's
next change, columns missing from its latest snapshot are not compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, MetaData, String, Table, Text, cast, event, func, inspect
from sqlalchemy import select as core_select
from sqlalchemy.orm import Session, UOWTransaction
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import scan
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.models import JournalLine, PeriodEvent, RecordEvent
from ledger_mcp.ledger.statements import Insert, Query, insert_in

RECORD_VERSION = 1
GENESIS_HASH = "0" * 64

# Covered table -> columns left out of its snapshots. The intent's other columns are in the journal
# chain already; an API key's last use is a convenience that changes on every request.
COVERED: dict[str, frozenset[str]] = {
    "intent": frozenset(),  # only request_hash and fingerprint, see INTENT_COLUMNS
    "invoice": frozenset(),
    "invoice_line": frozenset(),
    "settlement": frozenset(),
    "document": frozenset(),
    "review_case": frozenset(),
    "ingestion_log": frozenset(),
    "account": frozenset(),
    "tax_code": frozenset(),
    "party": frozenset(),
    "ledger_meta": frozenset(),
    "api_key": frozenset({"last_used_at"}),
    "bank_account": frozenset(),
    "bank_match_group": frozenset(),
    "bank_match": frozenset(),
    "confirmation_request": frozenset(),
    "payment_terms": frozenset(),
    "payment_run": frozenset(),
    "payment_run_item": frozenset(),
    "payment_run_event": frozenset(),
    "company": frozenset(),
}
INTENT_COLUMNS = ("request_hash", "fingerprint")
HEADS_KEY = "ledger_chain_heads"
SNAPSHOT_PART = 10_000
"""session.info key: the chain heads this transaction wrote, {chain: [number, hash]}, for the anchor log."""


def _one_shot(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """`encoder.encode`, with its C encoder built once: encode() builds one per call, which is most of its cost
    for a small value. Same text; no check for circular values (payloads are flat)."""
    if c_make_encoder is None:
        return encoder.encode
    iterencode = c_make_encoder(None, encoder.default, encode_basestring, None, encoder.key_separator,
                                encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)
    return lambda data: "".join(iterencode(data, 0))


canonical = _one_shot(json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str))
"""Canonical JSON: sorted keys, no spaces, non-ASCII as is, other types as str()."""
_canonical = canonical


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _value(value: Any) -> Any:
    """A stored value as snapshots hold it: dates as ISO text, other non-JSON types as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def covered_columns(table: Table) -> list[str]:
    if table.name == "intent":
        return list(INTENT_COLUMNS)
    return [c.name for c in table.c if c.name not in COVERED[table.name]]


def row_key(table: Table, values: Any) -> str:
    return _canonical([_value(values[c.name]) for c in table.primary_key.columns])


def snapshot(columns: list[str], values: Any) -> str:
    return _canonical({name: _value(values[name]) for name in columns})


def event_hash(prev_hash: str, seq: int, table_name: str, key: str, action: str, snap: str | None,
               created_at: str) -> str:
    content = _sha256(_canonical({"v": RECORD_VERSION, "seq": seq, "table_name": table_name, "row_key": key,
                                  "action": action, "snapshot": snap, "created_at": created_at}))
    return _sha256(prev_hash + content)


HEAD = core_select(RecordEvent.seq, RecordEvent.event_hash).order_by(col(RecordEvent.seq).desc()).limit(1)  # type: ignore[call-overload]
"""The history's head: (seq, event_hash) of its last event."""
_HEAD = Query(HEAD)  # compiled once: every write that records anything reads it


def _append(connection: Connection, changes: list[tuple[str, str, str, str | None]]) -> tuple[int, str]:
    """Append (table, row_key, action, snapshot) events after the current head; returns the new head."""
    head = _HEAD.rows_in(connection)
    rows, new_head = _events(changes, (head[0][0], head[0][1]) if head else (0, GENESIS_HASH), utc_now())
    insert_in(connection, EVENT_INSERT.sql(connection.dialect), rows)
    return new_head


def _events(changes: list[tuple[str, str, str, str | None]], head: tuple[int, str],
            now: str) -> tuple[list[tuple[Any, ...]], tuple[int, str]]:
    """The events of (table, row_key, action, snapshot) changes after `head`, as positional rows for
    `EVENT_INSERT`, and the new head."""
    seq, prev = head
    rows = []
    for table_name, key, action, snap in changes:
        seq += 1
        digest = event_hash(prev, seq, table_name, key, action, snap, now)
        rows.append((seq, table_name, key, action, snap, now, prev, digest))
        prev = digest
    return rows, (seq, prev)


_EVENT_FIELDS = ("seq", "table_name", "row_key", "action", "snapshot", "created_at", "prev_hash", "event_hash")
EVENT_INSERT = Insert(RecordEvent.__table__, _EVENT_FIELDS)  # type: ignore[attr-defined]
"""The insert of positional event rows (`_events`, `insert_events`)."""


def snapshot_all(connection: Connection, action: str = "baseline", tables: Sequence[str] = tuple(COVERED)) -> int:
    """Record every current row of every covered table, or of `tables` (a migration starting or widening
    the history). Reads the tables as they are in the database, so it runs at any schema revision."""
    metadata = MetaData()
    metadata.reflect(connection, only=[t for t in tables if connection.dialect.has_table(connection, t)])
    recorded = 0
    for name in tables:
        if name not in metadata.tables:
            continue
        table = metadata.tables[name]
        columns = covered_columns(table)
        rows = connection.execute(core_select(*_readable(table, connection.dialect.name))).mappings()
        while part := rows.fetchmany(SNAPSHOT_PART):  # in parts: a large ledger's history starts in flat memory
            _append(connection, [(name, row_key(table, row), action, snapshot(columns, row)) for row in part])
            recorded += len(part)
    return recorded


# --- Recording: one listener on every ORM session ---


def _covered_table(obj: Any) -> Table | None:
    table = getattr(type(obj), "__table__", None)
    return table if table is not None and table.name in COVERED else None


def _changed(obj: Any, columns: list[str]) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in columns)


@event.listens_for(Session, "after_flush")
def _record(session: Session, _context: UOWTransaction) -> None:
    changes: list[tuple[str, str, str, str | None]] = []
    heads: dict[str, list[Any]] = session.info.setdefault(HEADS_KEY, {})
    for action, objects in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if isinstance(obj, (JournalLine, PeriodEvent)) and action == "insert":
                chain, number, digest = (("journal_line", obj.journal_number, obj.audit_hash)
                                         if isinstance(obj, JournalLine) else ("period_event", obj.seq, obj.event_hash))
                if chain not in heads or heads[chain][0] < number:
                    heads[chain] = [number, digest]
                continue
            table = _covered_table(obj)
            if table is None:
                continue
            columns = covered_columns(table)
            if action == "update" and not _changed(obj, columns):
                continue
            values = {c.name: getattr(obj, c.name) for c in table.c}
            changes.append((table.name, row_key(table, values), action,
                            None if action == "delete" else snapshot(columns, values)))
    if changes:
        changes.sort(key=lambda c: (c[0], c[1]))
        heads["record_event"] = list(_append(session.connection(), changes))


def record_bulk_insert(session: Session, table_name: str, rows: Sequence[Mapping[str, Any]],
                       journal_head: tuple[int, str] | None = None) -> None:
    """What `_record` does for the ORM, for rows a bulk statement inserted (ledger.bulk): their insert
    events, and the journal head they moved, for the anchor log."""
    table = SQLModel.metadata.tables[table_name]
    columns = covered_columns(table)
    changes: list[tuple[str, str, str, str | None]] = sorted(
        (table_name, row_key(table, row), "insert", snapshot(columns, row)) for row in rows)
    recorded_heads(session, _append(session.connection(), changes) if changes else None, journal_head)


def insert_events(table_name: str, rows: Sequence[Mapping[str, Any]], head: tuple[int, str],
                  now: str) -> tuple[list[tuple[Any, ...]], tuple[int, str]]:
    """record_bulk_insert's events for a caller that inserts them itself, part by part with its rows (ledger.bulk):
    positional rows for `EVENT_INSERT` after `head`, and the new head (then `recorded_heads`)."""
    table = SQLModel.metadata.tables[table_name]
    columns = covered_columns(table)
    return _events(sorted((table_name, row_key(table, row), "insert", snapshot(columns, row)) for row in rows),
                   head, now)


def recorded_heads(session: Session, history_head: tuple[int, str] | None,
                   journal_head: tuple[int, str] | None) -> None:
    """The heads a bulk write moved, for the anchor log at commit."""
    heads: dict[str, list[Any]] = session.info.setdefault(HEADS_KEY, {})
    if journal_head and ("journal_line" not in heads or heads["journal_line"][0] < journal_head[0]):
        heads["journal_line"] = list(journal_head)
    if history_head:
        heads["record_event"] = list(history_head)


# --- Verification ---


@dataclass
class RecordCheck:
    """What `verify` found: rows checked per table, and the first problem as {table, row, column, problem}."""

    coverage: dict[str, int] = field(default_factory=dict)
    head: tuple[int, str] = (0, GENESIS_HASH)
    problem: dict[str, Any] | None = None


def _readable(table: Table, dialect: str) -> list[Any]:
    """All columns; on SQLite dates as their stored text, so that a tampered date fails the comparison,
    not the read."""
    if dialect != "sqlite":
        return list(table.c)
    return [cast(c, String).label(c.name) if isinstance(c.type, Date) else c for c in table.c]


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> Iterator[str]:
    for name, value in stored.items():
        if name not in current or current[name] != value:
            yield name


async def verify(session: AsyncSession, documents_dir: Path | None = None) -> RecordCheck:
    """Replay the record history and compare every covered row with its latest snapshot; then hash each
    document's stored file (when `documents_dir` is given). Stops at the first problem.

    Memory stays flat: the history is read in batches keeping only the previous hash, and each table is
    merged with its latest snapshots, both read in row_key order (index ix_record_event_row)."""
    result = RecordCheck()
    prev, expected = GENESIS_HASH, 1
    table = RecordEvent.__table__  # type: ignore[attr-defined]
    async with aclosing(scan.batches(session, core_select(*_EVENT_COLUMNS).order_by(table.c.seq))) as events:
        async for batch in events:
            for seq, table_name, key, action, snap, created_at, prev_hash, digest in batch:
                if seq != expected or prev_hash != prev or event_hash(
                        prev, seq, table_name, key, action, snap, created_at) != digest:
                    result.problem = {"table": "record_event", "row": seq, "column": None,
                                      "problem": f"record event {seq} ({action} of {table_name} {key}) does not "
                                                 "match its hash chain (the record history was changed)"}
                    return result
                prev, expected = digest, expected + 1
    result.coverage["record_event"] = expected - 1
    result.head = (expected - 1, prev)

    dialect = session.get_bind().dialect.name
    for name in COVERED:
        result.problem = await _verify_table(session, SQLModel.metadata.tables[name], dialect, result.coverage)
        if result.problem:
            return result
    if documents_dir is not None:
        result.problem = await _document_files(session, documents_dir, result.coverage)
    return result


_EVENT_COLUMNS = [RecordEvent.__table__.c[name] for name in (  # type: ignore[attr-defined]
    "seq", "table_name", "row_key", "action", "snapshot", "created_at", "prev_hash", "event_hash")]


async def _verify_table(session: AsyncSession, table: Table, dialect: str,
                        coverage: dict[str, int]) -> dict[str, Any] | None:
    """Each current row against its latest snapshot, then the rows the history holds but the table lost.

    Rows and the history's latest snapshots are both read in row_key order and merged: two sequential reads
    instead of an index lookup per row. A row whose key the database sorted differently from Python (a key
    only SQL's JSON would write otherwise) is looked up on its own. Rows come from the driver (scan.batches),
    converted only where a column type converts (booleans on SQLite), as the ORM would have."""
    name, columns, count = table.name, covered_columns(table), 0
    needed = {*columns, *(c.name for c in table.primary_key.columns)}
    readable = [c for c in _readable(table, dialect) if c.name in needed]
    keys = list(table.primary_key.columns)
    order = (func.json_array(*keys) if dialect == "sqlite" else
             cast(func.json_build_array(*keys), Text).collate("C"))
    names = [c.name for c in readable]
    key_at = [names.index(c.name) for c in keys]
    column_at = sorted((name_, names.index(name_)) for name_ in columns)
    bind_dialect = session.get_bind().dialect
    convert = [(i, p) for i, c in enumerate(readable) if (p := c.type.result_processor(bind_dialect, None))]
    async with (aclosing(_latest_in_key_order(session, name, dialect)) as history,
                aclosing(scan.batches(session, core_select(*readable).order_by(order))) as parts):
        held_key, held = await _next(history)
        previous = ""
        async for part in parts:
            for raw in part:
                row = list(raw)
                for i, process in convert:
                    row[i] = process(row[i])
                key = canonical([_value(row[i]) for i in key_at])
                if key >= previous:
                    while held_key and held_key < key:
                        held_key, held = await _next(history)
                    stored = held if held_key == key else None
                    previous = key
                else:
                    stored = (await _latest_snapshots(session, name, [key])).get(key)
                if stored is None:
                    return {"table": name, "row": key, "column": None,
                            "problem": f"{name} row {key} has no recorded history (inserted outside the "
                                       "ledger, or its history was removed)"}
                current = canonical({name_: _value(row[i]) for name_, i in column_at})
                changed = [] if current == stored else list(_differences(json.loads(stored), json.loads(current)))
                if changed:
                    return {"table": name, "row": key, "column": changed[0],
                            "problem": f"{name} row {key}: {', '.join(changed)} differ from the recorded "
                                       "history (changed outside the ledger)"}
            count += len(part)
    coverage[name] = count
    if await _live_rows(session, name) != count:
        missing = await _missing_row(session, table, dialect)
        if missing is not None:
            return {"table": name, "row": missing, "column": None,
                    "problem": f"{name} row {missing} is recorded but missing (deleted outside the ledger)"}
    return None


async def _next(history: AsyncGenerator[tuple[str, str | None], None]) -> tuple[str, str | None]:
    """The next (row_key, snapshot), ("", None) at the end (anext's default trips over aclosing on 3.11)."""
    try:
        return await history.__anext__()
    except StopAsyncIteration:
        return "", None


async def _latest_in_key_order(session: AsyncSession, name: str, dialect: str
                               ) -> AsyncGenerator[tuple[str, str | None], None]:
    """(row_key, latest snapshot) of every row of table `name` the history knows, by row_key (as Python orders
    text: code points, which is UTF-8 byte order)."""
    event = RecordEvent.__table__  # type: ignore[attr-defined]
    key = event.c.row_key if dialect == "sqlite" else event.c.row_key.collate("C")
    statement = (core_select(event.c.row_key, event.c.snapshot).where(event.c.table_name == name)
                 .order_by(key, event.c.seq))
    current: str | None = None
    latest: str | None = None
    async with aclosing(scan.batches(session, statement)) as batches:
        async for batch in batches:
            for row_key_, snap in batch:
                if row_key_ != current:
                    if current is not None:
                        yield current, latest
                    current = row_key_
                latest = snap
    if current is not None:
        yield current, latest


def _latest_events(name: str) -> Any:
    """Events of table `name` that no later event of the same row follows."""
    event, later = RecordEvent.__table__, RecordEvent.__table__.alias("later")  # type: ignore[attr-defined]
    newer = core_select(later.c.seq).where(later.c.table_name == event.c.table_name,
                                           later.c.row_key == event.c.row_key, later.c.seq > event.c.seq)
    return core_select(event.c.row_key, event.c.snapshot).where(event.c.table_name == name, ~newer.exists())


async def _latest_snapshots(session: AsyncSession, name: str, keys: list[str]) -> dict[str, str | None]:
    """The latest snapshot of each of these rows (events in order: a row's later events overwrite earlier)."""
    event = RecordEvent.__table__  # type: ignore[attr-defined]
    found = await session.exec(select(event.c.row_key, event.c.snapshot)
                               .where(event.c.table_name == name, event.c.row_key.in_(keys)).order_by(event.c.seq))
    return dict(found.all())


async def _live_rows(session: AsyncSession, name: str) -> int:
    """Rows of table `name` whose latest event says they exist."""
    live = _latest_events(name).where(RecordEvent.__table__.c.snapshot.is_not(None)).subquery()  # type: ignore[attr-defined]
    return int((await session.exec(select(func.count()).select_from(live))).one())


async def _missing_row(session: AsyncSession, table: Table, dialect: str) -> str | None:
    """The first row (by key) the history holds but the table lacks (only read after a count differs)."""
    present = {row_key(table, row._mapping) for row in (await session.exec(select(*_readable(table, dialect)))).all()}
    live = _latest_events(table.name).where(RecordEvent.__table__.c.snapshot.is_not(None))  # type: ignore[attr-defined]
    return next((key for key, _ in sorted((await session.exec(live)).all()) if key not in present), None)


async def _document_files(session: AsyncSession, root: Path, coverage: dict[str, int]) -> dict[str, Any] | None:
    """Each stored file must still hash to its document's id (its content address)."""
    table = SQLModel.metadata.tables["document"]
    count = 0
    for doc_id, path in (await session.exec(select(table.c.id, table.c.storage_path))).all():
        digest = hashlib.sha256()
        try:
            with (root / path).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            return {"table": "document", "row": _canonical([doc_id]), "column": "storage_path",
                    "problem": f"document {doc_id}: its stored file cannot be read ({exc.strerror or exc})"}
        if digest.hexdigest() != doc_id:
            return {"table": "document", "row": _canonical([doc_id]), "column": "file",
                    "problem": f"document {doc_id}: the stored file no longer matches its sha256 (file was changed)"}
        count += 1
    coverage["document_file"] = count
    return None
