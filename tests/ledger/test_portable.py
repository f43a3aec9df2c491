"""Text ordering and case-insensitive search give the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import column, select, table, text

from ledger_mcp.ledger.accounts import NewAccount, create_account, search_accounts
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.portable import binary, lower

pytestmark = pytest.mark.anyio

WORDS = ["b", "B", "ä", "a", "_x", "Z", "10", "9", "Übrige"]
words = table("words", column("w"))


async def test_binary_orders_by_code_point_whatever_the_column_collation(db: Database) -> None:
    async with db.engine.begin() as conn:
        # On PostgreSQL a column with a natural-language collation, as a database created with
        # an en_US locale would give every text column.
        collation = "" if db.is_sqlite else ' COLLATE "en-x-icu"'
        await conn.execute(text(f"CREATE TEMPORARY TABLE words (w VARCHAR(20){collation})"))
        await conn.execute(words.insert(), [{"w": w} for w in WORDS])
        ordered = (await conn.execute(select(words.c.w).order_by(binary(words.c.w)))).scalars().all()
        assert ordered == sorted(WORDS)
        after_b = (await conn.execute(select(words.c.w).where(binary(words.c.w) > "B")
                                      .order_by(binary(words.c.w).desc()))).scalars().all()
        assert after_b == sorted((w for w in WORDS if w > "B"), reverse=True)
        if not db.is_sqlite:  # without binary() this column would sort otherwise
            natural = (await conn.execute(select(words.c.w).order_by(words.c.w))).scalars().all()
            assert natural != sorted(WORDS)
        lowered = (await conn.execute(select(lower(words.c.w)).order_by(binary(words.c.w)))).scalars().all()
        assert lowered == [w.lower() for w in sorted(WORDS)]


async def test_account_search_folds_case_beyond_ascii_and_takes_wildcards_literally(db: Database) -> None:
    await db.write(create_account, NewAccount(number="4999", name="ÄRZTLICHE Gutachten", type="expense"))
    for query in ("ärztliche", "ÄRZTLICHE", "Ärztliche gut"):
        assert [a.number for a in await db.read(search_accounts, query)] == ["4999"], query
    percent = await db.read(search_accounts, "%", limit=500)
    assert percent and all("%" in a.name for a in percent)  # "Vorsteuer 19 %", not every account
    assert await db.read(search_accounts, "4_99") == []
    numbers = [a.number for a in await db.read(search_accounts, "", limit=500)]
    assert numbers == sorted(numbers)
