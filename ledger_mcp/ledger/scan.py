"""Reading a large table in flat memory and at the driver's speed (verification reads millions of rows).

`batches` hands the rows of one statement out as the driver returns them, thousands at a time: one
hand-off to the database thread (aiosqlite) or one round trip (asyncpg) per batch, no ORM objects and
no per-row type conversion. The statement is compiled by SQLAlchemy for the session's dialect and runs
in the session's transaction, so it sees the same snapshot as every other read of that session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import Select
from sqlmodel.ext.asyncio.session import AsyncSession

BATCH = 2_000


async def batches(session: AsyncSession, statement: Select[Any], size: int = BATCH
                  ) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """The rows of `statement` as the driver returns them (positional, values as stored), `size` at a time."""
    conn = await session.connection()
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    driver: Any = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.name == "sqlite":
        cursor = await driver.execute(compiled.string, params)
        try:
            # The next batch is read on the database thread while the caller works on this one.
            pending = asyncio.ensure_future(cursor.fetchmany(size))
            while rows := await pending:
                pending = asyncio.ensure_future(cursor.fetchmany(size))
                yield rows
        finally:
            await pending
            await cursor.close()
        return
    if not driver.is_in_transaction():  # asyncpg cursors live in a transaction: let the session open it
        await conn.exec_driver_sql("SELECT 1")
    cursor = await driver.cursor(compiled.string, *params)
    while rows := await cursor.fetch(size):
        yield rows
