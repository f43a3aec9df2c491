"""Schema migrations (alembic). `upgrade(connection)` brings a database to the newest revision;
the revision a database is at lives in its `alembic_version` table and nowhere else.

Adding a table or column: see "Schema migrations" in README.md (autogenerate a revision, review it,
and set HEAD to it). alembic is imported only when a database has to be stamped or upgraded: a
server starting on a current database (the common case) does not pay for it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel

from ledger_mcp.ledger import models  # noqa: F401 - registers every table on SQLModel.metadata

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script

HERE = Path(__file__).parent
# The first revision: the schema as it was before migrations existed.
BASELINE = "7c1e0b5d2a4f"
# The newest revision; tests/ledger/test_migrations.py checks that it is the scripts' only head.
HEAD = "66527ecc4a11"


def config(connection: Connection | None = None) -> Config:
    """An alembic configuration built in code (no alembic.ini needed); env.py migrates `connection`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this version of ledger-mcp knows."""
    return HEAD


def script_heads() -> list[str]:
    """The heads of the revision scripts (one, equal to HEAD, in a sound tree)."""
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(config()).get_heads())


def script_revision(revision: str) -> Script:
    """One revision script (its `down_revision` names its parent)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config()).get_revision(revision)
    if script is None:
        raise KeyError(revision)
    return script


@cache
def known() -> frozenset[str]:
    """Every revision this version of ledger-mcp knows."""
    from alembic.script import ScriptDirectory

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
    if not inspect(connection).has_table("alembic_version"):
        return None
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if version is not None and version != HEAD and version not in known():
        raise UnknownRevision(version)
    return version


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database on `connection` (in the caller's transaction) to `revision`. Asked for "head", an
    empty database is created from the models instead (`create`); a revision named by its id always runs the
    scripts up to it."""
    version = current(connection)
    if revision == "head" and version == HEAD:
        return  # the common case, without loading alembic
    if revision == "head" and version is None and _empty(connection):
        create(connection)
        return
    from alembic import command

    if version is None and inspect(connection).has_table("ledger_meta"):
        # A ledger created before migrations existed has exactly the baseline schema.
        command.stamp(config(connection), BASELINE)
        connection.execute(text("DELETE FROM ledger_meta WHERE key = 'schema_version'"))
        version = BASELINE
    command.upgrade(config(connection), revision)


def _empty(connection: Connection) -> bool:
    """No table of a ledger in the database (another application's tables do not count)."""
    return not set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables)


def create(connection: Connection) -> None:
    """Create the newest schema in an empty database from the models and stamp it with HEAD: a new ledger does
    not wait for every revision to run (alembic alone costs a new ledger's start more than the models).
    tests/ledger/test_migrations.py checks that the revision scripts build exactly this schema."""
    SQLModel.metadata.create_all(connection)
    # alembic's version table, as `alembic stamp` makes it.
    connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD})
