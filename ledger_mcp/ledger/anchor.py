"""Anchoring the hash chains outside the database.

The database holds three hash chains: the journal, the period events and the record history. Whoever
can write the database file can cut off their newest links, restore an older copy of the file, or
change an old row and recompute every hash after it; the chains alone stay consistent. So every
committed write also appends the chain heads it produced to the anchor log, a file apart from the
database (one JSON object per line, `{"at": ..., "journal_line": [number, hash], ...}`), and
`export_checkpoint` signs the current heads with the ledger's Ed25519 key for a copy kept elsewhere.

`verify` checks each anchored head against the database: a head the database no longer holds means
its tail was deleted or the file was rolled back; a head whose hash differs means hashes were
recomputed. The database may be ahead of the anchor (a crash between commit and append): that is
reported, not a break.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Table, func
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now

# chain -> (table, number column, hash column)
CHAINS: dict[str, tuple[str, str, str]] = {
    "journal_line": ("journal_line", "journal_number", "audit_hash"),
    "period_event": ("period_event", "seq", "event_hash"),
    "record_event": ("record_event", "seq", "event_hash"),
}
CHECKPOINT_FORMAT = "ledger-mcp-checkpoint/1"
KEY_FILE = "anchor-key.pem"

Heads = dict[str, tuple[int, str]]


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Anchor:
    """Chain heads recorded outside the database, and where they come from (for messages)."""

    source: str
    heads: Heads


class AnchorLog:
    """The append-only anchor file. Lines are appended with one write each (O_APPEND), so writers in
    several processes never interleave; a torn last line (a crash mid-write) is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, heads: dict[str, list[Any]]) -> None:
        if not heads:
            return
        line = (_canonical({"at": utc_now(), **heads}) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def anchor(self) -> Anchor | None:
        """The newest anchored head of each chain, or None when there is no log yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        heads: Heads = {}
        lines = text.splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                if number == len(lines) and not text.endswith("\n"):
                    continue  # torn by a crash
                raise ValueError(f"anchor log {self.path} line {number} is not valid JSON") from None
            for chain in CHAINS:
                if chain in entry and (chain not in heads or entry[chain][0] > heads[chain][0]):
                    heads[chain] = (int(entry[chain][0]), str(entry[chain][1]))
        return Anchor(f"anchor log {self.path}", heads)


async def current_heads(session: AsyncSession) -> Heads:
    heads: Heads = {}
    for chain, (name, number, digest) in CHAINS.items():
        table: Table = SQLModel.metadata.tables[name]
        row = (await session.exec(select(table.c[number], table.c[digest])
                                     .order_by(table.c[number].desc()).limit(1))).first()
        heads[chain] = (int(row[0]), str(row[1])) if row else (0, "0" * 64)
    return heads


async def check(session: AsyncSession, anchor: Anchor) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Compare the anchored heads with the database: (what was checked, the first problem or None)."""
    checked: dict[str, Any] = {"source": anchor.source, "heads": {}}
    for chain, (number, digest) in sorted(anchor.heads.items()):
        if chain not in CHAINS or number <= 0:
            continue
        name, number_column, hash_column = CHAINS[chain]
        table: Table = SQLModel.metadata.tables[name]
        stored = (await session.exec(select(table.c[hash_column]).where(table.c[number_column] == number))).first()
        newest = (await session.exec(select(func.max(table.c[number_column])))).one() or 0
        checked["heads"][chain] = {"anchored": number, "database": int(newest)}
        where = {"table": chain, "row": number, "column": hash_column}
        if stored is None:
            return checked, {**where, "problem": f"the {anchor.source} records {chain} #{number}, which the database "
                                                 f"no longer holds (newest #{newest}): its tail was deleted or the "
                                                 "database was restored from an older copy"}
        if stored != digest:
            return checked, {**where, "problem": f"{chain} #{number} has a different hash than the {anchor.source} "
                                                 "records: the history before it was changed and its hashes "
                                                 "recomputed"}
    return checked, None


# --- Signed checkpoints ---


def _private_key(data_dir: Path) -> Ed25519PrivateKey:
    """The ledger's signing key, created on first use (readable by its owner only)."""
    path = data_dir / KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _raw_public(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def export_checkpoint(heads: Heads, data_dir: Path, ledger: str) -> dict[str, Any]:
    """The heads, signed with the ledger's key: store the result where the database's writers cannot."""
    key = _private_key(data_dir)
    body = {"format": CHECKPOINT_FORMAT, "ledger": ledger, "created_at": utc_now(),
            "heads": {chain: {"number": n, "hash": h} for chain, (n, h) in sorted(heads.items())},
            "public_key": _raw_public(key.public_key())}
    return {**body, "signature": base64.b64encode(key.sign(_canonical(body).encode())).decode()}


def read_checkpoint(text: str, public_key: str | None = None) -> Anchor:
    """A checkpoint's heads after checking its signature (against `public_key` when given, base64 raw
    Ed25519, else the key it names). Raises ValueError if it is malformed or the signature fails."""
    try:
        data = json.loads(text)
        body = {k: v for k, v in data.items() if k != "signature"}
        if body.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} checkpoint")
        if public_key and public_key != body["public_key"]:
            raise ValueError("the checkpoint was signed with another key than the one given")
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
        key.verify(base64.b64decode(data["signature"]), _canonical(body).encode())
        heads = {chain: (int(h["number"]), str(h["hash"])) for chain, h in body["heads"].items()}
    except InvalidSignature:
        raise ValueError("the checkpoint's signature does not match its content (it was changed)") from None
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
        raise ValueError(f"the checkpoint cannot be read: {exc}") from None
    return Anchor(f"checkpoint of {body['created_at']}", heads)
