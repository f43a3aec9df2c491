"""MCP tools: thin adapters that validate input, call the ledger, and shape the answer.

Each module has a `register(server, app)` that adds its tools. A server imports and registers a module
when one of its tools is first called (see server/app.py): the modules, and the ledger modules they
use, are not imported at start.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

MODULES = ("booking", "journal", "accounts", "reports", "parties", "invoices", "periods", "review", "fx", "bank",
           "payment_runs", "companies", "webhooks", "confirmations")
"""Every module with tools, in the order of tools/list."""

HTTP_ONLY = frozenset({"confirmations"})
"""On stdio the human grants confirmations with the CLI (see tools/confirmations.py)."""


def modules(transport: str) -> tuple[str, ...]:
    """The tool modules of a server on `transport` ("stdio" or "http")."""
    return tuple(name for name in MODULES if transport == "http" or name not in HTTP_ONLY)


def module(name: str) -> ModuleType:
    return import_module(f"ledger_mcp.tools.{name}")
