"""Many clients booking at once over real HTTP, each with its own key: the chain stays intact,
journal numbers stay gapless, and every acknowledged booking is stored exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp import Client
from sqlmodel import col, select

from ledger_mcp.ledger.api_keys import prefix_of
from ledger_mcp.ledger.chain import verify_chain
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import Intent, JournalLine
from tests.conftest import line
from tests.http.conftest import HttpLedger, connect

pytestmark = pytest.mark.anyio

CLIENTS = 8
BOOKINGS = 200


async def _book_until_acknowledged(client: Client, amount: str, reference: str) -> str:
    """A retryable error means "send the same call again"; the idempotency key makes that safe."""
    arguments = {"booking_date": "2026-03-02", "description": f"Concurrent {reference}",
                 "external_reference": reference, "idempotency_key": reference,
                 "lines": [line("4930", "1200", amount, "VSt19")]}
    for _ in range(20):
        result = await client.call_tool("post_booking", arguments)
        if not result.is_error:
            assert result.structured_content is not None
            return str(result.structured_content["intent_id"])
        error = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
        assert error["retryable"], error
    raise AssertionError(f"{reference} was never acknowledged")


async def test_eight_clients_book_concurrently(http_ledger: HttpLedger, new_key: Callable[..., Any],
                                               db: Database) -> None:
    keys = [await new_key(f"agent-{n}") for n in range(CLIENTS)]
    acknowledged: dict[str, tuple[str, str]] = {}  # reference -> (intent id, key prefix)

    async def agent(n: int) -> None:
        async with connect(http_ledger.url, keys[n], mode="auto" if n % 2 else "legacy") as client:
            for i in range(BOOKINGS):
                reference = f"C{n}-{i}"
                intent_id = await _book_until_acknowledged(client, f"{n + 1}.{i % 100:02d}", reference)
                acknowledged[reference] = (intent_id, prefix_of(keys[n]))

    async with anyio.create_task_group() as tg:
        for n in range(CLIENTS):
            tg.start_soon(agent, n)

    assert len(acknowledged) == CLIENTS * BOOKINGS
    report = await db.read(verify_chain)
    assert report.ok, report.first_break
    assert report.intents_checked == CLIENTS * BOOKINGS and report.lines_checked == 2 * CLIENTS * BOOKINGS

    async def stored(session: Any) -> tuple[list[int], list[Intent]]:
        numbers = (await session.exec(select(JournalLine.journal_number).order_by(col(JournalLine.journal_number))))
        return list(numbers.all()), list((await session.exec(select(Intent))).all())

    numbers, intents = await db.read(stored)
    assert numbers == list(range(1, 2 * CLIENTS * BOOKINGS + 1))
    by_reference = {i.external_reference: i for i in intents}
    assert len(by_reference) == len(intents)  # no reference stored twice
    assert {ref: (i.id, i.actor_key_prefix) for ref, i in by_reference.items()} == acknowledged
