"""The journal in keyset pages that end with whole intents, for exports that stream it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.models import JournalLine

PAGE = 2000


async def intent_pages(session: AsyncSession, *conditions: Any, size: int | None = None
                       ) -> AsyncIterator[list[list[JournalLine]]]:
    """Journal lines matching `conditions` in journal order, about `size` at a time, as the lines of
    each intent (an intent's journal numbers are consecutive); an intent a page cuts through waits for
    the next page."""
    size = size or PAGE
    after = 0
    pending: list[JournalLine] = []
    while True:
        page = list((await session.exec(
            select(JournalLine).where(*conditions, col(JournalLine.journal_number) > after)
            .order_by(col(JournalLine.journal_number)).limit(size))).all())
        lines = pending + page
        full = len(page) == size
        cut = len(lines)
        if full:
            while cut and lines[cut - 1].intent_id == lines[-1].intent_id:
                cut -= 1
        pending = lines[cut:]
        if cut:
            yield _by_intent(lines[:cut])
        if not full:
            return
        after = page[-1].journal_number


def _by_intent(lines: list[JournalLine]) -> list[list[JournalLine]]:
    groups: list[list[JournalLine]] = []
    for line in lines:
        if groups and groups[-1][0].intent_id == line.intent_id:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups
