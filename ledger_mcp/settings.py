"""Configuration from flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from platformdirs import user_data_dir

from ledger_mcp.ledger.provenance import default_actor

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ConfirmPolicy = Literal["pending", "refuse", "allow_and_record"]
CONFIRM_POLICIES: tuple[str, ...] = ("pending", "refuse", "allow_and_record")
CHARTS = ("skr03", "skr04")
# The async drivers the ledger runs on, by database.
DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
URL_FORMS = "sqlite+aiosqlite:////path/ledger.sqlite3 or postgresql+asyncpg://user:password@host:5432/database"


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in {"", "0", "false", "no", "off"}:
        return False
    if value in {"1", "true", "yes", "on"}:
        return True
    raise ValueError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {value!r}")


def parse_url(url: str) -> URL | None:
    """The database URL parsed, or None when it cannot be. (SQLAlchemy is imported here, not with this module:
    the command line reads its settings first, and a server starts faster loading SQLAlchemy in cli._starting.)"""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        return None


def display_url(url: str) -> str:
    """The database URL as it may be shown: without its password."""
    parsed = parse_url(url)
    if parsed is None:
        return url.split("@", 1)[-1] if "@" in url else url
    return parsed.render_as_string(hide_password=True)


def _check_url(url: str) -> str:
    parsed = parse_url(url)
    if parsed is None:
        raise ValueError(f"database URL {display_url(url)!r} cannot be parsed; use {URL_FORMS}")
    if DRIVERS.get(parsed.get_backend_name()) != parsed.get_driver_name():
        raise ValueError(f"database URL {display_url(url)} names no supported database driver; use {URL_FORMS}")
    return url


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
    toolsets: the toolsets this instance offers (LEDGER_MCP_TOOLSETS, comma-separated; "default",
    "all" or names from server/access.py TOOLSETS); None: the default toolsets.
    confirm_policy: what happens to an action that needs a human's confirmation when the client
    cannot ask one, and always over HTTP (LEDGER_MCP_CONFIRM_POLICY): pending (a human grants it with
    the CLI or an approver's key; see tools/confirm.py), refuse, or allow_and_record.
    inbox: folders documents may be taken from by path (LEDGER_MCP_INBOX, separated by the OS path
    separator), default data_dir/inbox.
    approval_confirm_above: approving a review case whose gross exceeds this amount asks the user
    to confirm (LEDGER_MCP_CONFIRM_APPROVAL_ABOVE, a decimal string; default 1000.00, 0 for always).
    anchor_log: the file every committed write appends the chain heads to, kept apart from the database
    (LEDGER_MCP_ANCHOR_LOG; default data_dir/anchor.jsonl; see ledger_mcp.ledger.anchor).
    company: the company these settings are for ("default": the home ledger; see for_company).
    home: a company's settings name those of its home ledger, which holds the API keys and the catalog of
    companies; None for the home ledger itself."""

    data_dir: Path
    database_url: str
    actor: str
    chart: str = "skr03"
    read_only: bool = False
    tools: frozenset[str] | None = None
    toolsets: frozenset[str] | None = None
    confirm_policy: ConfirmPolicy = "pending"
    inbox: tuple[Path, ...] = ()
    approval_confirm_above: str = "1000.00"
    anchor_log: Path | None = None
    company: str = "default"  # ledger.companies.HOME (not imported here: the CLI starts without the domain)
    home: Settings | None = None

    @classmethod
    def load(cls, *, data_dir: str | None = None, database_url: str | None = None, actor: str | None = None,
             chart: str | None = None, read_only: bool | None = None, tools: str | None = None,
             toolsets: str | None = None, confirm_policy: str | None = None, inbox: str | None = None,
             approval_confirm_above: str | None = None, anchor_log: str | None = None) -> Settings:
        directory = Path(data_dir or os.environ.get("LEDGER_MCP_DATA_DIR") or user_data_dir("ledger-mcp"))
        directory = directory.expanduser().resolve()
        default_url = f"sqlite+aiosqlite:///{directory / 'ledger.sqlite3'}"
        url = _check_url(database_url or os.environ.get("LEDGER_MCP_DATABASE_URL") or default_url)
        chart = chart or os.environ.get("LEDGER_MCP_CHART") or "skr03"
        if chart not in CHARTS:
            raise ValueError(f"chart must be one of {', '.join(CHARTS)}, not {chart!r}")
        policy = confirm_policy or os.environ.get("LEDGER_MCP_CONFIRM_POLICY") or "pending"
        if policy not in CONFIRM_POLICIES:
            raise ValueError(f"confirm policy must be one of {', '.join(CONFIRM_POLICIES)}, not {policy!r}")
        inbox_env = os.environ.get("LEDGER_MCP_INBOX")
        folders = [Path(p).expanduser().resolve() for p in (inbox or inbox_env or "").split(os.pathsep) if p]
        threshold = approval_confirm_above or os.environ.get("LEDGER_MCP_CONFIRM_APPROVAL_ABOVE") or "1000.00"
        try:
            valid = Decimal(threshold).is_finite() and Decimal(threshold) >= 0
        except InvalidOperation:
            valid = False
        if not valid:
            raise ValueError(f"approval confirmation threshold must be a decimal amount of 0 or more, "
                             f"not {threshold!r}")
        return cls(data_dir=directory, database_url=url,
                   actor=actor or os.environ.get("LEDGER_MCP_ACTOR") or default_actor(),
                   chart=chart, read_only=read_only or _flag("LEDGER_MCP_READ_ONLY"),
                   tools=_names(tools if tools is not None else os.environ.get("LEDGER_MCP_TOOLS")),
                   toolsets=_names(toolsets if toolsets is not None else os.environ.get("LEDGER_MCP_TOOLSETS")),
                   confirm_policy=policy,  # type: ignore[arg-type]
                   inbox=tuple(folders) or (directory / "inbox",), approval_confirm_above=threshold,
                   anchor_log=Path(anchor_log or os.environ.get("LEDGER_MCP_ANCHOR_LOG") or directory / "anchor.jsonl")
                   .expanduser().resolve())

    def for_company(self, slug: str, database_url: str | None = None, chart: str | None = None) -> Settings:
        """The settings of a company of this (home) ledger's catalog: its own directory under
        <data_dir>/companies/<slug> with documents, inbox and anchor log, and its database (`database_url`
        as the catalog has it, None for the SQLite file there); everything else as here."""
        from ledger_mcp.ledger.companies import HOME, company_dir

        if slug == HOME:
            return self
        if self.company != HOME:
            raise ValueError("company settings are derived from the home ledger's settings")
        directory = company_dir(self.data_dir, slug)
        url = _check_url(database_url or f"sqlite+aiosqlite:///{directory / 'ledger.sqlite3'}")
        return replace(self, company=slug, home=self, data_dir=directory,
                       database_url=url, chart=chart or self.chart, inbox=(directory / "inbox",),
                       anchor_log=directory / "anchor.jsonl")

    @property
    def home_settings(self) -> Settings:
        """The home ledger's settings: its database holds the API keys and the catalog of companies."""
        return self.home or self

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for folder in self.inbox:
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def database_display(self) -> str:
        """The database as messages name it: the SQLite file's path, or the URL without its password."""
        url = parse_url(self.database_url)
        if url is not None and url.get_backend_name() == "sqlite":
            return str(url.database)
        return display_url(self.database_url)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"
