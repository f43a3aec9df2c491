"""Hash version 4: the text the database renders when verifying is, byte for byte, the text the writers
render in Python when sealing; old versions keep verifying beside it."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import BigInteger, Boolean, Date, String, Text, literal, select, text
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain, posting
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.models import Intent, JournalLine
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from tests.conftest import CLI
from tests.ledger.test_chain import _ledger, _tamper

pytestmark = pytest.mark.anyio

NASTY = ["", " ", "~", ":", "3:abc", "~~", "0:", "-", "1", "Grüße aus Köln", "Ærø – ½ €", "日本語の請求書",
         "emoji 🧾📈", "e\u0301 (combining)", "Zeile 1\nZeile 2", "crlf\r\n", "\ttab", "quote ' \" \\ %",
         "null-text NULL", "x" * 500, "🧾" * 64, "\u2028\u2029", "\ufeffbom"]


def _random_texts(seed: int, count: int) -> list[str]:
    """Strings from all over Unicode (no surrogates, no NUL: PostgreSQL text holds neither)."""
    rng = random.Random(seed)
    ranges = [(1, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(0, 40)):
            low, high = rng.choice(ranges)
            chars.append(chr(rng.randint(low, high)))
        texts.append("".join(chars))
    return texts


async def _sql_render(session: AsyncSession, values: list[tuple[Any, Any]]) -> bytes:
    """`chain.rendered` of typed literal values, run by the session's database."""
    dialect = session.get_bind().dialect.name
    expression = chain.rendered([literal(value, type_=kind) for value, kind in values], dialect)
    result = (await session.exec(select(expression))).one()[0]
    return bytes(result)


async def _compare(db: Database, values: list[tuple[Any, Any]]) -> None:
    for start in range(0, len(values), 40):  # a few dozen fields per statement, each checked on its own
        part = values[start:start + 40]
        sql = await db.read(_sql_render, part)
        assert sql == chain.render([value for value, _ in part]), part
        for value, kind in part[:3]:  # and one by one, so that a mismatch names its value
            assert await db.read(_sql_render, [(value, kind)]) == chain.render([value])


async def test_texts_render_the_same_in_python_and_sql(db: Database) -> None:
    texts = [*NASTY, *_random_texts(4, 300)]
    await _compare(db, [(t, String()) for t in texts] + [(t, Text()) for t in NASTY])
    assert chain.render(["日"]) == "3:日".encode()  # bytes, not characters
    assert chain.render([None, ""]) == b"~0:"  # NULL is not the empty text


def test_a_text_with_nul_is_not_sealed() -> None:
    """PostgreSQL cannot store NUL, and SQLite's printf stops at it: no writer may seal such a text."""
    with pytest.raises(ValidationFailed, match="NUL"):
        chain.render(["a\x00b"])


@pytest.mark.parametrize("new", ["Buchung 2\x00", "Buchung \x00", "\x00uchung 2", "Buchung 2\x00 und mehr"])
async def test_a_nul_written_into_a_line_later_is_caught(db: Database, new: str) -> None:
    """On SQLite the rendered text stops at a NUL, but its length prefix counts every byte."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL text cannot hold NUL")
    await _ledger(db)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE journal_line SET description = :new WHERE journal_number = 5"), {"new": new})
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break and report.first_break["journal_number"] == 5, report.first_break


async def test_integers_booleans_dates_and_null_render_the_same(db: Database) -> None:
    rng = random.Random(4)
    integers = [0, 1, -1, 9, 10, -10, 2**31, -(2**31), 2**63 - 1, -(2**63), *(rng.randint(-(2**63), 2**63 - 1)
                                                                              for _ in range(100))]
    # date.min and date.max are -infinity and infinity to asyncpg, not dates
    days = [date(1, 1, 2), date(999, 12, 31), date(1970, 1, 1), date(2026, 2, 28), date(9999, 12, 30),
            *(date(1900, 1, 1) + timedelta(days=rng.randint(0, 150_000)) for _ in range(50))]
    await _compare(db, [(i, BigInteger()) for i in integers] + [(b, Boolean()) for b in (True, False)]
                   + [(d, Date()) for d in days]
                   + [(None, kind) for kind in (String(), Text(), BigInteger(), Boolean(), Date())])


async def _rendered_lines(session: AsyncSession) -> list[tuple[bytes, bytes | None, int, str]]:
    dialect = session.get_bind().dialect.name
    rows = (await session.exec(chain.fast_query(dialect))).all()
    return [(bytes(row[4]), None if row[9] is None else bytes(row[9]), row[0], row[1]) for row in rows]


async def _python_lines(session: AsyncSession) -> list[tuple[bytes, bytes | None]]:
    lines = (await session.exec(orm_select(JournalLine).order_by(col(JournalLine.journal_number)))).all()
    intents = {i.id: i for i in (await session.exec(orm_select(Intent))).all()}
    out = []
    for line in lines:
        intent = intents[line.intent_id]
        values = [getattr(line, name) for name in chain._LINE_FIELDS_V2]
        intent_values = [chain.HASH_VERSION, *(getattr(intent, name) for name in chain._INTENT_FIELDS)]
        out.append((chain.render(values), chain.render(intent_values) if line.line_index == 1 else None))
    return out


async def test_booked_lines_render_in_sql_as_the_writer_rendered_them(db: Database) -> None:
    """Through the real booking path, with nasty texts in every free text field and NULL beside ''."""
    for i, words in enumerate(["Grüße\nzweite Zeile ~ 3:x", "日本語 🧾 \"quoted\" \\", " "]):
        await db.write(posting.post_booking, BookingRequest(
            booking_date=f"2026-03-0{i + 1}", description=words, external_reference=words if i else None,
            idempotency_key=f"nasty-{i}", custom_metadata={"text": words, "n": i} if i != 1 else None,
            lines=[BookingLine(debit_account="4930", credit_account="1200", amount="119.00", tax_code="VSt19",
                               description=words)]), CLI)
    sql = await db.read(_rendered_lines)
    python = await db.read(_python_lines)
    assert [(line, intent) for line, intent, _, _ in sql] == python
    report = await db.read(chain.verify_chain)
    assert report.ok and report.lines_checked == 6, report.first_break


async def _rehash_as_version_3(session: AsyncSession, numbers: set[int]) -> None:
    """What a ledger written at hash version 3 holds for these lines (and their intents)."""
    prev = chain.GENESIS_HASH
    lines = (await session.exec(orm_select(JournalLine).order_by(col(JournalLine.journal_number)))).all()
    intents = {i.id: i for i in (await session.exec(orm_select(Intent))).all()}
    for line in lines:
        intent = intents[line.intent_id]
        if line.journal_number in numbers:
            intent.content_hash = chain.intent_hash(intent, version=3)
            line.hash_version = 3
        line.content_hash = chain.line_content_hash(line, intent.content_hash)
        line.prev_hash, line.audit_hash = prev, chain.audit_hash(prev, line.content_hash)
        prev = line.audit_hash


async def _mixed(db: Database) -> list[str]:
    """Lines 1-4 (two intents) at version 3, then version 4 lines."""
    ids = await _ledger(db)
    await db.write(_rehash_as_version_3, {1, 2, 3, 4})
    versions = await db.read(lambda s: s.exec(orm_select(JournalLine.hash_version)
                                               .order_by(col(JournalLine.journal_number))))
    assert list(versions) == [3, 3, 3, 3, 4, 4, 4, 4]
    return ids


async def test_a_mixed_chain_verifies_and_each_version_catches_changes(db: Database) -> None:
    await _mixed(db)
    report = await db.read(chain.verify_chain)
    assert report.ok and report.lines_checked == 8 and report.intents_checked == 4, report.first_break
    await _tamper(db, "journal_line", "description", "journal_number = 2")
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break and report.first_break["journal_number"] == 2


@pytest.mark.parametrize(("table", "column", "where", "number", "intent"), [
    ("journal_line", "amount", "journal_number = 6", 6, None),
    ("journal_line", "exchange_rate", "journal_number = 7", 7, None),
    ("intent", "description", "id = '{v4}'", None, "{v4}"),
    ("intent", "custom_metadata", "id = '{v3}'", None, "{v3}"),
])
async def test_changes_on_either_side_of_the_version_boundary_are_named(
        db: Database, table: str, column: str, where: str, number: int | None, intent: str | None) -> None:
    ids = await _mixed(db)
    names = {"v3": ids[1], "v4": ids[2]}
    await _tamper(db, table, column, where.format(**names))
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None
    if number is not None:
        assert report.first_break["journal_number"] == number, report.first_break
    if intent is not None:
        assert report.first_break["intent_id"] == intent.format(**names), report.first_break


@pytest.mark.parametrize(("number", "version"), [(3, 4), (5, 3), (5, 2), (6, 9)])
async def test_a_changed_hash_version_breaks_the_line(db: Database, number: int, version: int) -> None:
    """Relabelling a line as another version neither verifies under that version nor blames its intent."""
    await _mixed(db)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"UPDATE journal_line SET hash_version = {version} WHERE journal_number = {number}"))
    report = await db.read(chain.verify_chain)
    assert not report.ok and report.first_break is not None
    assert report.first_break["journal_number"] == number, report.first_break
