"""Schema migrations (alembic). `upgrade(connection)` brings a database to the newest revision;
the revision a database is at lives in its `alembic_version` table and nowhere else.

Adding a table or column: see "Schema migrations" in README.md (autogenerate a revision, review it).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

HERE = Path(__file__).parent
# The first revision: the schema as it was before migrations existed.
BASELINE = "7c1e0b5d2a4f"


def config(connection: Connection | None = None) -> Config:
    """An alembic configuration built in code (no alembic.ini needed); env.py migrates `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision this version of ledger-mcp knows."""
    heads = ScriptDirectory.from_config(config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}; merge them with `alembic merge heads`")
    return heads[0]


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database on `connection` (in the caller's transaction) to `revision`."""
    version = current(connection)
    if version is None and inspect(connection).has_table("ledger_meta"):
        # A ledger created before migrations existed has exactly the baseline schema.
        command.stamp(config(connection), BASELINE)
        connection.execute(text("DELETE FROM ledger_meta WHERE key = 'schema_version'"))
        version = BASELINE
    if revision == "head" and version == head():
        return  # the common case, without loading env.py
    command.upgrade(config(connection), revision)
