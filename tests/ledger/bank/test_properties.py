"""Reconciliation invariants under any sequence of reconcile, dismiss and unmatch: every transaction is
open, reconciled or dismissed by exactly one live match group (or none), the bank's ledger account holds
exactly the reconciled transactions, the books balance and the chain verifies."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from ledger_mcp.ledger import chain, invoices, parties, reports
from ledger_mcp.ledger.bank import accounts, importing, reads, reconcile
from ledger_mcp.ledger.bank.formats import JsonRow
from ledger_mcp.ledger.bank.state import live_group
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest
from ledger_mcp.ledger.models import BankMatch, BankMatchGroup
from ledger_mcp.ledger.parties import PartyChanges
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import CLI, fresh_database_url

AMOUNTS = [11900, -5000, 2380, -990, 11900, 4760]  # the transactions, signed cents

operation = st.one_of(
    st.tuples(st.just("booking"), st.integers(0, 5)),
    st.tuples(st.just("items"), st.integers(0, 5), st.integers(0, 2)),
    st.tuples(st.just("dismiss"), st.integers(0, 5)),
    st.tuples(st.just("pair"), st.integers(0, 5), st.integers(0, 5)),
    st.tuples(st.just("unmatch"), st.integers(0, 5)),
)


def _money(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


async def _run(ops: list[tuple[int | str, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database_url(Path(tmp)) as url:
        db = Database(url)
        await prepare_ledger(db, "skr03")
        account, _ = await db.write(accounts.save_bank_account,
                                    accounts.BankAccountRequest(name="Bank", iban="DE02120300000000202051"), CLI)
        customer, _ = await db.write(parties.save_party, "customer", None, PartyChanges(name="Kunde"), CLI)
        sales = []
        for number, gross in enumerate((11900, 2380, 4760)):
            sale = await db.write(invoices.create_invoice, InvoiceRequest(
                direction="receivable", party_id=customer.id, invoice_number=f"RE-{number}",
                invoice_date="2026-03-01", total_gross=_money(gross),
                lines=[InvoiceLineInput(net_amount=_money(gross * 100 // 119), tax_code="USt19", account="8400")]), CLI)
            sales.append(sale.id)
        rows = [JsonRow(booking_date=f"2026-03-{day + 10}", amount=_money(cents), bank_reference=f"T{day}")
                for day, cents in enumerate(AMOUNTS)]
        await db.write(importing.import_statement, importing.ImportRequest(bank_account_id=account.id), None, rows, CLI)
        page = await db.read(reads.list_transactions, reads.TransactionFilter(bank_account_id=account.id))
        ids = [t.id for t in page.transactions]
        for op in ops:
            with contextlib.suppress(LedgerError):  # refused operations must write nothing
                await db.write(reconcile.reconcile, _request(op, ids, sales), CLI)
        await _check(db, account.id, account.ledger_account, dict(zip(ids, AMOUNTS, strict=True)))
        await db.dispose()


def _request(op: tuple[int | str, ...], ids: list[str], sales: list[str]) -> reconcile.ReconcileRequest:
    kind, first = op[0], ids[int(op[1])]
    if kind == "booking":
        return reconcile.ReconcileRequest(bank_transaction_ids=[first], mode="booking", account="4970")
    if kind == "items":
        return reconcile.ReconcileRequest(bank_transaction_ids=[first], mode="open_items",
                                          items=[reconcile.Allocation(invoice_id=sales[int(op[2])])])
    if kind == "dismiss":
        return reconcile.ReconcileRequest(bank_transaction_ids=[first], mode="dismiss", reason="not ours")
    if kind == "pair":  # two transactions booked together
        return reconcile.ReconcileRequest(bank_transaction_ids=[first, ids[int(op[2])]], mode="booking",
                                          account="1800")
    return reconcile.ReconcileRequest(bank_transaction_ids=[first], mode="unmatch", reason="undo")


async def _check(db: Database, account_id: str, ledger_account: str, amounts: dict[str, int]) -> None:
    async def live_counts(session: object) -> dict[str, int]:
        rows = (await session.exec(  # type: ignore[attr-defined]
            select(BankMatch.bank_transaction_id, func.count())
            .join(BankMatchGroup, col(BankMatchGroup.id) == BankMatch.match_group_id)
            .where(live_group()).group_by(BankMatch.bank_transaction_id))).all()
        return dict(rows)

    counts = await db.read(live_counts)
    assert all(n == 1 for n in counts.values()), counts
    page = await db.read(reads.list_transactions, reads.TransactionFilter(bank_account_id=account_id))
    status = {t.id: t.status for t in page.transactions}
    assert {i for i, s in status.items() if s != "open"} == set(counts)
    reconciled = sum(amounts[i] for i, s in status.items() if s == "reconciled")
    tb = await db.read(reports.trial_balance)
    assert tb.balanced
    bank = next((r.closing_balance for r in tb.rows if r.account == ledger_account), "0.00")
    assert bank == _money(reconciled), (bank, reconciled)
    view = await db.read(reads.reconciliation_view, account_id)
    assert view.explanation["unexplained"] == "0.00"
    assert (await db.read(chain.verify_chain)).ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=12))
def test_every_transaction_is_explained_at_most_once_and_the_bank_account_agrees(
        ops: list[tuple[int | str, ...]]) -> None:
    anyio.run(_run, ops)
