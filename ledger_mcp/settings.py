"""Configuration from flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir

from ledger_mcp.ledger.provenance import default_actor


@dataclass(frozen=True)
class Settings:
    """data_dir: where the SQLite file and stored documents live (LEDGER_MCP_DATA_DIR).
    database_url: SQLAlchemy async URL (LEDGER_MCP_DATABASE_URL), default a SQLite file in data_dir.
    actor: who this server instance acts for (LEDGER_MCP_ACTOR), default the OS user.
    chart: the chart a new ledger starts with (LEDGER_MCP_CHART), skr03 or skr04.
    inbox: folders documents may be taken from by path (LEDGER_MCP_INBOX, separated by the OS path
    separator), default data_dir/inbox."""

    data_dir: Path
    database_url: str
    actor: str
    chart: str = "skr03"
    inbox: tuple[Path, ...] = ()

    @classmethod
    def load(cls, *, data_dir: str | None = None, database_url: str | None = None, actor: str | None = None,
             chart: str | None = None, inbox: str | None = None) -> Settings:
        directory = Path(data_dir or os.environ.get("LEDGER_MCP_DATA_DIR") or user_data_dir("ledger-mcp"))
        directory = directory.expanduser().resolve()
        default_url = f"sqlite+aiosqlite:///{directory / 'ledger.sqlite3'}"
        url = database_url or os.environ.get("LEDGER_MCP_DATABASE_URL") or default_url
        inbox_env = os.environ.get("LEDGER_MCP_INBOX")
        folders = [Path(p).expanduser().resolve() for p in (inbox or inbox_env or "").split(os.pathsep) if p]
        return cls(data_dir=directory, database_url=url,
                   actor=actor or os.environ.get("LEDGER_MCP_ACTOR") or default_actor(),
                   chart=chart or os.environ.get("LEDGER_MCP_CHART") or "skr03",
                   inbox=tuple(folders) or (directory / "inbox",))

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for folder in self.inbox:
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"
