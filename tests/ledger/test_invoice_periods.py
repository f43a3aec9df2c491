"""Invoices and settlements honour period locks like every other write path."""

from __future__ import annotations

import pytest

from ledger_mcp.ledger import invoices, parties, periods, settlements
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import PeriodLocked, PeriodSoftLocked
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest
from ledger_mcp.ledger.parties import PartyChanges
from ledger_mcp.ledger.periods import PeriodRequest
from ledger_mcp.ledger.settlements import SettlementItem, SettlementRequest
from tests.ledger.test_periods import ALICE, BOB, _lock

pytestmark = pytest.mark.anyio


def _invoice(party_id: str, number: str, day: str) -> InvoiceRequest:
    return InvoiceRequest(direction="payable", party_id=party_id, invoice_number=number, invoice_date=day,
                          total_gross="119.00", lines=[InvoiceLineInput(net_amount="100.00", tax_code="VSt19",
                                                                        account="4930")])


async def test_locked_and_soft_locked_periods_refuse_invoices_and_payments(db: Database) -> None:
    vendor, _ = await db.write(parties.save_party, "vendor", None, PartyChanges(name="V GmbH"), ALICE)
    await _lock(db, "2026-03")
    with pytest.raises(PeriodLocked):
        await db.write(invoices.create_invoice, _invoice(vendor.id, "R-1", "2026-03-02"), ALICE)
    april = await db.write(invoices.create_invoice, _invoice(vendor.id, "R-2", "2026-04-02"), ALICE)
    pay = SettlementRequest(items=[SettlementItem(invoice_id=april.id)], payment_date="2026-03-31", account="1200")
    with pytest.raises(PeriodLocked):
        await db.write(settlements.settle_open_items, pay, ALICE)
    await db.write(periods.change_period, PeriodRequest(action="soft_lock", period="2026-04"), BOB)
    in_april = pay.model_copy(update={"payment_date": "2026-04-30"})
    with pytest.raises(PeriodSoftLocked):
        await db.write(settlements.settle_open_items, in_april, ALICE)
    paid = await db.write(settlements.settle_open_items, in_april.model_copy(update={"acknowledge_soft_lock": True}),
                          ALICE)
    assert paid.items[0].status == "paid"
    status = await db.read(periods.period_status, "2026-04")
    assert paid.payment_intent_id in status.acknowledged_intent_ids
