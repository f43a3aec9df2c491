"""The outbox: every committed write leaves its events in the same transaction, a refused or rehearsed one
leaves none; the payloads carry ids, keys, decimal-string amounts and periods."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import OutboxEvent
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio
INVOICES = Path(__file__).resolve().parents[2] / "examples" / "invoices"


async def _outbox(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.seq)))).all()
    return [json.loads(r.payload) | {"seq": r.seq} for r in rows]


async def events(db: Database, after: int = 0) -> list[dict[str, Any]]:
    return [e for e in await db.read(_outbox) if e["seq"] > after]


async def test_bookings_invoices_settlements_and_a_storno(pair: tuple[Client, Client], db: Database) -> None:
    alice, _ = pair
    await fail(alice, "post_booking", booking_date="2026-03-02", description="x", lines=[line("9999", "1200", "1.00")])
    assert await events(db) == []  # refused: nothing written, no event

    vendor = await call(alice, "save_party", kind="vendor", name="Papier GmbH")
    invoice = await call(alice, "create_invoice", direction="payable", party_id=vendor["id"], invoice_number="RE-7",
                         invoice_date="2026-03-03", total_gross="119.00",
                         lines=[{"net_amount": "100.00", "tax_code": "VSt19", "account": "4930"}])
    await call(alice, "settle_open_items", items=[{"invoice_id": invoice["id"], "amount": "19.00"}],
               payment_date="2026-03-10", account="1200")
    paid = await call(alice, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-03-11",
                      account="1200")
    found = await events(db)
    assert [e["type"] for e in found] == ["intent.posted", "invoice.created", "intent.posted", "invoice.settled",
                                          "intent.posted", "invoice.settled"]
    created = found[1]["data"]
    assert (created["invoice_number"], created["direction"], created["total_net"], created["total_tax"],
            created["total_gross"], created["party_id"]) == ("RE-7", "payable", "100.00", "19.00", "119.00",
                                                             vendor["id"])
    assert found[0]["data"]["total_amount"] == "119.00" and found[0]["data"]["intent_id"] == invoice["intent_id"]
    settled = [(e["data"]["amount"], e["data"]["remaining_amount"], e["data"]["fully_settled"]) for e in found[3::2]]
    assert settled == [("19.00", "100.00", False), ("100.00", "0.00", True)]
    assert len({e["id"] for e in found}) == len(found) and all(e["id"].startswith("evt_") for e in found)

    last = found[-1]["seq"]
    storno = await call(alice, "reverse_intent", intent_id=paid["payment_intent_id"], reason="wrong day")
    [reversal] = await events(db, last)  # one: the rehearsal before asking the human left none
    assert reversal["type"] == "intent.reversed"
    assert (reversal["data"]["intent_id"], reversal["data"]["reversed_intent_id"]) == (
        storno["intent_id"], paid["payment_intent_id"])


async def test_period_locked(pair: tuple[Client, Client], db: Database) -> None:
    alice, bob = pair
    await book(alice, line("4930", "1200", "10.00"), date="2026-01-05")
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    before = (await events(db))[-1]["seq"]
    await call(bob, "lock_period", action="approve_lock", period="2026-01", request_id=requested["request_id"])
    [locked] = await events(db, before)
    assert locked["type"] == "period.locked" and locked["data"]["period"] == "2026-01"
    assert locked["data"]["closing_hash"] and locked["data"]["approved_by"]


async def test_bank_import_review_cases_and_batches(client: Client, db: Database) -> None:
    account = await call(client, "save_bank_account", name="Konto", iban="DE89370400440532013000")
    await call(client, "import_bank_statement", bank_account_id=account["id"], rows=[
        {"booking_date": "2026-03-15", "amount": "-9.90", "remittance_information": "Entgelt", "bank_reference": "A"},
        {"booking_date": "2026-03-16", "amount": "oops", "bank_reference": "B"}])
    [imported] = [e for e in await events(db) if e["type"] == "bank_import.finished"]
    assert (imported["data"]["bank_account_id"], imported["data"]["imported"], imported["data"]["error_count"]) == (
        account["id"], 1, 1)

    data = base64.b64encode((INVOICES / "facturx_en16931.pdf").read_bytes()).decode()
    case = (await call(client, "ingest_document", content_base64=data, filename="f.pdf"))["review_case"]
    await call(client, "reject_review_case", review_case_id=case["id"], reason="not ours")
    cases = [e for e in await events(db) if e["type"].startswith("review_case.")]
    assert [(e["type"], e["data"]["review_case_id"]) for e in cases] == [("review_case.created", case["id"]),
                                                                         ("review_case.decided", case["id"])]
    assert cases[1]["data"]["decision"] == "rejected"
    assert "untrusted" not in json.dumps(cases) and "Elektro" not in json.dumps(cases)  # no document contents

    before = (await events(db))[-1]["seq"]
    await call(client, "post_bookings", bookings=[
        {"booking_date": "2026-03-20", "description": f"Batch {n}", "lines": [line("4930", "1200", f"{n}.00")]}
        for n in (1, 2, 3)])
    batch = await events(db, before)
    assert [(e["type"], e["data"]["total_amount"]) for e in batch] == [("intent.posted", f"{n}.00") for n in (1, 2, 3)]
    assert (await call(client, "verify_chain"))["ok"]
