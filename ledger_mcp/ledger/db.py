"""The database: engine set-up, schema migration, and transactions for reads and writes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp import migrations
from ledger_mcp.ledger import events, records  # also record every change to the covered tables, and the outbox
from ledger_mcp.ledger.anchor import AnchorLog
from ledger_mcp.ledger.errors import WriteConflict
from ledger_mcp.ledger.portable import SQLITE_LOWER

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Any constant identifies the chain head lock on PostgreSQL.
_CHAIN_LOCK_KEY = 0x1ED6E5
# PostgreSQL errors after which the whole transaction can simply run again: serialization failure,
# deadlock, lock timeout (waiting for the chain head longer than lock_timeout).
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_UNIQUE_VIOLATION = "23505"


def _sqlite_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _switch_to_wal(cursor: Any) -> None:
    # Turning a new file into WAL needs a lock that SQLite does not wait for (no busy handler), so
    # servers opening a new ledger together retry briefly. Once the file is in WAL this is a no-op.
    for attempt in range(50):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02)  # blocks only while a new file is being created


def _configure_sqlite(engine: AsyncEngine, lock_timeout: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock up front.
        dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
        dbapi_conn.create_function(SQLITE_LOWER, 1, _sqlite_lower, deterministic=True)  # type: ignore[attr-defined]
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")  # a committed booking survives a power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN: the chain head they read cannot move under them.
        options = conn.get_execution_options()
        if options.get("ledger_migrate"):
            # Rebuilding a referenced table (batch mode) needs foreign keys off, which SQLite only
            # allows outside a transaction; env.py runs foreign_key_check before the commit.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if options.get('ledger_write') else 'DEFERRED'}")


class Database:
    """An engine plus the two ways to use it: `read(fn, ...)` and `write(fn, ...)`.

    `write` runs `fn(session, ...)` in one transaction that holds the chain head (BEGIN IMMEDIATE
    on SQLite; on PostgreSQL a transaction-scoped advisory lock taken first, in READ COMMITTED so
    that every statement after it sees the head the previous writer committed) and retries it when
    the database reports a transient conflict. Either all of it is committed or nothing.

    `read` sees one snapshot for the whole call (SQLite WAL read transaction; REPEATABLE READ on
    PostgreSQL), so a multi-statement read such as `verify_chain` is consistent under writers.

    lock_timeout: seconds a writer waits for the chain head before the attempt counts as a conflict.
    anchor_log: the file each committed write appends its chain heads to (ledger_mcp.ledger.anchor);
    None: not anchored.
    """

    WRITE_ATTEMPTS = 5

    def __init__(self, url: str, *, echo: bool = False, lock_timeout: float = 10.0,
                 anchor_log: Path | None = None) -> None:
        self.url = url
        self.anchor_log = AnchorLog(anchor_log) if anchor_log else None
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if not self.is_sqlite:
            connect_args["server_settings"] = {"lock_timeout": f"{int(lock_timeout * 1000)}ms"}
        self.engine = create_async_engine(url, echo=echo, connect_args=connect_args)
        if self.is_sqlite:
            _configure_sqlite(self.engine, lock_timeout)
            self._read_engine = self.engine
            self._write_engine = self.engine.execution_options(ledger_write=True)
        else:
            self._read_engine = self.engine.execution_options(isolation_level="REPEATABLE READ")
            self._write_engine = self.engine.execution_options(isolation_level="READ COMMITTED")
        self._local_writer = asyncio.Lock()
        self.listeners: list[Callable[[events.Committed], None]] = []
        """Called after each committed write that did something (ledger_mcp.ledger.events); must not block."""

    async def create_schema(self) -> None:
        """Create the schema in an empty database or upgrade it to the newest migration.

        One transaction holding the write lock: servers starting together migrate once, and a
        failed migration leaves the schema as it was.
        """
        async with self._write_engine.execution_options(ledger_migrate=True).connect() as conn:
            try:
                async with conn.begin():
                    await self._lock_chain_head(conn)
                    await conn.run_sync(migrations.upgrade)
            finally:
                if self.is_sqlite:
                    await conn.invalidate()  # never reuse a connection with foreign keys off

    async def read(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                   **kwargs: P.kwargs) -> T:
        async with AsyncSession(self._read_engine, expire_on_commit=False) as session:
            return await fn(session, *args, **kwargs)

    async def write(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                    **kwargs: P.kwargs) -> T:
        for attempt in range(1, self.WRITE_ATTEMPTS + 1):
            try:
                async with self._local_writer:
                    return await self._write_once(fn, *args, **kwargs)
            except DBAPIError as exc:
                if not _is_transient(exc):
                    raise
                if attempt == self.WRITE_ATTEMPTS:
                    raise WriteConflict(
                        "The ledger was busy with other writers; nothing was written.",
                        hint="Retry the same call (with the same idempotency_key).",
                    ) from exc
                log.info("write conflict, retrying (attempt %d): %s", attempt, exc)
                await asyncio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def rehearse(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                       **kwargs: P.kwargs) -> T:
        """Run a write and roll it back: whatever the write would refuse is refused now, and nothing is
        kept. Used before asking a human to confirm, so that nobody says yes to a call that then fails."""
        async with self._local_writer, AsyncSession(self._write_engine, expire_on_commit=False) as session:
            await session.begin()
            try:
                await self._lock_chain_head(await session.connection())
                return await fn(session, *args, **kwargs)
            finally:
                await session.rollback()

    async def _write_once(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                          **kwargs: P.kwargs) -> T:
        async with AsyncSession(self._write_engine, expire_on_commit=False) as session:
            async with session.begin():
                await self._lock_chain_head(await session.connection())
                result = await fn(session, *args, **kwargs)
            if self.anchor_log:  # committed: anchor what it wrote
                self.anchor_log.append(session.info.get(records.HEADS_KEY, {}))
            self._tell(session.info.get(events.COMMITTED_KEY))
            return result

    def _tell(self, committed: events.Committed | None) -> None:
        if committed is None:
            return
        for listener in list(self.listeners):
            try:
                listener(committed)
            except Exception:  # a listener's fault must not fail a write that has committed
                log.exception("commit listener failed")

    async def _lock_chain_head(self, conn: AsyncConnection) -> None:
        # SQLite: BEGIN IMMEDIATE (the "begin" event) already holds the database's write lock.
        if not self.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})

    async def dispose(self) -> None:
        await self.engine.dispose()


def _is_transient(exc: DBAPIError) -> bool:
    """A conflict with another writer, after which nothing was written and the call can run again."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        if sqlstate in _TRANSIENT_SQLSTATES:
            return True
        # Only a writer that bypassed the chain head lock can collide on the chain's unique keys.
        cause = getattr(orig, "__cause__", None)
        return sqlstate == _UNIQUE_VIOLATION and getattr(cause, "table_name", None) == "journal_line"
    message = str(orig).lower()
    return "database is locked" in message or "unique constraint failed: journal_line" in message
