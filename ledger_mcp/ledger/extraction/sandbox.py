"""Untrusted files are read in a child process that cannot hurt the server.

A document (or an email to split) is handed to a fresh process forked from a forkserver that has
the readers (pypdf, pdfium, Pillow, lxml, tesseract's wrapper) already imported, so a normal file
costs one fork. The child runs under hard limits:

- address space (RLIMIT_AS): a decompression bomb ends in MemoryError or a failed allocation,
  answered as DOCUMENT_TOO_COMPLEX; the limit is inherited by tesseract;
- CPU time (RLIMIT_CPU) and a wall-clock deadline: the parent kills the child's whole process group
  (tesseract included) and answers EXTRACTION_TIMEOUT;
- output: the parent reads at most `output_bytes` of result, files written are capped (RLIMIT_FSIZE).

The child talks to the parent in JSON only (progress, result, error), never pickle: whatever a
hostile file does to a reader library stays in the child.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

from ledger_mcp.ledger.errors import DocumentCorrupt, DocumentTooComplex, ExtractionTimeout, LedgerError, from_dict
from ledger_mcp.ledger.extraction.mail import Attachment, Mail
from ledger_mcp.ledger.extraction.models import ExtractedInvoice
from ledger_mcp.ledger.untrusted import sanitize, sanitize_all

Progress = Callable[[float, str], None]
MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """memory_bytes: address space of the child (and of tesseract under it). cpu_seconds: CPU time of the
    child. wall_seconds: the extraction's time budget; the child is killed a grace period after it.
    output_bytes: the largest result the parent reads back. file_bytes: the largest file the child may write."""

    memory_bytes: int = 1024 * MiB
    cpu_seconds: int = 90
    wall_seconds: float = 60.0
    output_bytes: int = 64 * MiB
    file_bytes: int = 256 * MiB


DEFAULT_LIMITS = Limits()
# The child's own deadline (Deadline in documents.py) answers with a precise message; the kill after this
# grace period is for a reader stuck inside one call.
KILL_GRACE = 5.0
_PRELOAD = ["__main__", "ledger_mcp.ledger.extraction.cascade", "ledger_mcp.ledger.extraction.mail"]
_lock = threading.Lock()
_context: ForkServerContext | None = None


def extract(data: bytes, mime: str, *, max_pages: int = 10, limits: Limits = DEFAULT_LIMITS,
            progress: Progress | None = None) -> ExtractedInvoice:  # fmt: skip
    """cascade.extract in a confined child: the same result or LedgerError, plus DocumentTooComplex and
    ExtractionTimeout when the file exceeds the limits. Blocking: call it from a worker thread."""
    params = {"mime": mime, "max_pages": max_pages, "time_limit": limits.wall_seconds}
    out = _run("extract", data, params, limits, progress)
    # The child's answer is as untrusted as the document: checked against the model and sanitized again here.
    return ExtractedInvoice.model_validate(sanitize_all(json.loads(out)))


def split_email(data: bytes, max_bytes: int, *, limits: Limits = DEFAULT_LIMITS) -> Mail:
    """mail.split_email in a confined child."""
    out = _run("email", data, {"max_bytes": max_bytes}, limits, None)
    head_size = int.from_bytes(out[:8], "big")
    head = json.loads(out[8:8 + head_size])
    blob, offset, attachments = memoryview(out)[8 + head_size:], 0, []
    for item in head["attachments"]:
        attachments.append(Attachment(filename=sanitize(str(item["filename"]), 300),
                                      data=bytes(blob[offset:offset + item["size"]])))
        offset += item["size"]
    return Mail(sender=_text(head["sender"], 320), subject=_text(head["subject"], 500), attachments=attachments)


def _text(value: Any, limit: int) -> str | None:
    return sanitize(str(value), limit) or None if value is not None else None


def warm_up() -> None:
    """Start the forkserver now (it imports the readers once, ~1 s) instead of on the first document."""
    _forkserver()
    forkserver.ensure_running()


# --- parent side ---


def _forkserver() -> ForkServerContext:
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


def _run(task: str, data: bytes, params: dict[str, Any], limits: Limits, progress: Progress | None) -> bytes:
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, task, data, params, asdict(limits)), daemon=True)
    child.start()
    sender.close()
    end = time.monotonic() + limits.wall_seconds + KILL_GRACE
    try:
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise _timeout(limits)
            if not receiver.poll(min(remaining, 0.5)):
                continue
            try:
                message = receiver.recv_bytes(limits.output_bytes)
            except EOFError:  # the child died without an answer: killed by a limit or crashed in a library
                raise _died(child, limits) from None
            except OSError:  # longer than output_bytes
                raise _too_complex(f"its extraction result exceeds {limits.output_bytes // MiB} MiB") from None
            kind, body = message[:1], message[1:]
            if kind == b"r":
                return body
            if kind == b"e":
                raise from_dict(sanitize_all(json.loads(body)))
            if kind == b"p" and progress is not None:
                fraction, text = json.loads(body)
                progress(float(fraction), sanitize(str(text), 200))
    finally:
        receiver.close()
        _kill(child)


def _kill(child: multiprocessing.process.BaseProcess) -> None:
    """The child's whole process group (tesseract included), then the child itself."""
    if child.pid is not None and child.is_alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):  # not yet a group of its own
            os.killpg(child.pid, signal.SIGKILL)
        child.kill()
    child.join(5)


def _died(child: multiprocessing.process.BaseProcess, limits: Limits) -> LedgerError:
    child.join(5)
    if child.exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
        return _timeout(limits)
    return _too_complex("reading it exhausted the extraction's memory or crashed a reader library")


def _timeout(limits: Limits) -> ExtractionTimeout:
    return ExtractionTimeout(f"Extraction took longer than {limits.wall_seconds:g} s and was stopped.",
                             hint="Send fewer pages, or a document with a text layer or embedded e-invoice XML.")


def _too_complex(why: str) -> DocumentTooComplex:
    return DocumentTooComplex(f"The document is too complex to read: {why}.",
                              hint="Send a simpler export of the invoice (print to PDF, or the e-invoice XML).")


# --- child side ---


def _child(sender: Connection, task: str, data: bytes, params: dict[str, Any], limits: dict[str, Any]) -> None:
    try:
        _confine(Limits(**limits))
        out = _TASKS[task](data, params, lambda f, m: sender.send_bytes(b"p" + json.dumps([f, m]).encode()))
        sender.send_bytes(b"r" + out)
    except LedgerError as error:
        sender.send_bytes(b"e" + json.dumps(error.to_dict()).encode())
    except MemoryError:
        sender.send_bytes(b"e" + json.dumps(_too_complex("reading it needs more memory than allowed").to_dict())
                          .encode())
    except Exception as exc:  # a reader failing on a malformed file: one error, never a traceback
        corrupt = DocumentCorrupt(f"The document could not be read ({type(exc).__name__}).",
                                  hint="Send the original file again, or a PDF/e-invoice export of it.")
        sender.send_bytes(b"e" + json.dumps(corrupt.to_dict()).encode())
    finally:
        sender.close()


def _confine(limits: Limits) -> None:
    """Own process group (so the parent can kill tesseract with it), no stdout (the stdio transport's
    channel), no core files, and the limits."""
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    cpu = max(1, int(limits.cpu_seconds))
    for name, value in ((resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_CPU, cpu),
                        (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_CORE, 0)):  # fmt: skip
        resource.setrlimit(name, (value, value) if name != resource.RLIMIT_CPU else (cpu, cpu + 2))


def _extract_task(data: bytes, params: dict[str, Any], progress: Progress) -> bytes:
    from ledger_mcp.ledger.extraction.cascade import extract as read

    result = read(data, params["mime"], max_pages=params["max_pages"], time_limit=params["time_limit"],
                  progress=progress)
    return result.model_dump_json().encode()


def _email_task(data: bytes, params: dict[str, Any], progress: Progress) -> bytes:
    from ledger_mcp.ledger.extraction.mail import split_email as split

    mail = split(data, params["max_bytes"])
    head = json.dumps({"sender": mail.sender, "subject": mail.subject,
                       "attachments": [{"filename": a.filename, "size": len(a.data)} for a in mail.attachments]})
    encoded = head.encode()
    return len(encoded).to_bytes(8, "big") + encoded + b"".join(a.data for a in mail.attachments)


_TASKS: dict[str, Callable[[bytes, dict[str, Any], Progress], bytes]] = {"extract": _extract_task,
                                                                        "email": _email_task}
__all__ = ["DEFAULT_LIMITS", "Limits", "extract", "split_email", "warm_up"]
