"""How alembic reaches the database: the connection handed in by `ledger_mcp.migrations.upgrade`,
or, from the alembic command line, the URL in `-x url=...` or LEDGER_MCP_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from ledger_mcp.ledger import models  # noqa: F401 - registers every table on SQLModel.metadata

target_metadata = SQLModel.metadata


def _render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    # Revisions use plain SQLAlchemy types, not SQLModel's internal ones.
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _migrate(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=sqlite,
                      render_item=_render_item, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        # Batch mode rebuilds tables with foreign keys off: the result must still be consistent.
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows that violate foreign keys: {broken[:5]}")


async def _migrate_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    if context.config.config_file_name:
        fileConfig(context.config.config_file_name)
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("LEDGER_MCP_DATABASE_URL")
    if not url:
        raise SystemExit("Name the database: alembic -x url=sqlite+aiosqlite:////path/ledger.sqlite3 ... "
                         "(or set LEDGER_MCP_DATABASE_URL)")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_migrate_url(url))


_run()
