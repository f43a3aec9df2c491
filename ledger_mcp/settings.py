"""Configuration from flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir

from ledger_mcp.ledger.provenance import default_actor

ConfirmPolicy = Literal["refuse", "allow_and_record"]


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _names(value: str | None) -> frozenset[str] | None:
    names = frozenset(n.strip() for n in (value or "").split(",") if n.strip())
    return names or None


@dataclass(frozen=True)
class Settings:
    """data_dir: where the SQLite file and stored documents live (LEDGER_MCP_DATA_DIR).
    database_url: SQLAlchemy async URL (LEDGER_MCP_DATABASE_URL), default a SQLite file in data_dir;
    PostgreSQL as postgresql+asyncpg://user:password@host:port/database.
    actor: who this server instance acts for without an API key (LEDGER_MCP_ACTOR), default the OS user.
    chart: the chart a new ledger starts with (LEDGER_MCP_CHART), skr03 or skr04.
    read_only: offer and allow only reading tools (LEDGER_MCP_READ_ONLY=1).
    tools: if set, the only tools this instance offers (LEDGER_MCP_TOOLS, comma-separated).
    confirm_policy: what happens to an action that needs a human's confirmation when the client
    cannot ask one (LEDGER_MCP_CONFIRM_POLICY): refuse, or allow_and_record."""

    data_dir: Path
    database_url: str
    actor: str
    chart: str = "skr03"
    read_only: bool = False
    tools: frozenset[str] | None = None
    confirm_policy: ConfirmPolicy = "refuse"

    @classmethod
    def load(cls, *, data_dir: str | None = None, database_url: str | None = None, actor: str | None = None,
             chart: str | None = None, read_only: bool | None = None, tools: str | None = None,
             confirm_policy: str | None = None) -> Settings:
        directory = Path(data_dir or os.environ.get("LEDGER_MCP_DATA_DIR") or user_data_dir("ledger-mcp"))
        directory = directory.expanduser().resolve()
        default_url = f"sqlite+aiosqlite:///{directory / 'ledger.sqlite3'}"
        url = database_url or os.environ.get("LEDGER_MCP_DATABASE_URL") or default_url
        policy = confirm_policy or os.environ.get("LEDGER_MCP_CONFIRM_POLICY") or "refuse"
        if policy not in ("refuse", "allow_and_record"):
            raise ValueError(f"confirm policy must be refuse or allow_and_record, not {policy!r}")
        return cls(data_dir=directory, database_url=url,
                   actor=actor or os.environ.get("LEDGER_MCP_ACTOR") or default_actor(),
                   chart=chart or os.environ.get("LEDGER_MCP_CHART") or "skr03",
                   read_only=read_only or _flag(os.environ.get("LEDGER_MCP_READ_ONLY")),
                   tools=_names(tools if tools is not None else os.environ.get("LEDGER_MCP_TOOLS")),
                   confirm_policy=policy)  # type: ignore[arg-type]

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
