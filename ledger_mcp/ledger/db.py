"""The database: engine set-up, schema migration, and transactions for reads and writes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite
from sqlalchemy import event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp import migrations
from ledger_mcp.ledger import events, records, statements  # events, records: their listeners on every write
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
        begin = f"BEGIN {'IMMEDIATE' if options.get('ledger_write') else 'DEFERRED'}"
        driver = conn.connection.driver_connection
        if not (isinstance(driver, _InlineConnection) and driver.began_at_once(begin)):
            conn.exec_driver_sql(begin)  # a writer's waits for the lock on the driver's thread


class _InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs statements on the calling thread. A write's statements are
    answered from the page cache in microseconds, far less than handing each to the driver's thread
    and back; only what waits (BEGIN while another connection holds the write lock, COMMIT for the
    disk) still goes there, and the event loop serves other calls meanwhile. The write path's hot
    statements skip even aiosqlite's layers and run on `inline_sqlite` (ledger.statements)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], lock_timeout: float) -> None:
        super().__init__(connector, 64)
        self._busy_timeout = f"PRAGMA busy_timeout={int(lock_timeout * 1000)}"
        self._thread.daemon = True

    @property
    def inline_sqlite(self) -> sqlite3.Connection:
        return self._conn

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if getattr(fn, "__name__", "") == "commit" or (args and str(args[0]).startswith("BEGIN")):
            # COMMIT waits for the disk, BEGIN here for another connection's lock (`began_at_once`).
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)

    def began_at_once(self, begin: str) -> bool:
        """BEGIN without waiting: True when the lock was free and the transaction began, False when
        another connection holds it (then BEGIN waits for it, busy_timeout, on the driver's thread)."""
        conn = self._conn
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute(begin)
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise DBAPIError.instance(begin, (), exc, sqlite3.Error) from exc
            return False
        finally:
            conn.execute(self._busy_timeout)


def _inline_creator(path: str, lock_timeout: float) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    async def connect() -> aiosqlite.Connection:
        # Used from the event loop's thread and the driver's: check_same_thread off.
        return await _InlineConnection(partial(sqlite3.connect, path, check_same_thread=False), lock_timeout)
    return connect


@dataclass(eq=False)
class _Call:
    """One write waiting for its group's commit. `fn` runs in a savepoint of the group's transaction;
    its outcome (result or error) is handed back only once the group committed."""

    fn: Callable[[AsyncSession], Awaitable[Any]]
    rehearse: bool
    future: asyncio.Future[Any]
    attempts: int = 0
    heads: dict[str, list[Any]] = field(default_factory=dict)
    committed: events.Committed | None = None  # what it did, for the listeners
    outcome: tuple[bool, Any] | None = None  # (ok, result or exception)


class Database:
    """An engine plus the two ways to use it: `read(fn, ...)` and `write(fn, ...)`.

    `write` runs `fn(session, ...)` in a transaction that holds the chain head (BEGIN IMMEDIATE on
    SQLite; on PostgreSQL a transaction-scoped advisory lock taken first, in READ COMMITTED so that
    every statement after it sees the head the previous writer committed). Writes that arrive while
    one commits join the next transaction (group commit): each runs in a SAVEPOINT of its own, so a
    call that fails rolls back only itself (one alone in its group needs none: it rolls back the
    transaction), and the group is made durable by one commit. Every call gets its result only after
    that commit; either all of a call is committed or nothing. A group that meets a transient conflict
    runs again.

    `read` sees one snapshot for the whole call (SQLite WAL read transaction; REPEATABLE READ on
    PostgreSQL), so a multi-statement read such as `verify_chain` is consistent under writers.

    lock_timeout: seconds a writer waits for the chain head before the attempt counts as a conflict.
    anchor_log: the file each committed write appends its chain heads to (ledger_mcp.ledger.anchor);
    None: not anchored.
    """

    WRITE_ATTEMPTS = 5
    GROUP_LIMIT = 64
    """Writes committed together at most: bounds the wait of the last one in a group (1: no grouping)."""

    def __init__(self, url: str, *, echo: bool = False, lock_timeout: float = 10.0,
                 anchor_log: Path | None = None) -> None:
        self.url = url
        self.anchor_log = AnchorLog(anchor_log) if anchor_log else None
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if not self.is_sqlite:
            connect_args["server_settings"] = {"lock_timeout": f"{int(lock_timeout * 1000)}ms"}
        self.engine = create_async_engine(url, echo=echo, connect_args=connect_args)
        if self.is_sqlite:
            _configure_sqlite(self.engine, lock_timeout)
            self._read_engine = self.engine
            # Writes get connections of their own that run statements inline (see _InlineConnection);
            # reads, which may scan a million lines, keep the driver's thread.
            self._writer: AsyncEngine | None = create_async_engine(
                url, echo=echo, async_creator=_inline_creator(parsed.database or "", lock_timeout))
            _configure_sqlite(self._writer, lock_timeout)
            self._write_engine = self._writer.execution_options(ledger_write=True)
        else:
            self._writer = None
            self._read_engine = self.engine.execution_options(isolation_level="REPEATABLE READ")
            self._write_engine = self.engine.execution_options(isolation_level="READ COMMITTED")
        self._queue: list[_Call] = []
        self._turn = asyncio.Lock()  # one group at a time in this process
        self.listeners: list[Callable[[events.Committed], None]] = []
        """Called after each committed write that did something (ledger_mcp.ledger.events); must not block."""

    async def create_schema(self) -> None:
        """Create the schema in an empty database or upgrade it to the newest migration.

        One transaction holding the write lock: servers starting together migrate once, and a
        failed migration leaves the schema as it was. A database already at the newest revision (the
        common start) is only read: no write lock, no connection set up for migrating.
        """
        async with self._read_engine.connect() as conn:
            if await conn.run_sync(migrations.current) == migrations.HEAD:
                return
        async with self._turn, self._write_engine.execution_options(ledger_migrate=True).connect() as conn:
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
        result: T = await self._submit(lambda session: fn(session, *args, **kwargs), rehearse=False)
        return result

    async def rehearse(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                       **kwargs: P.kwargs) -> T:
        """Run a write and roll it back: whatever the write would refuse is refused now, and nothing is
        kept. Used before asking a human to confirm, so that nobody says yes to a call that then fails."""
        result: T = await self._submit(lambda session: fn(session, *args, **kwargs), rehearse=True)
        return result

    async def _submit(self, fn: Callable[[AsyncSession], Awaitable[Any]], *, rehearse: bool) -> Any:
        call = _Call(fn, rehearse, asyncio.get_running_loop().create_future())
        self._queue.append(call)
        try:
            async with self._turn:  # whoever holds the turn commits everything queued so far
                while not call.future.done():
                    group, self._queue = self._queue[:self.GROUP_LIMIT], self._queue[self.GROUP_LIMIT:]
                    await self._commit_group(group)
        except asyncio.CancelledError:
            if call in self._queue:  # not begun: a cancelled call writes nothing
                self._queue.remove(call)
            raise
        return call.future.result()

    async def _commit_group(self, group: list[_Call]) -> None:
        try:
            await self._transaction(group)
        except DBAPIError as exc:
            if not _is_transient(exc):
                for call in group:
                    _settle(call, (False, exc) if call.outcome is None or call.outcome[0] else call.outcome)
                return
            log.info("write conflict, retrying: %s", exc)
            await self._again(group, exc)
            return
        except BaseException:
            self._queue[:0] = [c for c in group if not c.future.done()]  # the next holder runs them again
            raise
        heads: dict[str, list[Any]] = {}
        for call in group:
            for chain, head in call.heads.items():
                if chain not in heads or heads[chain][0] < head[0]:
                    heads[chain] = head
        # Committed: what follows a commit happens here, once per group.
        if self.anchor_log:
            self.anchor_log.append(heads)
        for call in group:
            self._tell(call.committed)
        retry = [c for c in group if c.outcome is None]
        for call in group:
            if call.outcome is not None:
                _settle(call, call.outcome)
        if retry:
            await self._again(retry, None)

    async def _again(self, calls: list[_Call], exc: BaseException | None) -> None:
        """Queue calls that met a transient conflict for the next group, or give up on them."""
        again = []
        for call in calls:
            call.attempts += 1
            call.outcome, call.heads, call.committed = None, {}, None
            if call.attempts >= self.WRITE_ATTEMPTS:
                conflict = WriteConflict("The ledger was busy with other writers; nothing was written.",
                                         hint="Retry the same call (with the same idempotency_key).")
                conflict.__cause__ = exc
                _settle(call, (False, conflict))
            else:
                again.append(call)
        self._queue[:0] = again
        if again:
            await asyncio.sleep(0.01 * again[0].attempts)

    async def _transaction(self, group: list[_Call]) -> None:
        async with self._write_engine.connect() as conn, conn.begin():
            await self._lock_chain_head(conn)
            for call in group:
                await self._run(conn, call, alone=len(group) == 1)

    @staticmethod
    async def _run(conn: AsyncConnection, call: _Call, *, alone: bool) -> None:
        """One call in a savepoint of the group's transaction: released when it succeeds, rolled back
        when it fails (or is a rehearsal). A call `alone` in its group needs no savepoint: its rollback
        rolls back the whole transaction. A transient conflict leaves `outcome` None: it runs again."""
        call.outcome, call.heads, call.committed = None, {}, None
        session = AsyncSession(bind=conn, expire_on_commit=False,
                               join_transaction_mode="rollback_only" if alone else "create_savepoint")
        try:
            # The session's transaction begins (in a group: its savepoint) before fn runs statements on the
            # sqlite3 connection itself (ledger.statements), so that they are in it.
            await session.connection()
            if conn.sync_connection and (raw := statements.inline_sqlite(conn.sync_connection)) is not None:
                session.info[statements.INLINE_KEY] = raw
            result = await call.fn(session)
            if call.rehearse:
                await session.rollback()
            else:
                await session.commit()
                call.heads = session.info.get(records.HEADS_KEY, {})
                call.committed = session.info.get(events.COMMITTED_KEY)
            call.outcome = (True, result)
        except Exception as exc:
            await session.rollback()
            if not (isinstance(exc, DBAPIError) and _is_transient(exc)):
                call.outcome = (False, exc)
        finally:
            await session.close()

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
        if self._writer is not None:
            await self._writer.dispose()


def _settle(call: _Call, outcome: tuple[bool, Any]) -> None:
    if call.future.done():
        return
    ok, value = outcome
    if ok:
        call.future.set_result(value)
    else:
        call.future.set_exception(value)


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
