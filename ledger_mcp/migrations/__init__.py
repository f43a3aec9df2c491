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


@cache
def known() -> frozenset[str]:
    """Every revision this version of ledger-mcp knows."""
    return frozenset(s.revision for s in ScriptDirectory.from_config(config()).walk_revisions())


class UnknownRevision(RuntimeError):
    """The database is at a revision this version of ledger-mcp does not know: a newer version
    migrated it. Nothing can be read or written safely; upgrading ledger-mcp is the fix."""

    def __init__(self, revision: str) -> None:
        super().__init__(f"the database is at schema revision {revision}, which this version of ledger-mcp does "
                         "not know (a newer ledger-mcp upgraded it); install that version or a later one")
        self.revision = revision


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: no ledger schema, or one from before migrations);
    raises UnknownRevision for a revision newer than this code."""
    version = MigrationContext.configure(connection).get_current_revision()
    if version is not None and version not in known():
        raise UnknownRevision(version)
    return version


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
