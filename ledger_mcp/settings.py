"""Configuration from flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir

from ledger_mcp.ledger.provenance import default_actor

ConfirmPolicy = Literal["pending", "refuse", "allow_and_record"]
CONFIRM_POLICIES: tuple[str, ...] = ("pending", "refuse", "allow_and_record")


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
    cannot ask one, and always over HTTP (LEDGER_MCP_CONFIRM_POLICY): pending (a human grants it with
    the CLI or an approver's key; see tools/confirm.py), refuse, or allow_and_record.
    inbox: folders documents may be taken from by path (LEDGER_MCP_INBOX, separated by the OS path
    separator), default data_dir/inbox.
    approval_confirm_above: approving a review case whose gross exceeds this amount asks the user
    to confirm (LEDGER_MCP_CONFIRM_APPROVAL_ABOVE, a decimal string; default 1000.00, 0 for always)."""

    data_dir: Path
    database_url: str
    actor: str
    chart: str = "skr03"
    read_only: bool = False
    tools: frozenset[str] | None = None
    confirm_policy: ConfirmPolicy = "pending"
    inbox: tuple[Path, ...] = ()
    approval_confirm_above: str = "1000.00"

    @classmethod
    def load(cls, *, data_dir: str | None = None, database_url: str | None = None, actor: str | None = None,
             chart: str | None = None, read_only: bool | None = None, tools: str | None = None,
             confirm_policy: str | None = None, inbox: str | None = None,
             approval_confirm_above: str | None = None) -> Settings:
        directory = Path(data_dir or os.environ.get("LEDGER_MCP_DATA_DIR") or user_data_dir("ledger-mcp"))
        directory = directory.expanduser().resolve()
        default_url = f"sqlite+aiosqlite:///{directory / 'ledger.sqlite3'}"
        url = database_url or os.environ.get("LEDGER_MCP_DATABASE_URL") or default_url
        policy = confirm_policy or os.environ.get("LEDGER_MCP_CONFIRM_POLICY") or "pending"
        if policy not in CONFIRM_POLICIES:
            raise ValueError(f"confirm policy must be one of {', '.join(CONFIRM_POLICIES)}, not {policy!r}")
        inbox_env = os.environ.get("LEDGER_MCP_INBOX")
        folders = [Path(p).expanduser().resolve() for p in (inbox or inbox_env or "").split(os.pathsep) if p]
        threshold = approval_confirm_above or os.environ.get("LEDGER_MCP_CONFIRM_APPROVAL_ABOVE") or "1000.00"
        try:
            Decimal(threshold)
        except InvalidOperation:
            raise ValueError(f"approval confirmation threshold must be a decimal amount, not {threshold!r}") from None
        return cls(data_dir=directory, database_url=url,
                   actor=actor or os.environ.get("LEDGER_MCP_ACTOR") or default_actor(),
                   chart=chart or os.environ.get("LEDGER_MCP_CHART") or "skr03",
                   read_only=read_only or _flag(os.environ.get("LEDGER_MCP_READ_ONLY")),
                   tools=_names(tools if tools is not None else os.environ.get("LEDGER_MCP_TOOLS")),
                   confirm_policy=policy,  # type: ignore[arg-type]
                   inbox=tuple(folders) or (directory / "inbox",), approval_confirm_above=threshold)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for folder in self.inbox:
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"
