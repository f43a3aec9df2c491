"""The tool definitions of tools/list, kept in a file between starts.

Building every tool's JSON schemas (pydantic models of arguments and results) is most of what a
server does at start, yet they only change with the source. So they are built once, written to
the user's cache directory under a key made of the package's source and the installed SDK and
pydantic, and read back by every later start; a server registers a tool's handler (and builds its
schemas for real) when the tool is first called. A file under another key is never read: after an
edit or an upgrade the definitions are built afresh and written under the new key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import mcp
import mcp_types
import pydantic
import pydantic_core
from mcp_types import Tool as MCPTool
from platformdirs import user_cache_dir

import ledger_mcp

log = logging.getLogger("ledger_mcp")
KEEP = 8  # cache files of other keys kept (other versions or checkouts in use on this machine)


@dataclass(frozen=True)
class ToolDefinition:
    """A tool as tools/list shows it, and the module of ledger_mcp.tools that registers it."""

    module: str
    tool: MCPTool


@cache  # once per process: the source a process runs does not change under it
def key() -> str:
    """What the definitions are derived from: the package's source, and the SDK and pydantic installed
    (their files are rewritten by every install, so their modification times stand for the version)."""
    digest = hashlib.sha256(f"{ledger_mcp.__version__} {sys.version} {pydantic.VERSION} "
                            f"{pydantic_core.__version__}".encode())
    for package in (mcp, mcp_types):
        stat = Path(package.__file__ or "").stat()
        digest.update(f" {package.__name__} {stat.st_size} {stat.st_mtime_ns}".encode())
    root = Path(ledger_mcp.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def directory() -> Path:
    return Path(user_cache_dir("ledger-mcp"))


def load(cache_key: str) -> list[ToolDefinition] | None:
    """The definitions written under `cache_key`, or None (none yet, or unreadable)."""
    try:
        data = json.loads((directory() / f"tools-{cache_key}.json").read_text(encoding="utf-8"))
        if data["key"] != cache_key:
            return None
        return [ToolDefinition(item["module"], MCPTool.model_validate(item["tool"])) for item in data["tools"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged file is built afresh
        log.warning("ignoring the tool cache: %s", exc)
        return None


def save(cache_key: str, definitions: list[ToolDefinition]) -> None:
    """Write the definitions (atomically: servers may start side by side); a cache that cannot be
    written only costs the next start the time to build them again."""
    # exclude_unset: read back, each model has the same fields set, so it serialises exactly as built.
    data = {"key": cache_key, "tools": [{"module": d.module,
                                         "tool": d.tool.model_dump(mode="json", by_alias=True, exclude_unset=True)}
                                        for d in definitions]}
    folder = directory()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, suffix=".tmp", delete=False) as file:
            json.dump(data, file, ensure_ascii=False)
        os.replace(file.name, folder / f"tools-{cache_key}.json")
        for old in sorted(folder.glob("tools-*.json"), key=lambda p: p.stat().st_mtime)[:-KEEP - 1]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("cannot write the tool cache in %s: %s", folder, exc)
