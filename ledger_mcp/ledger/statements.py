"""Statements of the write paths, compiled once and run on the driver's connection.

Building a SQLAlchemy statement and executing it through the ORM costs about 200 microseconds; SQLite
answers the same query from its page cache in 5. A `Query` is a Core select compiled once per dialect:
`rows(session, **params)` runs it on the session's own connection (inside its transaction) and returns
plain tuples with the driver's values: no type processing, so a date column comes back as the text
SQLite stores (`stored_date` reads either form). An `Insert` is a table's insert of positional rows,
compiled once per dialect, for one executemany (`insert`, `insert_in`); `RowInsert` makes those rows
from objects (the journal's intents and lines). Only for hot paths; everything else keeps the ORM.

A SQLite write runs these on the sqlite3 connection itself (`INLINE_KEY`, `inline_sqlite`): its
statements are answered from the page cache, and even aiosqlite's cursor layers, called inline, cost
more than SQLite's work. Reads and PostgreSQL go through SQLAlchemy and their driver as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from operator import attrgetter
from typing import Any, ClassVar, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel.ext.asyncio.session import AsyncSession

INLINE_KEY = "ledger_inline_sqlite"
"""session.info key: the sqlite3 connection of a SQLite write (set by db.Database once the call's transaction,
in a group its savepoint, began), on which this module's statements run directly."""


def inline_sqlite(connection: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under a SQLite write connection (db._InlineConnection), else None."""
    return getattr(connection.connection.driver_connection, "inline_sqlite", None)


def _run(raw: sqlite3.Connection, sql: str, params: Any, *, many: bool = False) -> list[tuple[Any, ...]]:
    """A statement on the sqlite3 connection; its errors as SQLAlchemy raises them (db tells transient
    conflicts by them)."""
    try:
        if many:
            raw.executemany(sql, params)
            return []
        return raw.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


class Query:
    """A select with named `bindparam`s, compiled once per dialect. Expanding parameters (`in_` with a
    list) cannot be compiled ahead: spell such a condition out with `or_`."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        name = dialect.name
        if name not in self._compiled:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            self._compiled[name] = (compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))
        return self._compiled[name]

    def _values(self, dialect: str, names: tuple[str, ...], constants: dict[str, Any],
                params: dict[str, Any]) -> tuple[Any, ...]:
        values = tuple(params[n] if n in params else constants[n] for n in names)
        if dialect == "sqlite":  # as SQLite stores dates
            values = tuple(v.isoformat() if type(v) is date else v for v in values)
        return values

    def rows_in(self, connection: Connection, **params: Any) -> list[tuple[Any, ...]]:
        """For the synchronous hooks around a flush or commit (their `session.connection()`)."""
        sql, names, constants = self._for(connection.dialect)
        values = self._values(connection.dialect.name, names, constants, params)
        raw = inline_sqlite(connection)
        if raw is not None:
            return _run(raw, sql, values)
        return [tuple(row) for row in connection.exec_driver_sql(sql, values)]

    async def rows(self, session: AsyncSession, **params: Any) -> list[tuple[Any, ...]]:
        raw = session.info.get(INLINE_KEY)
        if raw is not None:
            sql, names, constants = self._for(session.sync_session.get_bind().dialect)
            return _run(raw, sql, self._values("sqlite", names, constants, params))
        conn = await session.connection()
        sql, names, constants = self._for(conn.dialect)
        values = self._values(conn.dialect.name, names, constants, params)
        if conn.dialect.name == "sqlite":
            # A read, on the session's connection, which began its transaction when the session asked for it,
            # on the driver's thread.
            driver: Any = (await conn.get_raw_connection()).driver_connection
            cursor = await driver.execute(sql, values)
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()
        # PostgreSQL: through SQLAlchemy, which starts the transaction (asyncpg's own calls would not).
        return [tuple(row) for row in await conn.exec_driver_sql(sql, values)]

    async def first(self, session: AsyncSession, **params: Any) -> tuple[Any, ...] | None:
        found = await self.rows(session, **params)
        return found[0] if found else None


def stored_date(value: date | str) -> date:
    """A date column as a driver returns it without type processing (text on SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


class Insert:
    """A table's insert of positional rows (`columns`, default every column in table order), compiled once per
    dialect: one executemany without the Core insert's per-row parameter processing, which costs more than the
    database takes to insert the row."""

    def __init__(self, table: Table, columns: Sequence[str] | None = None) -> None:
        self.table = table
        self.columns = tuple(columns) if columns is not None else tuple(c.name for c in table.c)
        self._sql: dict[str, str] = {}

    def sql(self, dialect: Dialect) -> str:
        if dialect.name not in self._sql:
            compiled = self.table.insert().compile(dialect=dialect, column_keys=list(self.columns))
            assert tuple(compiled.positiontup or ()) == self.columns, compiled.positiontup
            self._sql[dialect.name] = compiled.string
        return self._sql[dialect.name]


async def insert(session: AsyncSession, sql: str, rows: list[Any]) -> None:
    """An `Insert`'s (or `RowInsert`'s) statement for these positional rows, in the session's transaction."""
    raw = session.info.get(INLINE_KEY)
    if raw is not None:
        _run(raw, sql, rows, many=True)
    else:
        await (await session.connection()).exec_driver_sql(sql, rows)


def insert_in(connection: Connection, sql: str, rows: list[Any]) -> None:
    """`insert`, for the synchronous hooks around a flush or commit (their `session.connection()`)."""
    raw = inline_sqlite(connection)
    if raw is not None:
        _run(raw, sql, rows, many=True)
    else:
        connection.exec_driver_sql(sql, rows)


class RowInsert:
    """A model's `Insert` per dialect, and its rows as the driver takes them from objects read by attribute:
    positional, dates as the text SQLite stores."""

    _made: ClassVar[dict[tuple[str, str], RowInsert]] = {}

    def __init__(self, dialect: Dialect, model: type[Any]) -> None:
        table_insert = Insert(cast(Table, model.__table__))
        self.sql = table_insert.sql(dialect)
        self._values = attrgetter(*table_insert.columns)
        self._date_at = table_insert.columns.index("booking_date") if dialect.name == "sqlite" else None

    @classmethod
    def of(cls, bind: AsyncConnection | Connection | Engine, model: type[Any]) -> RowInsert:
        key = (bind.dialect.name, model.__name__)
        if key not in cls._made:
            cls._made[key] = cls(bind.dialect, model)
        return cls._made[key]

    def row(self, row: Any) -> Any:
        values = self._values(row)
        if self._date_at is None:
            return values
        at = self._date_at
        return (*values[:at], values[at].isoformat(), *values[at + 1:])

    def statement(self, rows: list[Any]) -> tuple[str, list[Any]]:
        """(sql, parameters) for exec_driver_sql: one executemany for all rows."""
        return self.sql, [self.row(r) for r in rows]
