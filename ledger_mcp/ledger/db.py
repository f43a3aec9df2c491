"""The database: engine set-up, schema creation, and transactions for reads and writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.errors import WriteConflict

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Any constant identifies the chain head lock on PostgreSQL.
_CHAIN_LOCK_KEY = 0x1ED6E5


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock up front.
        dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed booking survives a power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN: the chain head they read cannot move under them.
        mode = "IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine plus the two ways to use it: `read(fn, ...)` and `write(fn, ...)`.

    `write` runs `fn(session, ...)` in one transaction that holds the chain head (BEGIN IMMEDIATE
    on SQLite, a transaction-scoped advisory lock on PostgreSQL) and retries it when another
    writer got there first. Either all of it is committed or nothing.
    """

    WRITE_ATTEMPTS = 5

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_async_engine(url, echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._write_engine = self.engine.execution_options(ledger_write=True)
        self._local_writer = asyncio.Lock()

    async def create_schema(self) -> None:
        async with self._write_engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    async def read(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                   **kwargs: P.kwargs) -> T:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return await fn(session, *args, **kwargs)

    async def write(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                    **kwargs: P.kwargs) -> T:
        for attempt in range(1, self.WRITE_ATTEMPTS + 1):
            try:
                async with self._local_writer:
                    return await self._write_once(fn, *args, **kwargs)
            except (OperationalError, IntegrityError, DBAPIError) as exc:
                if not _is_transient(exc) or attempt == self.WRITE_ATTEMPTS:
                    if _is_transient(exc):
                        raise WriteConflict(
                            "The ledger was busy with other writers; nothing was written.",
                            hint="Retry the same call (with the same idempotency_key).",
                        ) from exc
                    raise
                log.info("write conflict, retrying (attempt %d): %s", attempt, exc)
                await asyncio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write_once(self, fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]], *args: P.args,
                          **kwargs: P.kwargs) -> T:
        async with AsyncSession(self._write_engine, expire_on_commit=False) as session, session.begin():
            if not self.is_sqlite:
                conn = await session.connection()
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
            return await fn(session, *args, **kwargs)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _is_transient(exc: Exception) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return any(s in message for s in (
        "database is locked", "journal_line.journal_number", "journal_line_pkey", "could not serialize",
        "deadlock detected", "unique constraint failed: journal_line",
    ))
