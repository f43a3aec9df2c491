"""Statements of the booking path, compiled once and run on the driver's connection.

Building a SQLAlchemy statement and executing it through the ORM costs about 200 microseconds; SQLite
answers the same query from its page cache in 5. A `Query` is a Core select compiled once per dialect:
`rows(session, **params)` runs it on the session's own connection (inside its transaction) and returns
plain tuples with the driver's values: no type processing, so a date column comes back as the text
SQLite stores (`stored_date` reads either form). Only for short statements on hot paths; everything
else keeps the ORM.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel.ext.asyncio.session import AsyncSession


class Query:
    """A select with named `bindparam`s, compiled once per dialect. Expanding parameters (`in_` with a
    list) cannot be compiled ahead: spell such a condition out with `or_`."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    def _for(self, conn: AsyncConnection | Connection) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        name = conn.dialect.name
        if name not in self._compiled:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=conn.dialect))
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
        sql, names, constants = self._for(connection)
        values = self._values(connection.dialect.name, names, constants, params)
        return [tuple(row) for row in connection.exec_driver_sql(sql, values)]

    async def rows(self, session: AsyncSession, **params: Any) -> list[tuple[Any, ...]]:
        conn = await session.connection()
        sql, names, constants = self._for(conn)
        values = self._values(conn.dialect.name, names, constants, params)
        if conn.dialect.name == "sqlite":
            # On the session's connection, which began its transaction when the session asked for it. A
            # write's connection runs this inline (db._InlineConnection); a read's on the driver's thread.
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
