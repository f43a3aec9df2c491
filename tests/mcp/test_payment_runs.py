"""Payment runs through the MCP client: eligible payables with and without Skonto, a run created,
approved by a second actor, exported (validated here against the ISO 20022 XSDs), completed, and its
bank debit matched back from the statement; the bad inputs of issue 16 refused with nothing written."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from mcp import Client

from ledger_mcp.server import build_server
from ledger_mcp.settings import Settings
from tests.conftest import call, fail
from tests.ledger.bank.statements import Line, camt053
from tests.mcp.test_bank import OWN_IBAN, b64, balance

pytestmark = pytest.mark.anyio

SEPA_XSDS = Path(__file__).parent.parent / "data" / "sepa"
PAPIER_IBAN = "DE02100500000054540402"
MUELLER_IBAN = "DE89370400440532013000"




async def _payables(client: Client) -> dict[str, Any]:
    """Papier GmbH: ER-1 119.00 (19 %) with 2 % Skonto within 10 days; Müller GmbH: ER-2 238.00, no Skonto."""
    bank = await call(client, "save_bank_account", name="Geschäftskonto", iban=OWN_IBAN)
    papier = await call(client, "save_party", kind="vendor", name="Papier GmbH", iban=PAPIER_IBAN)
    mueller = await call(client, "save_party", kind="vendor", name="Müller GmbH", iban=MUELLER_IBAN)
    er1 = await call(client, "create_invoice", direction="payable", party_id=papier["id"], invoice_number="ER-1",
                     invoice_date="2026-03-02", due_date="2026-03-30", total_gross="119.00",
                     lines=[{"net_amount": "100.00", "tax_code": "VSt19", "account": "4930"}])
    er2 = await call(client, "create_invoice", direction="payable", party_id=mueller["id"], invoice_number="ER-2",
                     invoice_date="2026-03-01", due_date="2026-03-16", total_gross="238.00",
                     lines=[{"net_amount": "200.00", "tax_code": "VSt19", "account": "4930"}])
    terms = await call(client, "payment_run", action="set_terms",
                       terms={"party_id": papier["id"], "skonto_percent": "2", "skonto_days": 10})
    assert terms["terms"]["skonto_percent"] == "2"
    return {"bank": bank, "papier": papier, "mueller": mueller, "er1": er1, "er2": er2}


def _valid(xml: str, schema: str) -> etree._Element:
    root = etree.fromstring(xml.encode())
    xsd = etree.XMLSchema(etree.parse(str(SEPA_XSDS / f"{schema}.xsd")))
    assert xsd.validate(root), xsd.error_log
    return root


async def _runs(client: Client) -> list[dict[str, Any]]:
    return list((await call(client, "list_payment_runs"))["runs"]["runs"])


async def test_payment_run_end_to_end(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    books = await _payables(alice)
    eligible = (await call(alice, "list_payment_runs", eligible_due_by="2026-03-20",
                           execution_date="2026-03-10"))["eligible"]
    by_number = {i["invoice_number"]: i for i in eligible["invoices"]}
    assert (by_number["ER-1"]["skonto_amount"], by_number["ER-1"]["payable_amount"],
            by_number["ER-1"]["skonto_until"]) == ("2.38", "116.62", "2026-03-12")
    assert (by_number["ER-2"]["skonto_amount"], by_number["ER-2"]["payable_amount"]) == ("0.00", "238.00")
    assert eligible["total"] == "354.62"

    created = (await call(alice, "payment_run", action="create", bank_account_id=books["bank"]["id"],
                          execution_date="2026-03-10", label="KW 11",
                          invoices=[{"invoice_id": i["invoice_id"]} for i in eligible["invoices"]]))["run"]
    assert (created["status"], created["total_amount"], created["skonto_total"], created["invoice_count"]) == (
        "created", "354.62", "2.38", 2)
    run_id = created["id"]

    # Four eyes: the creator cannot approve; export waits for approval.
    assert (await fail(alice, "payment_run", action="approve", run_id=run_id))["code"] == "FOUR_EYES_REQUIRED"
    assert (await fail(alice, "payment_run", action="export", run_id=run_id))["code"] == \
        "PAYMENT_RUN_STATE_CONFLICT"
    approved = (await call(bob, "payment_run", action="approve", run_id=run_id))["run"]
    assert approved["status"] == "approved"

    for schema in ("pain.001.001.03", "pain.001.001.09"):
        result = await alice.call_tool("payment_run", {"action": "export", "run_id": run_id, "format": schema})
        assert not result.is_error, result.content
        exported = result.structured_content
        assert exported is not None
        assert (exported["number_of_transactions"], exported["control_sum"]) == (2, "354.62")
        embedded = [c for c in result.content if c.type == "resource"]
        assert len(embedded) == 1 and embedded[0].resource.mime_type == "application/xml"  # type: ignore[union-attr]
        root = _valid(embedded[0].resource.text, schema)  # type: ignore[union-attr]
        ns = {"p": f"urn:iso:std:iso:20022:tech:xsd:{schema}"}
        assert root.findtext(".//p:GrpHdr/p:MsgId", namespaces=ns) == created["message_id"]
        assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == "2"
        assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "354.62"
        transfers = {t.findtext(".//p:Ustrd", namespaces=ns): t for t in root.iterfind(".//p:CdtTrfTxInf", ns)}
        assert set(transfers) == {"Rechnung ER-1 abzgl. 2.38 Skonto", "Rechnung ER-2"}
        papier = transfers["Rechnung ER-1 abzgl. 2.38 Skonto"]
        assert papier.findtext(".//p:InstdAmt", namespaces=ns) == "116.62"
        assert papier.findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == PAPIER_IBAN

    completed = (await call(alice, "payment_run", action="complete", run_id=run_id))["run"]
    assert completed["status"] == "completed" and completed["intent_id"]
    assert (await call(alice, "list_open_items", kind="payable"))["open_items"] == []
    tb = (await call(alice, "run_report", report_type="trial_balance"))["trial_balance"]
    # Payables settled in full; the money in transit; Skonto 2.38 = 2.00 net (3736) + 0.38 input VAT back.
    assert {a: balance(tb, a) for a in ("1360", "1576", "3736")} == {"1360": "-354.62", "1576": "56.62",
                                                                     "3736": "-2.00"}
    assert balance(tb, "1600") == "0.00"

    # The statement shows the batch debit with the run's message id: suggested with confidence, applied as is.
    statement = camt053(OWN_IBAN, [Line(date(2026, 3, 11), Decimal("-354.62"), "Sammelüberweisung", "",
                                        "SEPA Sammler", "B-1", created["message_id"])])
    await call(alice, "import_bank_statement", bank_account_id=books["bank"]["id"], content_base64=b64(statement))
    found = await call(alice, "suggest_matches", bank_account_id=books["bank"]["id"])
    best = found["suggestions"][0]["candidates"][0]
    assert best["score"] >= 0.9 and best["reconcile"] == {"mode": "intent", "intent_id": completed["intent_id"]}
    reconciled = await call(alice, "reconcile_transaction",
                            bank_transaction_ids=[found["suggestions"][0]["bank_transaction_id"]], **best["reconcile"])
    assert reconciled["status"] == "reconciled" and reconciled["posted"]

    cleared = (await call(bob, "list_payment_runs", run_id=run_id))["run"]
    assert cleared["status"] == "cleared" and cleared["clearing_intent_id"] == reconciled["intent_id"]
    assert [(e["action"], e["actor_id"]) for e in cleared["history"]] == [
        ("create", "user:alice"), ("approve", "user:bob"), ("export", "user:alice"), ("export", "user:alice"),
        ("complete", "user:alice"), ("clear", "user:alice")]
    tb = (await call(alice, "run_report", report_type="trial_balance"))["trial_balance"]
    assert balance(tb, "1360") == "0.00" and balance(tb, "1600") == "0.00"
    assert balance(tb, "1200") == "-354.62"
    assert (await call(alice, "verify_chain"))["ok"]
    resource = json.loads((await alice.read_resource(f"ledger://payment-runs/{run_id}")).contents[0].text)  # type: ignore[union-attr]
    assert resource["status"] == "cleared" and len(resource["items"]) == 2
    listed = json.loads((await alice.read_resource("ledger://payment-runs")).contents[0].text)  # type: ignore[union-attr]
    assert [r["status"] for r in listed["runs"]] == ["cleared"]


async def test_bad_input_is_refused_and_nothing_is_written(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    books = await _payables(alice)
    bank = books["bank"]["id"]
    nobank = await call(alice, "save_party", kind="vendor", name="Ohne Konto KG")
    er3 = await call(alice, "create_invoice", direction="payable", party_id=nobank["id"], invoice_number="ER-3",
                     invoice_date="2026-03-02", due_date="2026-03-16", total_gross="50.00",
                     lines=[{"net_amount": "50.00", "account": "4930"}])
    usd = await call(alice, "create_invoice", direction="payable", party_id=books["papier"]["id"],
                     invoice_number="ER-4", invoice_date="2026-03-02", due_date="2026-03-16", total_gross="119.00",
                     currency="USD", exchange_rate="1.0800",
                     lines=[{"net_amount": "100.00", "tax_code": "VSt19", "account": "4930"}])
    er1, er2 = books["er1"]["id"], books["er2"]["id"]

    async def refused(invoices: list[dict[str, Any]], execution_date: str = "2026-03-10") -> dict[str, Any]:
        return await fail(alice, "payment_run", action="create", bank_account_id=bank, execution_date=execution_date,
                          invoices=invoices)

    error = await refused([{"invoice_id": er1}, {"invoice_id": er3["id"]}])
    assert error["code"] == "INVOICE_NOT_PAYABLE" and "IBAN" in error["message"]
    assert (await refused([{"invoice_id": usd["id"]}]))["code"] == "UNSUPPORTED_CURRENCY"
    error = await refused([{"invoice_id": er2, "amount": "238.01"}])
    assert error["code"] == "OVER_SETTLEMENT" and error["details"]["remaining_amount"] == "238.00"
    assert (await refused([{"invoice_id": er1}, {"invoice_id": er1}]))["code"] == "VALIDATION_ERROR"
    assert await _runs(alice) == []

    # A blocked invoice is neither eligible nor accepted.
    await call(alice, "payment_run", action="set_terms", terms={"invoice_id": er2, "blocked": True,
                                                                "block_reason": "Reklamation"})
    eligible = (await call(alice, "list_payment_runs", eligible_due_by="2026-03-31"))["eligible"]
    assert [i["invoice_number"] for i in eligible["invoices"]] == ["ER-1"]
    assert "Reklamation" in (await refused([{"invoice_id": er2}]))["message"]
    await call(alice, "payment_run", action="set_terms", terms={"invoice_id": er2})

    # An invoice in an active run is not taken by another; a part payment takes no Skonto.
    first = (await call(alice, "payment_run", action="create", bank_account_id=bank, execution_date="2026-03-10",
                        invoices=[{"invoice_id": er1, "amount": "50.00"}]))["run"]
    assert (first["total_amount"], first["skonto_total"]) == ("50.00", "0.00")
    error = await refused([{"invoice_id": er1}])
    assert error["code"] == "INVOICE_NOT_PAYABLE" and error["details"]["payment_run_id"] == first["id"]
    assert (await fail(alice, "payment_run", action="cancel", run_id=first["id"]))["code"] == "VALIDATION_ERROR"
    cancelled = (await call(bob, "payment_run", action="cancel", run_id=first["id"], reason="wrong amount"))["run"]
    assert cancelled["status"] == "cancelled"
    assert (await fail(bob, "payment_run", action="approve", run_id=first["id"]))["code"] == \
        "PAYMENT_RUN_STATE_CONFLICT"

    # A locked period takes no run.
    await call(alice, "post_booking", booking_date="2026-01-15", description="Januar",
               lines=[{"debit_account": "4930", "credit_account": "1000", "amount": "10.00"}])
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    await call(bob, "lock_period", action="approve_lock", period="2026-01", request_id=requested["request_id"])
    assert (await refused([{"invoice_id": er1}], "2026-01-30"))["code"] == "PERIOD_LOCKED"
    assert (await fail(alice, "payment_run", action="create", bank_account_id=bank,
                       execution_date="2026-03-10"))["code"] == "VALIDATION_ERROR"
    assert (await fail(alice, "payment_run", action="approve", run_id="nope"))["code"] == "PAYMENT_RUN_NOT_FOUND"
    assert [r["status"] for r in await _runs(alice)] == ["cancelled"]


async def _completed_run(alice: Client, bob: Client, books: dict[str, Any]) -> dict[str, Any]:
    created = (await call(alice, "payment_run", action="create", bank_account_id=books["bank"]["id"],
                          execution_date="2026-03-10",
                          invoices=[{"invoice_id": books["er1"]["id"]}, {"invoice_id": books["er2"]["id"]}]))["run"]
    await call(bob, "payment_run", action="approve", run_id=created["id"])
    await call(alice, "payment_run", action="export", run_id=created["id"])
    return dict((await call(alice, "payment_run", action="complete", run_id=created["id"]))["run"])


async def test_transfers_booked_one_line_each_clear_by_end_to_end_id(pair: tuple[Client, Client]) -> None:
    """CAMT with transaction details gives one line per transfer: each is matched by its end-to-end id, the
    run is cleared with the last; unmatching one puts its money in transit again."""
    alice, bob = pair
    books = await _payables(alice)
    run = await _completed_run(alice, bob, books)
    e2e = {i["invoice_number"]: i["end_to_end_id"] for i in run["items"]}
    lines = [Line(date(2026, 3, 11), Decimal("-116.62"), "Papier GmbH", PAPIER_IBAN, "Rechnung ER-1", "T-1",
                  e2e["ER-1"]),
             Line(date(2026, 3, 11), Decimal("-238.00"), "Müller GmbH", MUELLER_IBAN, "Rechnung ER-2", "T-2",
                  e2e["ER-2"])]
    await call(alice, "import_bank_statement", bank_account_id=books["bank"]["id"],
               content_base64=b64(camt053(OWN_IBAN, lines)))

    async def best() -> dict[str, dict[str, Any]]:
        found = await call(alice, "suggest_matches", bank_account_id=books["bank"]["id"])
        return {s["amount"]: {**s["candidates"][0], "id": s["bank_transaction_id"]} for s in found["suggestions"]}

    picks = await best()
    assert {amount: (p["score"], p["reconcile"]["intent_id"]) for amount, p in picks.items()} == {
        "-116.62": (0.95, run["intent_id"]), "-238.00": (0.95, run["intent_id"])}
    first = picks["-116.62"]
    await call(alice, "reconcile_transaction", bank_transaction_ids=[first["id"]], **first["reconcile"])
    partly = (await call(alice, "list_payment_runs", run_id=run["id"]))["run"]
    assert partly["status"] == "completed"
    assert {i["invoice_number"]: i["cleared"] for i in partly["items"]} == {"ER-1": True, "ER-2": False}
    tb = (await call(alice, "run_report", report_type="trial_balance"))["trial_balance"]
    assert balance(tb, "1360") == "-238.00"

    # A line already reconciled is not taken twice.
    second = (await best())["-238.00"]
    error = await fail(alice, "reconcile_transaction", bank_transaction_ids=[first["id"], second["id"]],
                       mode="intent", intent_id=run["intent_id"])
    assert error["code"] == "ALREADY_RECONCILED"
    await call(alice, "reconcile_transaction", bank_transaction_ids=[second["id"]], **second["reconcile"])
    assert (await call(alice, "list_payment_runs", run_id=run["id"]))["run"]["status"] == "cleared"
    tb = (await call(alice, "run_report", report_type="trial_balance"))["trial_balance"]
    assert (balance(tb, "1360"), balance(tb, "1200")) == ("0.00", "-354.62")

    await call(alice, "reconcile_transaction", bank_transaction_ids=[second["id"]], mode="unmatch",
               reason="wrong line")
    again = (await call(alice, "list_payment_runs", run_id=run["id"]))["run"]
    assert again["status"] == "completed" and again["clearing_intent_id"] is None
    tb = (await call(alice, "run_report", report_type="trial_balance"))["trial_balance"]
    assert balance(tb, "1360") == "-238.00"
    assert (await best())["-238.00"]["reconcile"] == {"mode": "intent", "intent_id": run["intent_id"]}
    assert (await call(alice, "verify_chain"))["ok"]


async def test_approval_waits_for_a_human_when_the_client_cannot_ask(settings: Settings,
                                                                    pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    books = await _payables(alice)
    created = (await call(alice, "payment_run", action="create", bank_account_id=books["bank"]["id"],
                          execution_date="2026-03-10", invoices=[{"invoice_id": books["er2"]["id"]}]))["run"]
    carol_settings = Settings.load(data_dir=str(settings.data_dir), database_url=settings.database_url,
                                   actor="carol", toolsets="all")
    async with Client(build_server(carol_settings)) as carol:  # no elicitation
        error = await fail(carol, "payment_run", action="approve", run_id=created["id"])
        assert error["code"] == "CONFIRMATION_REQUIRED" and "238.00" in error["details"]["question"]
    assert (await call(alice, "list_payment_runs", run_id=created["id"]))["run"]["status"] == "created"
