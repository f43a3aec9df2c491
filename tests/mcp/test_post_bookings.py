"""post_bookings as a client sees it: one transaction, refusals named by index, a replayable batch."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio


def _booking(date: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"booking_date": date, "description": f"Batch {date}", "lines": list(lines), **extra}


BATCH = [_booking("2026-03-02", line("4930", "1200", "119.00", "VSt19"), external_reference="RE-7"),
         _booking("2026-03-03", line("1200", "8400", "238.00", "USt19")),
         _booking("2026-03-04", line("4970", None, "5.00"), line(None, "1200", "5.00"))]


async def test_a_batch_books_every_booking_in_order_and_links_each_intent(client: Client) -> None:
    result = await client.call_tool("post_bookings", {"bookings": BATCH})
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None and data["total_created"] == 3 and data["total_replayed"] == 0
    assert [(e["booking_date"], e["total_amount"]) for e in data["intents"]] == [
        ("2026-03-02", "119.00"), ("2026-03-03", "238.00"), ("2026-03-04", "5.00")]
    assert [(e["journal_number_first"], e["journal_number_last"]) for e in data["intents"]] == [(1, 2), (3, 4), (5, 5)]
    links = [c.uri for c in result.content if c.type == "resource_link"]
    assert links == [f"ledger://intents/{e['intent_id']}" for e in data["intents"]]
    first = await call(client, "get_intent", intent_id=data["intents"][0]["intent_id"])
    assert first["summary"]["external_reference"] == "RE-7"
    chain = await call(client, "verify_chain")
    assert chain["ok"] and chain["lines_checked"] == 5


async def test_a_refused_booking_refuses_the_batch_and_every_refusal_is_named(client: Client) -> None:
    await book(client, line("4930", "1200", "50.00"), date="2026-03-05")
    batch = [BATCH[0], _booking("2026-03-05", line("4930", "1200", "50.00")),
             _booking("2026-03-06", line("9999", "1200", "1.00")), BATCH[1],
             _booking("2026-03-07", line("4930", "1200", "-3.00"))]
    error = await fail(client, "post_bookings", bookings=batch)
    assert error["code"] == "BATCH_REFUSED" and "nothing was written" in error["message"]
    assert [(e["index"], e["code"]) for e in error["details"]["errors"]] == [
        (2, "DUPLICATE_SUSPECTED"), (3, "UNKNOWN_ACCOUNT"), (5, "INVALID_AMOUNT")]
    assert (await call(client, "verify_chain"))["lines_checked"] == 1


async def test_a_resent_batch_is_replayed_and_a_changed_one_under_its_key_refused(client: Client) -> None:
    first = await call(client, "post_bookings", bookings=BATCH, idempotency_key="march-import")
    again = await call(client, "post_bookings", bookings=BATCH, idempotency_key="march-import")
    assert again["total_created"] == 0 and again["total_replayed"] == 3
    assert [e["intent_id"] for e in again["intents"]] == [e["intent_id"] for e in first["intents"]]
    error = await fail(client, "post_bookings", bookings=BATCH[:2], idempotency_key="march-import")
    assert error["code"] == "IDEMPOTENCY_CONFLICT"
    assert (await call(client, "verify_chain"))["lines_checked"] == 5


async def test_more_than_a_hundred_bookings_or_an_unknown_field_are_refused(client: Client) -> None:
    many = [_booking("2026-03-02", line("4930", "1200", f"{n}.00")) for n in range(1, 102)]
    assert (await client.call_tool("post_bookings", {"bookings": many})).is_error
    wrong = [{**BATCH[0], "document_id": "abc"}]
    assert (await client.call_tool("post_bookings", {"bookings": wrong})).is_error
    assert (await call(client, "verify_chain"))["lines_checked"] == 0
