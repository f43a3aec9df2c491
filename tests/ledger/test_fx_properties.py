"""Foreign-currency invariants under any sequence of invoices and credit notes in EUR, USD, JPY and KWD,
partial payments at other rates, payment reversals, cancellations, year-end revaluations and their
reversal: the control accounts hold exactly what the open items are carried at in EUR, every open
item's remaining amount agrees with its invoice, the trial balance balances and the chain verifies."""

from __future__ import annotations

import contextlib
import tempfile
from decimal import Decimal
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_mcp.ledger import chain, fx, invoices, open_items, parties, posting, reports, revaluation, settlements
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest
from ledger_mcp.ledger.money import format_amount, parse_amount
from ledger_mcp.ledger.parties import PartyChanges
from ledger_mcp.ledger.posting import ReversalRequest
from ledger_mcp.ledger.revaluation import RevaluationRequest
from ledger_mcp.ledger.settlements import SettlementItem, SettlementRequest
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import CLI, fresh_database_url

RATES = {"USD": ["1.08", "1.0512", "1.1234"], "JPY": ["162.53", "150.1", "171"], "KWD": ["0.3301", "0.35", "0.31"]}
CURRENCIES = ["EUR", "USD", "JPY", "KWD"]
PAYMENT_DATES = ["2026-03-20", "2027-01-15"]

invoice_op = st.tuples(st.just("invoice"), st.sampled_from(["payable", "receivable"]),
                       st.sampled_from(["invoice", "invoice", "credit_note"]), st.sampled_from(CURRENCIES),
                       st.integers(0, 2), st.integers(1, 10**7), st.booleans())
settle_op = st.tuples(st.just("settle"), st.integers(0, 50), st.integers(1, 100), st.booleans(), st.integers(0, 2),
                      st.integers(0, 1))
reverse_op = st.tuples(st.just("reverse_payment"), st.integers(0, 50))
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 50))
revalue_op = st.tuples(st.just("revalue"), st.integers(0, 2))
unrevalue_op = st.tuples(st.just("reverse_revaluation"), st.integers(0, 10))
operations = st.lists(st.one_of(invoice_op, invoice_op, settle_op, settle_op, reverse_op, cancel_op, revalue_op,
                                unrevalue_op), min_size=1, max_size=14)


async def _run(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database_url(Path(tmp)) as url:
        db = Database(url)
        await prepare_ledger(db, "skr03")
        party_ids = {}
        for kind in ("vendor", "customer"):
            party, _ = await db.write(parties.save_party, kind, None, PartyChanges(name=kind), CLI)
            party_ids[kind] = party.id
        state: dict[str, list[str]] = {"invoices": [], "payments": [], "revaluations": []}
        for number, op in enumerate(ops):
            with contextlib.suppress(LedgerError):  # refused operations write nothing
                await _apply(db, op, number, party_ids, state)
        listed = await db.read(open_items.open_items)
        tb = await db.read(reports.trial_balance)
        balances = {r.account: r.closing_balance for r in tb.rows}
        assert tb.balanced
        assert Decimal(balances.get("1400", "0")) == Decimal(listed.total_receivable)
        assert -Decimal(balances.get("1600", "0")) == Decimal(listed.total_payable)
        for item in listed.open_items:
            detail = await db.read(invoices.get_invoice, item.invoice_id)
            assert (detail.remaining_amount, detail.remaining_amount_base) == (item.remaining_amount,
                                                                               item.remaining_amount_base)
        assert (await db.read(chain.verify_chain)).ok
        await db.dispose()


async def _apply(db: Database, op: tuple[object, ...], number: int, party_ids: dict[str, str],
                 state: dict[str, list[str]]) -> None:
    kind = op[0]
    if kind == "invoice":
        _, direction, type_, currency, rate, units, taxed = op
        assert isinstance(direction, str) and isinstance(currency, str) and isinstance(rate, int)
        assert isinstance(units, int)
        code = ("VSt19" if direction == "payable" else "USt19") if taxed and currency == "EUR" else None
        net = format_amount(units, currency)
        gross = units + (int((Decimal(units) * 19 / 100).to_integral_value("ROUND_HALF_UP")) if code else 0)
        request = InvoiceRequest(
            direction=direction, type=type_, currency=currency,  # type: ignore[arg-type]
            party_id=party_ids["vendor" if direction == "payable" else "customer"], invoice_number=f"N-{number}",
            invoice_date="2026-03-02", due_date="2028-06-30" if taxed else "2026-04-01",
            total_gross=format_amount(gross, currency),
            exchange_rate=RATES[currency][rate] if currency != "EUR" else None,
            lines=[InvoiceLineInput(net_amount=net, tax_code=code,
                                    account="4930" if direction == "payable" else "8400")])
        state["invoices"].append((await db.write(invoices.create_invoice, request, CLI)).id)
    elif kind == "settle" and state["invoices"]:
        _, index, percent, whole, rate, day = op
        assert isinstance(index, int) and isinstance(percent, int) and isinstance(rate, int) and isinstance(day, int)
        invoice = await db.read(invoices.get_invoice, state["invoices"][index % len(state["invoices"])])
        units = parse_amount(invoice.remaining_amount, invoice.currency, allow_zero=True)
        part = None if whole or units < 2 else format_amount(max(1, units * percent // 100), invoice.currency)
        request = SettlementRequest(items=[SettlementItem(invoice_id=invoice.id, amount=part)],
                                    payment_date=PAYMENT_DATES[day], account="1200",
                                    exchange_rate=RATES[invoice.currency][rate] if invoice.currency != "EUR" else None)
        state["payments"].append((await db.write(settlements.settle_open_items, request, CLI)).payment_intent_id)
    elif kind == "reverse_payment" and state["payments"]:
        index = op[1]
        assert isinstance(index, int)
        await db.write(posting.reverse_intent, ReversalRequest(
            intent_id=state["payments"][index % len(state["payments"])], reason="bounced"), CLI)
    elif kind == "cancel" and state["invoices"]:
        index = op[1]
        assert isinstance(index, int)
        invoice = await db.read(invoices.get_invoice, state["invoices"][index % len(state["invoices"])])
        await db.write(posting.reverse_intent, ReversalRequest(intent_id=invoice.intent_id, reason="wrong"), CLI)
    elif kind == "revalue":
        rate = op[1]
        assert isinstance(rate, int)
        for currency, rates in RATES.items():
            await db.write(fx.save_rate, fx.RateInput(currency=currency, rate_date="2026-12-31", rate=rates[rate]),
                           CLI)
        result = await db.write(revaluation.revalue_open_items, RevaluationRequest(closing_date="2026-12-31"), CLI)
        if result.intent_id:
            state["revaluations"].append(result.intent_id)
    elif kind == "reverse_revaluation" and state["revaluations"]:
        index = op[1]
        assert isinstance(index, int)
        await db.write(posting.reverse_intent, ReversalRequest(
            intent_id=state["revaluations"][index % len(state["revaluations"])], reason="Auflösung"), CLI)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_control_accounts_hold_what_the_open_items_are_carried_at(ops: list[tuple[object, ...]]) -> None:
    anyio.run(_run, ops)
