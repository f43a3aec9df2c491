"""An exported file: written to a temporary file page by page, read back once when it is returned."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Called after each page: (journal lines done, lines in all, message).
Progress = Callable[[int, int, str], Awaitable[None]]


@dataclass(frozen=True)
class ExportFile:
    """filename: the name the file should be saved as (DATEV wants EXTF_*.csv). mime_type: with its
    charset. path: the finished file on disk; the caller removes it (`discard`). rows: data rows written."""

    filename: str
    mime_type: str
    path: Path
    rows: int

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def temporary_file(suffix: str) -> tuple[Path, IO[bytes]]:
    handle = tempfile.NamedTemporaryFile(prefix="ledger-export-", suffix=suffix, delete=False)  # noqa: SIM115
    return Path(handle.name), handle
