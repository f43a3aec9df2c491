"""The document store: files kept by the sha256 of their bytes under the data directory.

Files come from a path inside one of the allowed inbox folders, or as base64 content. Sizes are
checked before anything is read or decoded, so an oversized input fails fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ledger_mcp.ledger.errors import DocumentRefused

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
EXTENSIONS = {"application/pdf": ".pdf", "application/xml": ".xml", "image/png": ".png", "image/jpeg": ".jpg",
              "image/tiff": ".tif", "message/rfc822": ".eml"}


@dataclass(frozen=True)
class DocumentStore:
    """root: where stored files live. inbox: folders an agent may hand over files from by path."""

    root: Path
    inbox: tuple[Path, ...]
    max_bytes: int = MAX_DOCUMENT_BYTES

    def read_source(self, path: str | None, content_base64: str | None, filename: str | None) -> tuple[bytes, str]:
        """The bytes and original name of a document given by path or by base64 content."""
        if bool(path) == (content_base64 is not None):
            raise DocumentRefused("Give exactly one of path or content_base64.",
                                  hint="Pass a file path inside the inbox folder, or the file's bytes as base64.")
        if path:
            return self._read_path(path), filename or Path(path).name
        assert content_base64 is not None
        if len(content_base64) > self.max_bytes * 4 // 3 + 4:
            raise self._too_large(len(content_base64) * 3 // 4)
        try:
            data = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise DocumentRefused("content_base64 is not valid base64.",
                                  hint="Encode the file's bytes with standard base64 (no data: prefix, no line "
                                       "breaks).") from None
        return data, filename or "upload"

    def _read_path(self, text: str) -> bytes:
        if "\x00" in text or len(text) > 4096:
            raise DocumentRefused("The path contains a NUL byte or is longer than 4096 characters.",
                                  hint=self._inbox_hint())
        path = Path(text).expanduser()
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise DocumentRefused(f"File {text!r} does not exist.", hint=self._inbox_hint()) from None
        if not any(resolved.is_relative_to(folder.resolve()) for folder in self.inbox):
            raise DocumentRefused(f"File {text!r} is outside the inbox folder.", hint=self._inbox_hint(),
                                  details={"inbox": [str(folder) for folder in self.inbox]})
        if not resolved.is_file():
            raise DocumentRefused(f"{text!r} is not a file.", hint=self._inbox_hint())
        size = resolved.stat().st_size
        if size > self.max_bytes:
            raise self._too_large(size)
        return resolved.read_bytes()

    def _inbox_hint(self) -> str:
        folders = ", ".join(str(folder) for folder in self.inbox) or "(none configured)"
        return f"Place the file in an inbox folder ({folders}) and pass its path, or send it as content_base64."

    def _too_large(self, size: int) -> DocumentRefused:
        return DocumentRefused(f"The document has {size} bytes; the limit is {self.max_bytes}.",
                               hint="Split or compress the file (scans at 200-300 dpi are enough).",
                               details={"size": size, "max_bytes": self.max_bytes})

    def save(self, data: bytes, mime: str) -> tuple[str, str]:
        """Store the bytes once; returns (sha256, path relative to root)."""
        relative, _ = self.put(data, mime)
        return sha256_of(data), relative

    def put(self, data: bytes, mime: str) -> tuple[str, bool]:
        """Store the bytes once; returns (path relative to root, whether this call created the file)."""
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{digest[:2]}/{digest}{EXTENSIONS.get(mime, '')}"
        target = self.root / relative
        if target.exists():
            return relative, False
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash never leaves a half-written file under the final name.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, target)
        return relative, True

    def discard(self, relative: str) -> None:
        """Remove a file stored by a write that then failed."""
        (self.root / relative).unlink(missing_ok=True)

    def load(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
