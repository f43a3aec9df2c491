"""Who wrote an entry, through which channel and client."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    MCP = "MCP"
    CLI = "CLI"
    API = "API"
    IMPORT = "IMPORT"
    BANK_RECONCILIATION = "BANK_RECONCILIATION"


CHANNEL_LABELS = {
    Channel.MCP: "MCP server",
    Channel.CLI: "Command line",
    Channel.API: "API",
    Channel.IMPORT: "Import",
    Channel.BANK_RECONCILIATION: "Bank reconciliation",
}

SURFACE_LABELS = {"mcp": "MCP tool call", "cli": "ledger-mcp command line"}


@dataclass(frozen=True)
class Provenance:
    """The origin of a write, recorded on every intent and journal line.

    surface: the program surface that took the call ("mcp", "cli").
    channel: the source channel (MCP for everything the MCP server writes).
    actor_type: "user", "agent" or "api_key".
    actor_label: who, e.g. the OS user, a configured actor name, or an API key label.
    actor_key_prefix: the public prefix of the API key used, if any.
    client_name / client_version: the MCP client that made the call, as it introduced itself.
    """

    surface: str
    channel: Channel
    actor_type: str
    actor_label: str
    actor_key_prefix: str | None = None
    client_name: str | None = None
    client_version: str | None = None

    @classmethod
    def of(cls, row: Any) -> Provenance:
        """The provenance stored on a row (intent, journal line, period event)."""
        return cls(surface=row.surface, channel=Channel(row.channel), actor_type=row.actor_type,
                   actor_label=row.actor_label, actor_key_prefix=row.actor_key_prefix,
                   client_name=row.client_name, client_version=row.client_version)

    def columns(self) -> dict[str, Any]:
        """The provenance columns as stored on intents, journal lines and period events."""
        return {"surface": self.surface, "channel": self.channel.value, "actor_type": self.actor_type,
                "actor_label": self.actor_label, "actor_key_prefix": self.actor_key_prefix,
                "client_name": self.client_name, "client_version": self.client_version}

    @property
    def actor_id(self) -> str:
        """The identity compared for four-eyes rules: the API key when one was used, else type and label."""
        if self.actor_key_prefix:
            return f"api_key:{self.actor_key_prefix}"
        return f"{self.actor_type}:{self.actor_label}"

    @property
    def actor_display(self) -> str:
        via = f" via {self.client_name}" if self.client_name else ""
        key = f" ({self.actor_key_prefix}…)" if self.actor_key_prefix else ""
        return f"{self.actor_label}{key}{via}"


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
