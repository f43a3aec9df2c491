"""The bank side through the MCP client: bank accounts, statement import in every format, suggestions,
reconcile_transaction in every mode, unmatch, and the reconciliation view."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from tests.conftest import book, call, fail, line
from tests.ledger.bank.statements import Line, camt053, dkb_csv, mt940, sparkasse_csv

pytestmark = pytest.mark.anyio

OWN_IBAN = "DE02120300000000202051"
CUSTOMER_IBAN = "DE89370400440532013000"
VENDOR_IBAN = "DE02100500000054540402"




def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def bank_account(client: Client, iban: str = OWN_IBAN, **extra: Any) -> dict[str, Any]:
    return await call(client, "save_bank_account", name="Geschäftskonto", iban=iban, **extra)


async def import_file(client: Client, account_id: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return await call(client, "import_bank_statement", bank_account_id=account_id, content_base64=b64(data), **extra)


async def parties_and_invoices(client: Client) -> dict[str, Any]:
    """A customer invoice RE-100 of 1190.00 (USt19) and a vendor invoice ER-7 of 119.00 (VSt19)."""
    customer = await call(client, "save_party", kind="customer", name="Kunde AG", iban=CUSTOMER_IBAN)
    vendor = await call(client, "save_party", kind="vendor", name="Papier GmbH", iban=VENDOR_IBAN)
    sale = await call(client, "create_invoice", direction="receivable", party_id=customer["id"],
                      invoice_number="RE-100", invoice_date="2026-03-02", due_date="2026-03-16",
                      total_gross="1190.00", lines=[{"net_amount": "1000.00", "tax_code": "USt19", "account": "8400"}])
    purchase = await call(client, "create_invoice", direction="payable", party_id=vendor["id"],
                          invoice_number="ER-7", invoice_date="2026-03-03", due_date="2026-03-17",
                          total_gross="119.00", lines=[{"net_amount": "100.00", "tax_code": "VSt19",
                                                        "account": "4930"}])
    return {"customer": customer, "vendor": vendor, "sale": sale, "purchase": purchase}


STATEMENT = [
    Line(date(2026, 3, 12), Decimal("1190.00"), "Kunde AG", CUSTOMER_IBAN, "Rechnung RE-100 Kd 10000", "R-001"),
    Line(date(2026, 3, 13), Decimal("-116.62"), "Papier GmbH", VENDOR_IBAN, "ER-7 abzgl. 2 % Skonto", "R-002"),
    Line(date(2026, 3, 31), Decimal("-9.90"), "Sparkasse", "", "Kontoführungsentgelt März", "R-003"),
    Line(date(2026, 3, 20), Decimal("-59.50"), "Bürowelt Karte", "", "Kartenzahlung Druckerpapier", "R-004"),
    Line(date(2026, 3, 25), Decimal("-500.00"), "Max Mustermann", "DE75512108001245126199", "Privat", "R-005"),
    Line(date(2026, 3, 26), Decimal("-1000.00"), "Eigenes Tagesgeld", "DE27100777770209299700", "Umbuchung", "R-006"),
]


def by_reference(transactions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["bank_reference"]: t for t in transactions}


def balance(tb: dict[str, Any], account: str) -> str:
    return next((r["closing_balance"] for r in tb["rows"] if r["account"] == account), "0.00")


async def test_bank_accounts_get_their_own_ledger_account_and_a_checked_iban(client: Client) -> None:
    first = await bank_account(client, iban="DE02 1203 0000 0000 2020 51")
    assert (first["iban"], first["ledger_account"], first["tx_count"]) == (OWN_IBAN, "1200", 0)
    second = await call(client, "save_bank_account", name="Tagesgeld", iban="DE27100777770209299700")
    third = await call(client, "save_bank_account", name="Kreditkarte", iban="DE75512108001245126199")
    assert (second["ledger_account"], third["ledger_account"]) == ("1210", "1220")
    created = await call(client, "search_accounts", query="1220")
    assert created["accounts"][0]["name"] == "Kreditkarte"
    assert (await fail(client, "save_bank_account", name="X", iban="DE02120300000000202052"))["code"] == "INVALID_IBAN"
    duplicate = await fail(client, "save_bank_account", name="X", iban=OWN_IBAN)
    assert duplicate["code"] == "BANK_ACCOUNT_EXISTS" and duplicate["details"]["bank_account_id"] == first["id"]
    assert (await fail(client, "save_bank_account", name="X", iban="DE89370400440532013000", ledger_account="4930")
            )["code"] == "VALIDATION_ERROR"
    assert (await fail(client, "save_bank_account", name="X", iban="DE89370400440532013000", currency="USD")
            )["code"] == "UNSUPPORTED_CURRENCY"
    renamed = await call(client, "save_bank_account", bank_account_id=first["id"], name="Sparkasse Giro")
    assert renamed["name"] == "Sparkasse Giro"
    listed = await call(client, "list_bank_accounts")
    assert [a["ledger_account"] for a in listed["bank_accounts"]] == ["1200", "1210", "1220"]
    resource = await client.read_resource("ledger://bank-accounts")
    assert len(json.loads(resource.contents[0].text)["bank_accounts"]) == 3  # type: ignore[union-attr]


async def test_camt_statement_reconciled_end_to_end(client: Client) -> None:
    await parties_and_invoices(client)
    account = await bank_account(client)
    imported = await import_file(client, account["id"], camt053(OWN_IBAN, STATEMENT, Decimal("5000.00")),
                                 filename="maerz.xml")
    assert (imported["format"], imported["total_rows"], imported["imported"], imported["skipped_duplicates"],
            imported["errors"]) == ("camt", 6, 6, 0, [])
    assert (imported["opening_balance"], imported["closing_balance"]) == ("5000.00", "4503.98")
    assert imported["document_id"]
    again = await import_file(client, account["id"], camt053(OWN_IBAN, STATEMENT, Decimal("5000.00")))
    assert (again["imported"], again["skipped_duplicates"]) == (0, 6)

    tx = by_reference((await call(client, "list_bank_transactions", bank_account_id=account["id"]))["transactions"])
    assert {t["status"] for t in tx.values()} == {"open"}

    # Suggestions: the customer payment names its invoice; the vendor payment is the gross less 2 % Skonto.
    found = await call(client, "suggest_matches", bank_account_id=account["id"],
                       bank_transaction_ids=[tx["R-001"]["id"], tx["R-002"]["id"]])
    best = {s["bank_transaction_id"]: s["candidates"][0] for s in found["suggestions"]}
    sale_pick = best[tx["R-001"]["id"]]
    assert sale_pick["items"][0]["invoice_number"] == "RE-100" and sale_pick["score"] >= 0.8
    assert any("invoice number RE-100" in r for r in sale_pick["reasons"])
    assert any("IBAN" in r for r in sale_pick["reasons"])
    skonto_pick = best[tx["R-002"]["id"]]
    assert skonto_pick["items"][0]["invoice_number"] == "ER-7"
    assert skonto_pick["reconcile"]["adjustments"] == [{"kind": "skonto", "amount": "2.38"}]

    # Apply the suggestions as they come.
    paid = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-001"]["id"]],
                      idempotency_key="rec-1", **sale_pick["reconcile"])
    assert (paid["status"], paid["mode"], paid["posted"]) == ("reconciled", "open_items", True)
    assert [(i["invoice_number"], i["status"]) for i in paid["items"]] == [("RE-100", "paid")]
    replay = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-001"]["id"]],
                        idempotency_key="rec-1", **sale_pick["reconcile"])
    assert replay["replayed"] and replay["intent_id"] == paid["intent_id"]
    skonto = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-002"]["id"]],
                        **skonto_pick["reconcile"])
    assert [(i["invoice_number"], i["amount"], i["status"]) for i in skonto["items"]] == [("ER-7", "119.00", "paid")]
    view = await call(client, "get_intent", intent_id=skonto["intent_id"])
    postings = sorted((e["account_debit"], e["account_credit"], e["amount"]) for e in view["entries"])
    # 119.00 payable cleared: 116.62 from the bank, Skonto 2.00 net and its input VAT 0.38 corrected.
    assert postings == [("1600", "1200", "116.62"), ("1600", "1576", "0.38"), ("1600", "3736", "2.00")]
    assert view["summary"]["custom_metadata"]["bank_transaction_ids"] == [tx["R-002"]["id"]]
    assert view["summary"]["provenance_summary"]["channel"] == "MCP"

    # Direct bookings: a bank fee without tax, a card payment with 19 % input VAT, a private withdrawal.
    fee = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-003"]["id"]], mode="booking",
                     account="4970", description="Kontoführung März", evidence="Entgeltaufstellung März geprüft")
    fee_view = await call(client, "get_intent", intent_id=fee["intent_id"])
    assert fee_view["summary"]["custom_metadata"]["evidence"] == "Entgeltaufstellung März geprüft"
    assert fee_view["summary"]["external_reference"] == "R-003"
    card = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-004"]["id"]], mode="booking",
                      account="4930", tax_code="VSt19")
    card_view = await call(client, "get_intent", intent_id=card["intent_id"])
    assert sorted((e["account_debit"], e["account_credit"], e["amount"]) for e in card_view["entries"]) == [
        ("1576", "1200", "9.50"), ("4930", "1200", "50.00")]
    await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-005"]["id"]], mode="booking",
               account="1800")
    missing_reason = await fail(client, "reconcile_transaction", bank_transaction_ids=[tx["R-006"]["id"]],
                                mode="dismiss")
    assert missing_reason["code"] == "VALIDATION_ERROR"
    dismissed = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["R-006"]["id"]],
                           mode="dismiss", reason="Transfer to our own savings account, booked there")
    assert dismissed["status"] == "dismissed" and dismissed["intent_id"] is None
    twice = await fail(client, "reconcile_transaction", bank_transaction_ids=[tx["R-006"]["id"]], mode="booking",
                       account="4970")
    assert twice["code"] == "ALREADY_RECONCILED"

    assert (await call(client, "list_open_items"))["open_items"] == []
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    # 1190.00 - 116.62 - 9.90 - 59.50 - 500.00: the dismissed transfer is not booked.
    assert balance(tb, "1200") == "503.98"
    recon = await call(client, "get_bank_reconciliation", bank_account_id=account["id"])
    assert (recon["open"]["count"], recon["reconciled"]["count"], recon["dismissed"]["count"]) == (0, 5, 1)
    assert (recon["ledger_balance"], recon["statement_balance"]) == ("503.98", "4503.98")
    # 503.98 - 4503.98 = -4001.00: the opening balance 5000.00 was never booked, the transfer was dismissed.
    assert recon["difference"] == "-4000.00"
    assert recon["explanation"]["statement_opening_balance"] == "-5000.00"
    assert recon["explanation"]["dismissed_transactions"] == "1000.00"
    assert recon["explanation"]["unexplained"] == "0.00"
    page = await call(client, "list_bank_transactions", bank_account_id=account["id"], status="reconciled", limit=2)
    assert len(page["transactions"]) == 2 and page["next_cursor"]
    rest = await call(client, "list_bank_transactions", bank_account_id=account["id"], status="reconciled",
                      cursor=page["next_cursor"])
    assert len(rest["transactions"]) == 3 and rest["next_cursor"] is None
    assert all(t["intent_id"] for t in page["transactions"] + rest["transactions"])
    search = await call(client, "list_bank_transactions", search="skonto")
    assert [t["bank_reference"] for t in search["transactions"]] == ["R-002"]
    money_out = await call(client, "list_bank_transactions", max_amount="-100.00")
    assert {t["bank_reference"] for t in money_out["transactions"]} == {"R-002", "R-005", "R-006"}
    resource = await client.read_resource(f"ledger://bank-accounts/{account['id']}/reconciliation")
    assert json.loads(resource.contents[0].text)["difference"] == "-4000.00"  # type: ignore[union-attr]
    info = (await call(client, "list_bank_accounts", bank_account_id=account["id"], history_days=30))
    assert info["bank_accounts"][0]["balance_history"][-1] == {"date": "2026-03-31", "balance": "4503.98",
                                                               "statement_balance": "4503.98"}


async def test_unmatch_reverses_reopens_and_keeps_history(client: Client) -> None:
    books = await parties_and_invoices(client)
    account = await bank_account(client)
    await import_file(client, account["id"], camt053(OWN_IBAN, STATEMENT[:1]))
    tx = (await call(client, "list_bank_transactions"))["transactions"][0]
    paid = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["id"]], mode="open_items",
                      items=[{"invoice_id": books["sale"]["id"]}])
    undone = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["id"]], mode="unmatch",
                        reason="wrong invoice")
    assert (undone["mode"], undone["status"], undone["match_group_id"]) == ("unmatch", "open", paid["match_group_id"])
    storno = await call(client, "get_intent", intent_id=undone["reversal_intent_id"])
    assert storno["summary"]["reverses_intent_id"] == paid["intent_id"]
    original = await call(client, "get_intent", intent_id=paid["intent_id"])
    assert original["summary"]["reversed_by_intent_id"] == undone["reversal_intent_id"]
    item = (await call(client, "list_invoices", invoice_id=books["sale"]["id"]))["invoices"][0]
    assert (item["status"], item["remaining_amount"]) == ("open", "1190.00")
    assert (await call(client, "list_bank_transactions"))["transactions"][0]["status"] == "open"
    assert (await fail(client, "reconcile_transaction", bank_transaction_ids=[tx["id"]], mode="unmatch",
                       reason="again"))["code"] == "NOT_RECONCILED"
    # Reconciled again, the transaction is explained once.
    again = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["id"]], mode="open_items",
                       items=[{"invoice_id": books["sale"]["id"]}])
    assert again["match_group_id"] != paid["match_group_id"]
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    assert (balance(tb, "1200"), balance(tb, "1400")) == ("1190.00", "0.00")
    assert (await call(client, "verify_chain"))["ok"]


async def test_instalments_collective_payment_refund_and_returned_direct_debit(client: Client) -> None:
    customer = await call(client, "save_party", kind="customer", name="Kunde AG", iban=CUSTOMER_IBAN)
    vendor = await call(client, "save_party", kind="vendor", name="Papier GmbH", iban=VENDOR_IBAN)

    async def sale(number: str, gross: str, net: str) -> dict[str, Any]:
        return await call(client, "create_invoice", direction="receivable", party_id=customer["id"],
                          invoice_number=number, invoice_date="2026-03-02", total_gross=gross,
                          lines=[{"net_amount": net, "tax_code": "USt19", "account": "8400"}])

    big = await sale("RE-1", "1190.00", "1000.00")
    await sale("RE-2", "119.00", "100.00")
    await sale("RE-3", "238.00", "200.00")
    direct_debit = await sale("RE-4", "59.50", "50.00")
    credit = await call(client, "create_invoice", direction="payable", party_id=vendor["id"], type="credit_note",
                        invoice_number="GS-1", invoice_date="2026-03-02", total_gross="23.80",
                        lines=[{"net_amount": "20.00", "tax_code": "VSt19", "account": "4930"}])
    account = await bank_account(client)
    lines = [Line(date(2026, 3, 10), Decimal("595.00"), "Kunde AG", CUSTOMER_IBAN, "RE-1 Rate 1", "I-1"),
             Line(date(2026, 4, 10), Decimal("595.00"), "Kunde AG", CUSTOMER_IBAN, "RE-1 Rate 2", "I-2"),
             Line(date(2026, 3, 11), Decimal("357.00"), "Kunde AG", CUSTOMER_IBAN, "RE-2 RE-3", "C-1"),
             Line(date(2026, 3, 12), Decimal("23.80"), "Papier GmbH", VENDOR_IBAN, "Gutschrift GS-1", "F-1"),
             Line(date(2026, 3, 5), Decimal("59.50"), "Kunde AG", CUSTOMER_IBAN, "Lastschrift RE-4", "D-1"),
             Line(date(2026, 3, 9), Decimal("-62.50"), "Kunde AG", CUSTOMER_IBAN, "Ruecklastschrift RE-4", "D-2")]
    await import_file(client, account["id"], mt940(OWN_IBAN, lines, Decimal("100.00")))
    tx = by_reference((await call(client, "list_bank_transactions"))["transactions"])
    assert tx["I-1"]["counterparty_iban"] == CUSTOMER_IBAN and tx["I-1"]["counterparty_name"] == "Kunde AG"

    # Instalments: two transactions, each settling half of RE-1.
    for ref in ("I-1", "I-2"):
        done = await call(client, "reconcile_transaction", bank_transaction_ids=[tx[ref]["id"]], mode="open_items",
                          items=[{"invoice_id": big["id"], "amount": "595.00"}])
    assert [(i["status"], i["remaining_amount"]) for i in done["items"]] == [("paid", "0.00")]
    # Collective payment: the suggestion finds both invoices named in the text.
    found = await call(client, "suggest_matches", bank_account_id=account["id"], bank_transaction_ids=[tx["C-1"]["id"]])
    top = found["suggestions"][0]["candidates"][0]
    assert {i["invoice_number"] for i in top["items"]} == {"RE-2", "RE-3"} and top["score"] >= 0.9
    collective = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["C-1"]["id"]],
                            **top["reconcile"])
    assert [i["status"] for i in collective["items"]] == ["paid", "paid"]
    # Refund: the vendor pays a credit note back.
    refund = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["F-1"]["id"]], mode="open_items",
                        items=[{"invoice_id": credit["id"]}])
    assert refund["items"][0]["status"] == "paid"
    # Returned direct debit: the original collection is unmatched (RE-4 open again) and paired with its return,
    # whose 3.00 return fee is the only thing booked.
    await call(client, "reconcile_transaction", bank_transaction_ids=[tx["D-1"]["id"]], mode="open_items",
               items=[{"invoice_id": direct_debit["id"]}])
    await call(client, "reconcile_transaction", bank_transaction_ids=[tx["D-1"]["id"]], mode="unmatch",
               reason="direct debit returned")
    mismatch = await fail(client, "reconcile_transaction", bank_transaction_ids=[tx["D-1"]["id"], tx["D-2"]["id"]],
                          mode="open_items")
    assert mismatch["code"] == "RECONCILIATION_MISMATCH" and mismatch["details"]["difference"] == "-3.00"
    returned = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["D-1"]["id"], tx["D-2"]["id"]],
                          mode="open_items", adjustments=[{"kind": "fee", "amount": "3.00"}])
    assert returned["amount"] == "-3.00"
    item = (await call(client, "list_invoices", invoice_id=direct_debit["id"]))["invoices"][0]
    assert item["status"] == "open"
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    assert balance(tb, "1200") == "1567.80"  # 1190 + 357 + 23.80 - 3.00
    assert balance(tb, "4970") == "3.00"
    recon = await call(client, "get_bank_reconciliation", bank_account_id=account["id"])
    assert recon["open"]["count"] == 0 and recon["explanation"]["unexplained"] == "0.00"


async def test_intent_link_rules_locked_period_and_batch(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    account = await bank_account(alice)
    rows = [{"booking_date": "2026-01-15", "amount": "-9.90", "counterparty_name": "Sparkasse",
             "remittance_information": "Entgelt Januar", "bank_reference": "J-1"},
            {"booking_date": "2026-03-15", "amount": "-9.90", "counterparty_name": "Sparkasse",
             "remittance_information": "Entgelt März", "bank_reference": "J-2"},
            {"booking_date": "2026-03-16", "amount": "-250.00", "counterparty_name": "Vermieter",
             "remittance_information": "Miete", "bank_reference": "J-3"},
            {"booking_date": "2026-03-17", "amount": "12,00", "bank_reference": "J-4"},
            {"booking_date": "2026-03-18", "amount": "-1.00", "currency": "USD", "bank_reference": "J-5"}]
    imported = await call(alice, "import_bank_statement", bank_account_id=account["id"], rows=rows)
    assert (imported["total_rows"], imported["imported"]) == (5, 3)
    assert [(e["row"], e["code"]) for e in imported["errors"]] == [(4, "INVALID_ROW"), (5, "CURRENCY_MISMATCH")]
    tx = by_reference((await call(alice, "list_bank_transactions"))["transactions"])

    # A rent payment already booked by hand is linked, not booked twice.
    rent = await book(alice, line("4210", "1200", "250.00"), date="2026-03-16", description="Miete März")
    found = await call(alice, "suggest_matches", bank_account_id=account["id"], bank_transaction_ids=[tx["J-3"]["id"]])
    top = found["suggestions"][0]["candidates"][0]
    assert (top["kind"], top["intent_id"]) == ("intent", rent["intent_id"])
    linked = await call(alice, "reconcile_transaction", bank_transaction_ids=[tx["J-3"]["id"]], **top["reconcile"])
    assert (linked["mode"], linked["posted"], linked["intent_id"]) == ("intent", False, rent["intent_id"])
    wrong = await fail(alice, "reconcile_transaction", bank_transaction_ids=[tx["J-2"]["id"]], mode="intent",
                       intent_id=rent["intent_id"])
    assert wrong["code"] == "RECONCILIATION_MISMATCH"

    # January is locked: refused with a hint, or booked today with posting_mode current_date.
    requested = await call(alice, "lock_period", action="request_lock", period="2026-01")
    await call(bob, "lock_period", action="approve_lock", period="2026-01", request_id=requested["request_id"])
    locked = await fail(alice, "reconcile_transaction", bank_transaction_ids=[tx["J-1"]["id"]], mode="booking",
                        account="4970")
    assert locked["code"] == "PERIOD_LOCKED" and "current_date" in locked["hint"]
    assert (await call(alice, "list_bank_transactions", bank_transaction_id=tx["J-1"]["id"])
            )["transactions"][0]["status"] == "open"
    batch = await call(alice, "batch_reconcile", reconciliations=[
        {"bank_transaction_ids": [tx["J-1"]["id"]], "mode": "booking", "account": "4970",
         "posting_mode": "current_date"},
        {"bank_transaction_ids": [tx["J-2"]["id"]], "mode": "booking", "account": "4970"},
        {"bank_transaction_ids": [tx["J-2"]["id"]], "mode": "booking", "account": "4970"}])
    assert len(batch["reconciled"]) == 2
    assert [(e["index"], e["error"]["code"]) for e in batch["errors"]] == [(2, "ALREADY_RECONCILED")]
    assert batch["reconciled"][0]["booking_date"] != "2026-01-15"
    # The fee counterparty is now a learned rule.
    await call(alice, "reconcile_transaction", bank_transaction_ids=[tx["J-2"]["id"]], mode="unmatch", reason="test")
    learned = await call(alice, "suggest_matches", bank_account_id=account["id"],
                         bank_transaction_ids=[tx["J-2"]["id"]])
    rule = learned["suggestions"][0]["candidates"][0]
    assert (rule["kind"], rule["reconcile"]["account"]) == ("rule", "4970")


async def test_csv_presets_and_refused_files(client: Client) -> None:
    account = await bank_account(client)
    lines = STATEMENT[:4]
    spk = await import_file(client, account["id"], sparkasse_csv(OWN_IBAN, lines), csv_preset="sparkasse_camt")
    assert (spk["format"], spk["imported"], spk["errors"]) == ("csv", 4, [])
    tx = (await call(client, "list_bank_transactions", search="Kontoführung"))["transactions"]
    assert [(t["amount"], t["counterparty_name"]) for t in tx] == [("-9.90", "Sparkasse")]
    overlap = await import_file(client, account["id"], sparkasse_csv(OWN_IBAN, STATEMENT[2:]),
                                csv_preset="sparkasse_camt")
    assert (overlap["imported"], overlap["skipped_duplicates"]) == (2, 2)

    other = await call(client, "save_bank_account", name="DKB", iban="DE27100777770209299700")
    dkb = await import_file(client, other["id"], dkb_csv("DE27100777770209299700", lines), csv_preset="dkb")
    assert dkb["imported"] == 4
    dkb_tx = (await call(client, "list_bank_transactions", bank_account_id=other["id"]))["transactions"]
    assert {t["counterparty_name"] for t in dkb_tx} == {"Kunde AG", "Papier GmbH", "Sparkasse", "Bürowelt Karte"}
    mapped = await import_file(client, other["id"], b"Datum,Betrag,Text\n2026-03-01,-1.50,Porto\n2026-03-02,x,Bad\n",
                               csv_mapping={"booking_date": "Datum", "amount": "Betrag",
                                            "remittance_information": "Text", "delimiter": ",",
                                            "decimal_comma": False})
    assert (mapped["imported"], [e["row"] for e in mapped["errors"]]) == (1, [2])

    before = (await call(client, "list_bank_accounts", bank_account_id=account["id"]))["bank_accounts"][0]
    for data, extra in ((b"<Document><BkToCstmrStmt><Stmt>", {}), (b"Datum;Betrag\n", {"csv_preset": "dkb"}),
                        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
                         {}), (b"{}", {}), (b"no preset", {})):
        error = await fail(client, "import_bank_statement", bank_account_id=account["id"], content_base64=b64(data),
                           **extra)
        assert error["code"] == "STATEMENT_MALFORMED", (data, error)
    foreign = await fail(client, "import_bank_statement", bank_account_id=account["id"],
                         content_base64=b64(camt053("DE89370400440532013000", lines)))
    assert foreign["code"] == "STATEMENT_ACCOUNT_MISMATCH"
    after = (await call(client, "list_bank_accounts", bank_account_id=account["id"]))["bank_accounts"][0]
    assert after["tx_count"] == before["tx_count"] == 6


async def test_skonto_over_two_tax_rates_corrects_each_rate(client: Client) -> None:
    vendor = await call(client, "save_party", kind="vendor", name="Nordsee Logistik GmbH", iban=VENDOR_IBAN)
    await call(client, "create_invoice", direction="payable", party_id=vendor["id"], invoice_number="UBL-7781",
               invoice_date="2026-03-12", total_gross="791.30",
               lines=[{"net_amount": "620.00", "tax_code": "VSt19", "account": "4930"},
                      {"net_amount": "50.00", "tax_code": "VSt7", "account": "4940"}])
    account = await bank_account(client)
    imported = await call(client, "import_bank_statement", bank_account_id=account["id"], rows=[
        {"booking_date": "2026-03-20", "amount": "-775.47", "counterparty_iban": VENDOR_IBAN,
         "remittance_information": "UBL-7781 abzgl. 2% Skonto"},
        {"booking_date": "2026-03-21", "amount": "-1.00", "remittanceInformation": "misspelt"}])
    # A row with a field the format does not know is refused as a row; the good row is imported.
    assert imported["imported"] == 1 and [(e["row"], e["code"]) for e in imported["errors"]] == [(2, "INVALID_ROW")]
    assert "remittanceInformation" in imported["errors"][0]["message"]
    tx = (await call(client, "list_bank_transactions"))["transactions"][0]
    top = (await call(client, "suggest_matches", bank_account_id=account["id"]))["suggestions"][0]["candidates"][0]
    assert top["reconcile"]["adjustments"] == [{"kind": "skonto", "amount": "15.83"}]
    done = await call(client, "reconcile_transaction", bank_transaction_ids=[tx["id"]], **top["reconcile"])
    assert done["items"][0]["status"] == "paid"
    view = await call(client, "get_intent", intent_id=done["intent_id"])
    credited = sorted((e["account_credit"], e["amount"]) for e in view["entries"])
    # 15.83 split 737.80 : 53.50 -> 14.76 at 19 % (12.40 + 2.36) and 1.07 at 7 % (1.00 + 0.07).
    assert credited == [("1200", "775.47"), ("1571", "0.07"), ("1576", "2.36"), ("3736", "1.00"), ("3736", "12.40")]


async def test_a_long_import_reports_progress(client: Client) -> None:
    account = await bank_account(client)
    lines = [Line(date(2026, 3, 1) + timedelta(days=i % 28), Decimal(i + 1) / 100, f"Kunde {i}", "", f"Zahlung {i}",
                  f"P{i:05d}") for i in range(5000)]
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    result = await client.call_tool("import_bank_statement", {"bank_account_id": account["id"],
                                                              "content_base64": b64(camt053(OWN_IBAN, lines))},
                                    progress_callback=on_progress)
    assert not result.is_error, result.content
    assert (result.structured_content or {})["imported"] == 5000
    assert progress == [2000, 4000, 5000]
