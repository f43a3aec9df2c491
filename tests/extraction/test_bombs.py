"""Hostile documents under a memory limit: each kind is read in the sandbox and refused with a clear code,
the server process untouched, no child process left behind, and through the MCP tool nothing kept but the
ingestion-log row."""

from __future__ import annotations

import base64
import io
import multiprocessing
import resource
import zlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from mcp import Client
from PIL import Image

from ledger_mcp.ledger.errors import DocumentRefused, DocumentTooComplex, ExtractionTimeout, LedgerError
from ledger_mcp.ledger.extraction import detect_mime, sandbox
from ledger_mcp.ledger.extraction.cascade import extract
from ledger_mcp.settings import Settings
from tests.conftest import call, fail
from tests.extraction.conftest import sample_bytes

LIMITS = sandbox.Limits(memory_bytes=384 * sandbox.MiB, wall_seconds=30)


def pdf(content: bytes, *, compressed: bytes | None = None) -> bytes:
    """A one-page PDF whose content stream is `content`, or the deflated stream `compressed`."""
    stream = compressed if compressed is not None else content
    flate = b" /Filter /FlateDecode" if compressed is not None else b""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
               b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), flate, stream)]  # fmt: skip
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_bomb(inflated_mib: int) -> bytes:
    """A ~1 MB PDF whose content stream inflates to `inflated_mib` MiB of drawing operators."""
    packer, chunk = zlib.compressobj(9), b"0 0 m 1 1 l S\n" * 75_000
    parts = [packer.compress(chunk) for _ in range(inflated_mib * 2**20 // len(chunk))]
    return pdf(b"", compressed=b"".join(parts) + packer.flush())


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return pdf_bomb(600)


def huge_xml() -> bytes:
    return (b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">'
            + b"<a/>" * 4_000_000 + b"</Invoice>")  # fmt: skip


def pixel_bomb() -> bytes:
    """79 million pixels (just under the pixel cap) in a 30 kB PNG."""
    out = io.BytesIO()
    Image.new("1", (8_900, 8_900), 1).save(out, "PNG")
    return out.getvalue()


def email_with(attachment: bytes, name: str = "invoice.pdf") -> bytes:
    message = EmailMessage()
    message["From"], message["Subject"] = "billing@example.com", "Invoice"
    message.set_content("See attached.")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


def no_child_left() -> bool:
    return not [p for p in multiprocessing.active_children() if p.name.startswith("ForkServerProcess")]


@pytest.mark.parametrize("kind", ["pdf", "xml", "png"])
def test_each_bomb_is_too_complex_under_a_memory_limit(kind: str, bomb: bytes) -> None:
    data = {"pdf": bomb, "xml": huge_xml(), "png": pixel_bomb()}[kind]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DocumentTooComplex) as caught:
        sandbox.extract(data, detect_mime(data), limits=LIMITS)
    assert caught.value.code == "DOCUMENT_TOO_COMPLEX" and caught.value.hint
    # The parent never held the inflated content (ru_maxrss is in KiB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024
    assert no_child_left()


def test_an_email_too_large_to_parse_under_the_limit_is_too_complex() -> None:
    message = email_with(b"%PDF-1.4 " + bytes(14_000_000))
    with pytest.raises(DocumentTooComplex):
        sandbox.split_email(message, 20 * 2**20, limits=sandbox.Limits(memory_bytes=192 * sandbox.MiB))
    mail = sandbox.split_email(message, 20 * 2**20, limits=LIMITS)  # the same email with room to parse
    assert [(a.filename, len(a.data)) for a in mail.attachments] == [("invoice.pdf", 14_000_009)]
    with pytest.raises(DocumentRefused):  # an attachment over the document size limit
        sandbox.split_email(message, 10 * 2**20, limits=LIMITS)


@pytest.mark.parametrize("limits", [sandbox.Limits(memory_bytes=2048 * sandbox.MiB, wall_seconds=2.0),
                                    sandbox.Limits(cpu_seconds=1, wall_seconds=60)], ids=["wall", "cpu"])
def test_a_reader_stuck_past_the_deadline_is_killed(limits: sandbox.Limits) -> None:
    # 40 MiB of drawing operators: pypdf's text extraction of this one page takes ~10 s in a single call, past
    # the deadline plus the kill grace, and past one second of CPU.
    data = pdf_bomb(40)
    with pytest.raises(ExtractionTimeout) as caught:
        sandbox.extract(data, "application/pdf", limits=limits)
    # Killed from outside ("was stopped"), or, when parsing the file alone outlasts the deadline on a busy
    # machine, stopped by the child's own check before the next step ("stopped at ..."): never finished.
    assert caught.value.message.endswith("and was stopped.") or "(stopped at " in caught.value.message
    assert no_child_left()


def test_the_output_is_bounded() -> None:
    with pytest.raises(DocumentTooComplex) as caught:
        sandbox.extract(sample_bytes("ubl_invoice.xml"), "application/xml",
                        limits=sandbox.Limits(output_bytes=1000))
    assert "result exceeds" in caught.value.message


@pytest.mark.parametrize("name", ["text_de.pdf", "ubl_invoice.xml", "facturx_en16931.pdf"])
def test_a_normal_document_reads_the_same_in_the_sandbox(name: str) -> None:
    data = sample_bytes(name)
    progress: list[tuple[float, str]] = []
    confined = sandbox.extract(data, detect_mime(data, name), progress=lambda f, m: progress.append((f, m)))
    assert confined == extract(data, detect_mime(data, name))
    assert progress[-1] == (1.0, "done")


def test_errors_cross_the_process_boundary_with_their_code() -> None:
    with pytest.raises(LedgerError) as caught:
        sandbox.extract(b"%PDF-1.7\n" + bytes(range(256)) * 4, "application/pdf")
    assert caught.value.code == "DOCUMENT_CORRUPT"


# --- through the MCP tool: logged, nothing kept ---


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in settings.documents_dir.rglob("*") if p.is_file()] if settings.documents_dir.exists() else []


@pytest.mark.anyio
async def test_ingesting_bombs_logs_them_and_keeps_nothing(client: Client, settings: Settings, bomb: bytes) -> None:
    refused = [("bomb.pdf", bomb), ("huge.xml", huge_xml()), ("broken.pdf", b"%PDF-1.7\n" + bytes(5000))]
    for name, data in refused:
        error = await fail(client, "ingest_document", content_base64=base64.b64encode(data).decode(),
                           filename=name)
        assert error["code"] in ("DOCUMENT_TOO_COMPLEX", "DOCUMENT_CORRUPT"), (name, error)
    log = (await call(client, "list_review_cases", include_ingestion_log=True))["ingestion_log"]
    assert [(e["original_name"], e["outcome"]) for e in log] == [(n, "failed") for n, _ in reversed(refused)]
    assert log[-1]["code"] == "DOCUMENT_TOO_COMPLEX"
    assert stored_files(settings) == []
    # An email carrying the bomb: the email is kept (split), its attachment refused and not stored.
    answer = await call(client, "ingest_document", content_base64=base64.b64encode(email_with(bomb)).decode(),
                        filename="mail.eml")
    assert [a["error"]["code"] for a in answer["email"]["attachments"]] == ["DOCUMENT_TOO_COMPLEX"]
    assert [p.suffix for p in stored_files(settings)] == [".eml"]
    # The server goes on reading normal documents.
    fine = await call(client, "ingest_document", content_base64=base64.b64encode(sample_bytes("ubl_invoice.xml"))
                      .decode(), filename="ubl_invoice.xml")
    assert fine["review_case"]["normalized_invoice"]["total_gross"] == "791.30"
