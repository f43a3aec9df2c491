"""Invoices by email: an RFC 5322 message (.eml) split into its attachments, each ingested as a document.

Parsed with the standard library (policy.default); only attachments are read, never the body, and
their number and sizes are bounded. Sender and subject are untrusted text kept for the reviewer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from ledger_mcp.ledger.errors import DocumentEmpty, DocumentRefused
from ledger_mcp.ledger.extraction.normalize import clean_text

MAX_ATTACHMENTS = 20
# Parts that can be an invoice even when a mail program sends them inline, without a file name.
INVOICE_TYPES = ("application/pdf", "application/xml", "text/xml", "image/png", "image/jpeg", "image/tiff")
_HEADER = re.compile(rb"^(Return-Path|Received|From|To|Subject|Date|Message-ID|MIME-Version|Delivered-To|"
                     rb"X-[A-Za-z-]+|Content-Type|Reply-To|Sender|DKIM-Signature|ARC-[A-Za-z-]+):", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Mail:
    """sender: the From address (or the header as written); subject: the Subject header, cleaned."""

    sender: str | None
    subject: str | None
    attachments: list[Attachment]


def looks_like_email(data: bytes, filename: str | None) -> bool:
    """An .eml by name, or bytes that start with a mail header line (and are no PDF, image or XML)."""
    if (filename or "").lower().endswith(".eml"):
        return True
    return bool(_HEADER.match(data[:200].lstrip(b"\r\n")))


def split_email(data: bytes, max_bytes: int) -> Mail:
    """Sender, subject and attachments (each at most `max_bytes`, at most MAX_ATTACHMENTS of them).
    DocumentEmpty when the message carries no attachment."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        content_type = part.get_content_type()
        if part.get_content_disposition() != "attachment" and not name and content_type not in INVOICE_TYPES:
            continue  # the message body
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            continue
        if len(attachments) == MAX_ATTACHMENTS:
            raise DocumentRefused(f"The email has more than {MAX_ATTACHMENTS} attachments.",
                                  hint="Send the invoices in several emails, or each file on its own.")
        if len(payload) > max_bytes:
            raise DocumentRefused(f"Attachment {name or content_type!r} has {len(payload)} bytes; the limit is "
                                  f"{max_bytes}.", hint="Send the invoice on its own, compressed or split.")
        attachments.append(Attachment(filename=_clean(name, 300) or f"attachment-{len(attachments) + 1}",
                                      data=payload))
    if not attachments:
        raise DocumentEmpty("The email has no attachment to ingest.",
                            hint="Forward the email with the invoice attached (PDF, XML or image).")
    return Mail(sender=_sender(message), subject=_clean(_header(message, "subject"), 500), attachments=attachments)


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message[name]
    except Exception:  # a malformed header: the raw text is still worth keeping
        raw = message.get_all(name, failobj=[])
        value = str(raw[0]) if raw else None
    return str(value) if value is not None else None


def _sender(message: EmailMessage) -> str | None:
    try:
        header = message["from"]
        addresses = getattr(header, "addresses", ())
        if addresses and addresses[0].addr_spec:
            return _clean(addresses[0].addr_spec, 320)
    except Exception:
        pass
    return _clean(_header(message, "from"), 320)


def _clean(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return " ".join(clean_text(text).split())[:limit] or None
