"""Payment runs in the domain, on an SKR04 ledger: Skonto terms (an invoice's over its vendor's, the
deadline day itself, half-up rounding, the discount split over two VAT rates), the accounts completion
and clearing book, and a statement line that does not fit the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from ledger_mcp.ledger import chain
from ledger_mcp.ledger.bank import importing, reconcile
from ledger_mcp.ledger.bank.accounts import BankAccountRequest, save_bank_account
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import ReconciliationMismatch, ValidationFailed
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest, create_invoice
from ledger_mcp.ledger.models import BankTransaction, JournalLine
from ledger_mcp.ledger.parties import PartyChanges, save_party
from ledger_mcp.ledger.payment_runs import runs
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger
from tests.conftest import fresh_database_url
from tests.ledger.bank.statements import Line, camt053

pytestmark = pytest.mark.anyio

ALICE = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="alice")
BOB = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bob")
OWN_IBAN = "DE02120300000000202051"


@pytest.fixture
async def skr04(tmp_path: Path) -> AsyncIterator[Database]:
    with fresh_database_url(tmp_path) as url:
        database = Database(url)
        await prepare_ledger(database, "skr04")
        yield database
        await database.dispose()


async def _balances(db: Database) -> dict[str, int]:
    async def read(session: object) -> dict[str, int]:
        debit = dict((await session.exec(  # type: ignore[attr-defined]
            select(JournalLine.debit_account, func.sum(JournalLine.base_amount))
            .group_by(col(JournalLine.debit_account)))).all())
        credit = dict((await session.exec(  # type: ignore[attr-defined]
            select(JournalLine.credit_account, func.sum(JournalLine.base_amount))
            .group_by(col(JournalLine.credit_account)))).all())
        return {a: int(debit.get(a) or 0) - int(credit.get(a) or 0) for a in set(debit) | set(credit)}
    return await db.read(read)  # type: ignore[arg-type]


async def test_skonto_terms_and_the_skr04_bookings(skr04: Database) -> None:
    db = skr04
    bank = (await db.write(save_bank_account, BankAccountRequest(name="Giro", iban=OWN_IBAN), ALICE))[0]
    vendor = (await db.write(save_party, "vendor", None, PartyChanges(name="Bürobedarf AG",
                                                                       iban="DE89370400440532013000"), ALICE))[0]
    mixed = await db.write(create_invoice, InvoiceRequest(
        direction="payable", party_id=vendor.id, invoice_number="A-1", invoice_date="2026-03-01",
        due_date="2026-03-31", total_gross="172.50",
        lines=[InvoiceLineInput(net_amount="100.00", tax_code="VSt19", account="6815"),
               InvoiceLineInput(net_amount="50.00", tax_code="VSt7", account="6815")]), ALICE)
    older = await db.write(create_invoice, InvoiceRequest(
        direction="payable", party_id=vendor.id, invoice_number="A-0", invoice_date="2026-02-20",
        due_date="2026-03-20", total_gross="119.00",
        lines=[InvoiceLineInput(net_amount="100.00", tax_code="VSt19", account="6815")]), ALICE)
    await db.write(runs.set_terms, runs.TermsRequest(party_id=vendor.id, skonto_percent="2", skonto_days=14), ALICE)
    await db.write(runs.set_terms, runs.TermsRequest(invoice_id=mixed.id, skonto_percent="3",
                                                     skonto_until="2026-03-10"), ALICE)

    async def skonto(execution_date: str) -> dict[str, str]:
        listed = await db.read(runs.eligible_invoices, "2026-03-31", execution_date)
        return {i.invoice_number: i.skonto_amount for i in listed.invoices}

    # 3 % of 172.50 is 5.175: 5.18. The vendor's 2 % within 14 days ended for A-0 on 6 March.
    assert await skonto("2026-03-06") == {"A-0": "2.38", "A-1": "5.18"}
    assert await skonto("2026-03-10") == {"A-0": "0.00", "A-1": "5.18"}
    assert await skonto("2026-03-11") == {"A-0": "0.00", "A-1": "0.00"}
    # Blocking an invoice and lifting the block leaves its vendor's Skonto in force.
    await db.write(runs.set_terms, runs.TermsRequest(invoice_id=older.id, blocked=True, block_reason="Mängel"), ALICE)
    assert await skonto("2026-03-06") == {"A-1": "5.18"}
    await db.write(runs.set_terms, runs.TermsRequest(invoice_id=older.id), ALICE)
    assert await skonto("2026-03-06") == {"A-0": "2.38", "A-1": "5.18"}
    for bad in ("NaN", "100", "zwei"):
        with pytest.raises(ValidationFailed):
            await db.write(runs.set_terms, runs.TermsRequest(party_id=vendor.id, skonto_percent=bad, skonto_days=5),
                           ALICE)

    run = await db.write(runs.create_run, runs.CreateRunRequest(
        bank_account_id=bank.id, execution_date="2026-03-10",
        invoices=[runs.RunInvoice(invoice_id=older.id), runs.RunInvoice(invoice_id=mixed.id)]), ALICE)
    assert (run.total_amount, run.skonto_total) == ("286.32", "5.18")
    await db.write(runs.approve_run, run.id, BOB)
    exported = await db.write(runs.export_run, run.id, "pain.001.001.03", ALICE)
    assert exported.control_sum == "286.32" and "<NbOfTxs>2</NbOfTxs>" in exported.xml
    await db.write(runs.complete_run, run.id, ALICE)

    balances = await _balances(db)
    # 5.18 split by gross: 3.57 at 19 % (3.00 + 0.57 VAT), 1.61 at 7 % (1.50 + 0.11 VAT).
    assert {a: balances.get(a, 0) for a in ("3300", "1460", "5736", "1406", "1401")} == {
        "3300": 0, "1460": -28632, "5736": -450, "1406": 1900 + 1900 - 57, "1401": 350 - 11}

    # A line that neither names a transfer nor moves what is in transit is refused; the right one clears.
    data = camt053(OWN_IBAN, [Line(date(2026, 3, 11), Decimal("-286.30"), reference="X-1"),
                              Line(date(2026, 3, 11), Decimal("-286.32"), reference="X-2")])
    await db.write(importing.import_statement, importing.ImportRequest(bank_account_id=bank.id), data, None, ALICE)
    lines = {t.bank_reference: t.id for t in await db.read(_transactions)}
    with pytest.raises(ReconciliationMismatch):
        await db.write(reconcile.reconcile, reconcile.ReconcileRequest(
            bank_transaction_ids=[lines["X-1"]], mode="intent", intent_id=(await db.read(runs.run_view, run.id)
                                                                           ).intent_id), ALICE)
    view = await db.read(runs.run_view, run.id)
    done = await db.write(reconcile.reconcile, reconcile.ReconcileRequest(
        bank_transaction_ids=[lines["X-2"]], mode="intent", intent_id=view.intent_id), ALICE)
    assert done.posted and (await db.read(runs.run_view, run.id)).status == "cleared"
    balances = await _balances(db)
    assert (balances.get("1460", 0), balances["1800"]) == (0, -28632)
    assert (await db.read(chain.verify_chain)).ok


async def _transactions(session: object) -> list[BankTransaction]:
    return list((await session.exec(select(BankTransaction))).all())  # type: ignore[attr-defined]
