"""The subledger invariant: per party, the open items add up to the party's balance in the journal,
under any sequence of invoices, credit notes, partial payments, payment reversals and cancellations."""

from __future__ import annotations

import contextlib
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_mcp.ledger import chain, invoices, open_items, parties, posting, reports, settlements
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest
from ledger_mcp.ledger.parties import PartyChanges
from ledger_mcp.ledger.posting import ReversalRequest
from ledger_mcp.ledger.settlements import SettlementItem, SettlementRequest
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import CLI, fresh_database_url

CODES = {"payable": [None, "VSt19", "VSt7", "RC19", "EXEMPT"], "receivable": [None, "USt19", "USt7", "EXEMPT"]}
ACCOUNT = {"payable": "4930", "receivable": "8400"}

invoice_op = st.tuples(st.just("invoice"), st.sampled_from(["payable", "receivable"]),
                       st.sampled_from(["invoice", "invoice", "credit_note"]), st.integers(0, 3),
                       st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 4)), min_size=1, max_size=3))
settle_op = st.tuples(st.just("settle"), st.integers(0, 50), st.integers(1, 100), st.booleans())
reverse_op = st.tuples(st.just("reverse_payment"), st.integers(0, 50))
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 50))
operations = st.lists(st.one_of(invoice_op, invoice_op, settle_op, settle_op, reverse_op, cancel_op),
                      min_size=1, max_size=14)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def _run(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database_url(Path(tmp)) as url:
        db = Database(url)
        await prepare_ledger(db, "skr03")
        party_ids = {}
        for kind in ("vendor", "customer"):
            for n in range(2):
                party, _ = await db.write(parties.save_party, kind, None, PartyChanges(name=f"{kind} {n}"), CLI)
                party_ids[kind, n] = party.id
        made: list[str] = []
        payments: list[str] = []
        for number, op in enumerate(ops):
            # Refused operations (overpayment, cancelling a settled invoice, ...) must write nothing.
            with contextlib.suppress(LedgerError):
                await _apply(db, op, number, party_ids, made, payments)
        ids = list(party_ids.values())
        amounts = await db.read(open_items.party_open_amounts, ids)
        for party_id in ids:
            assert amounts[party_id] == await db.read(open_items.party_balance, party_id), party_id
        tb = await db.read(reports.trial_balance)
        assert tb.balanced
        assert (await db.read(chain.verify_chain)).ok
        await db.dispose()


async def _apply(db: Database, op: tuple[object, ...], number: int, party_ids: dict[tuple[str, int], str],
                 made: list[str], payments: list[str]) -> None:
    kind = op[0]
    if kind == "invoice":
        _, direction, type_, party, raw_lines = op
        assert isinstance(direction, str) and isinstance(party, int) and isinstance(raw_lines, list)
        codes = CODES[direction]
        lines = [InvoiceLineInput(net_amount=_money(net), tax_code=codes[code % len(codes)],
                                  account=ACCOUNT[direction]) for net, code in raw_lines]
        gross = _gross(lines)
        request = InvoiceRequest(direction=direction, type=type_, party_id=party_ids[  # type: ignore[arg-type]
            "vendor" if direction == "payable" else "customer", party % 2], invoice_number=f"N-{number}",
            invoice_date="2026-03-02", total_gross=_money(gross), lines=lines)
        made.append((await db.write(invoices.create_invoice, request, CLI)).id)
    elif kind == "settle" and made:
        _, index, percent, whole = op
        assert isinstance(index, int) and isinstance(percent, int)
        invoice = await db.read(invoices.get_invoice, made[index % len(made)])
        remaining = _cents(invoice.remaining_amount)
        part = None if whole or remaining < 2 else _money(max(1, remaining * percent // 100))
        request = SettlementRequest(items=[SettlementItem(invoice_id=invoice.id, amount=part)],
                                    payment_date="2026-03-20", account="1200")
        payments.append((await db.write(settlements.settle_open_items, request, CLI)).payment_intent_id)
    elif kind == "reverse_payment" and payments:
        index = op[1]
        assert isinstance(index, int)
        await db.write(posting.reverse_intent, ReversalRequest(intent_id=payments[index % len(payments)],
                                                               reason="bounced"), CLI)
    elif kind == "cancel" and made:
        index = op[1]
        assert isinstance(index, int)
        invoice = await db.read(invoices.get_invoice, made[index % len(made)])
        await db.write(posting.reverse_intent, ReversalRequest(intent_id=invoice.intent_id, reason="wrong"), CLI)


def _cents(text: str) -> int:
    return int(Decimal(text) * 100)


def _gross(lines: list[InvoiceLineInput]) -> int:
    """Net plus VAT as German invoices state it: the rate of each rate's summed net, half up."""
    rates = {"VSt19": 19, "USt19": 19, "VSt7": 7, "USt7": 7}
    nets: dict[str | None, int] = {}
    for line in lines:
        nets[line.tax_code] = nets.get(line.tax_code, 0) + _cents(line.net_amount)
    total = 0
    for code, net in nets.items():
        rate = rates.get(code or "", 0)
        total += net + int((Decimal(net) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return total


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_open_items_equal_the_subledger_balance(ops: list[tuple[object, ...]]) -> None:
    anyio.run(_run, ops)
