"""Vendors, customers, invoices, settlements and open items through the MCP client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from tests.conftest import call, fail

pytestmark = pytest.mark.anyio


async def vendor(client: Client, name: str = "Bürobedarf Müller GmbH", **fields: Any) -> dict[str, Any]:
    return await call(client, "save_party", kind="vendor", name=name, **fields)


async def customer(client: Client, name: str = "Kunde AG", **fields: Any) -> dict[str, Any]:
    return await call(client, "save_party", kind="customer", name=name, **fields)


def inv_line(net: str, tax_code: str | None = None, account: str | None = None, **extra: Any) -> dict[str, Any]:
    return {k: v for k, v in {"net_amount": net, "tax_code": tax_code, "account": account, **extra}.items()
            if v is not None}


MIXED = [inv_line("100.00", "VSt19", "4930", description="Papier"),
         inv_line("50.00", "VSt7", "4940", description="Fachbuch")]


async def mixed_invoice(client: Client, party_id: str, number: str = "RE-2026-001", **extra: Any) -> dict[str, Any]:
    """Net 150.00, VAT 19.00 + 3.50, gross 172.50."""
    args = {"direction": "payable", "party_id": party_id, "invoice_number": number, "invoice_date": "2026-03-02",
            "due_date": "2026-03-16", "total_net": "150.00", "total_tax": "22.50", "total_gross": "172.50",
            "lines": MIXED, **extra}
    return await call(client, "create_invoice", **args)


def balance(tb: dict[str, Any], account: str) -> str:
    return next((r["closing_balance"] for r in tb["rows"] if r["account"] == account), "0.00")


async def test_vendor_invoice_partial_then_full_payment_closes_the_item(client: Client) -> None:
    v = await vendor(client, vat_id="DE 136 695 976", iban="DE89 3704 0044 0532 0130 00")
    assert (v["number"], v["vat_id"], v["iban"], v["bic"]) == ("70000", "DE136695976", "DE89370400440532013000",
                                                                 "COBADEFFXXX")
    invoice = await mixed_invoice(client, v["id"])
    assert (invoice["status"], invoice["remaining_amount"], invoice["control_account"]) == ("open", "172.50", "1600")
    assert [(li["net_amount"], li["tax_amount"]) for li in invoice["lines"]] == [("100.00", "19.00"), ("50.00", "3.50")]

    view = await call(client, "get_intent", intent_id=invoice["intent_id"])
    postings = sorted((e["account_debit"], e["account_credit"], e["amount"]) for e in view["entries"])
    assert postings == [("1571", "1600", "3.50"), ("1576", "1600", "19.00"),
                        ("4930", "1600", "100.00"), ("4940", "1600", "50.00")]
    assert view["summary"]["external_reference"] == "RE-2026-001"
    assert view["summary"]["custom_metadata"]["party_id"] == v["id"]

    items = await call(client, "list_open_items", kind="payable", as_of="2026-03-20")
    assert [(i["invoice_number"], i["open_amount"], i["days_overdue"]) for i in items["open_items"]] == [
        ("RE-2026-001", "172.50", 4)]
    assert items["total_payable"] == "172.50"

    part = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"], "amount": "100.00"}],
                      payment_date="2026-03-10", account="1200")
    assert part["posted"] and part["net_amount"] == "100.00"
    assert [(i["status"], i["remaining_amount"]) for i in part["items"]] == [("partially_paid", "72.50")]
    rest = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-03-15",
                      account="1200")
    assert [(i["status"], i["remaining_amount"]) for i in rest["items"]] == [("paid", "0.00")]

    assert (await call(client, "list_open_items"))["open_items"] == []
    detail = (await call(client, "list_invoices", invoice_id=invoice["id"]))["invoices"][0]
    assert [(s["amount"], s["live"]) for s in detail["settlements"]] == [("100.00", True), ("72.50", True)]
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    assert (balance(tb, "1600"), balance(tb, "1200")) == ("0.00", "-172.50")

    # The payment and the invoice point at each other in the audit view.
    invoice_view = await call(client, "get_intent", intent_id=invoice["intent_id"])
    assert invoice_view["linked_intents"]["settlement_intent_ids"] == [part["payment_intent_id"],
                                                                       rest["payment_intent_id"]]
    payment_view = await call(client, "get_intent", intent_id=rest["payment_intent_id"])
    assert payment_view["linked_intents"]["settles_intent_ids"] == [invoice["intent_id"]]
    assert payment_view["summary"]["custom_metadata"]["settles"] == [{"invoice_id": invoice["id"],
                                                                      "amount": "72.50"}]


async def test_reversing_a_payment_reopens_the_item_and_cancelling_needs_it_unsettled(client: Client) -> None:
    v = await vendor(client)
    invoice = await mixed_invoice(client, v["id"])
    paid = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-03-10",
                      account="1200")
    error = await fail(client, "reverse_intent", intent_id=invoice["intent_id"], reason="wrong")
    assert error["code"] == "SETTLED_ITEM"
    assert error["details"]["settlement_intent_ids"] == [paid["payment_intent_id"]]

    await call(client, "reverse_intent", intent_id=paid["payment_intent_id"], reason="bounced")
    reopened = (await call(client, "list_invoices", invoice_id=invoice["id"]))["invoices"][0]
    assert (reopened["status"], reopened["remaining_amount"]) == ("open", "172.50")
    assert reopened["settlements"][0]["live"] is False

    await call(client, "reverse_intent", intent_id=invoice["intent_id"], reason="wrong vendor")
    cancelled = (await call(client, "list_invoices", invoice_id=invoice["id"]))["invoices"][0]
    assert (cancelled["status"], cancelled["remaining_amount"]) == ("cancelled", "0.00")
    assert (await call(client, "list_open_items"))["open_items"] == []
    # A cancelled number can be recorded again.
    again = await mixed_invoice(client, v["id"])
    assert again["status"] == "open"


async def test_credit_note_nets_against_the_invoice(client: Client) -> None:
    c = await customer(client, default_account="8400")
    invoice = await call(client, "create_invoice", direction="receivable", party_id=c["id"], invoice_number="AR-1",
                         invoice_date="2026-04-01", total_gross="238.00",
                         lines=[inv_line("200.00", "USt19")])
    assert invoice["due_date"] == "2026-05-01"  # default terms: 30 days
    note = await call(client, "create_invoice", direction="receivable", type="credit_note", party_id=c["id"],
                      invoice_number="GS-1", invoice_date="2026-04-05", total_gross="23.80",
                      lines=[inv_line("20.00", "USt19")])
    view = await call(client, "get_intent", intent_id=note["intent_id"])
    assert sorted((e["account_debit"], e["account_credit"], e["amount"]) for e in view["entries"]) == [
        ("1776", "1400", "3.80"), ("8400", "1400", "20.00")]
    parties = (await call(client, "find_parties", party_id=c["id"]))["parties"]
    assert parties[0]["open_amount"] == "214.20"
    items = await call(client, "list_open_items", kind="receivable")
    assert [i["open_amount"] for i in items["open_items"]] == ["238.00", "-23.80"]
    assert items["total_receivable"] == "214.20"

    paid = await call(client, "settle_open_items", payment_date="2026-04-20", account="1200",
                      items=[{"invoice_id": invoice["id"]}, {"invoice_id": note["id"]}])
    assert paid["net_amount"] == "214.20"
    assert {i["invoice_number"]: i["status"] for i in paid["items"]} == {"AR-1": "paid", "GS-1": "paid"}
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    assert (balance(tb, "1400"), balance(tb, "1200"), balance(tb, "8400")) == ("0.00", "214.20", "-180.00")


async def test_totals_must_agree_and_nothing_is_written_on_refusal(client: Client) -> None:
    v = await vendor(client)
    base = {"direction": "payable", "party_id": v["id"], "invoice_number": "X-1", "invoice_date": "2026-03-02",
            "lines": MIXED}
    error = await fail(client, "create_invoice", total_gross="172.49", **base)
    assert (error["code"], error["details"]["computed"]) == ("TOTALS_MISMATCH", "172.50")
    error = await fail(client, "create_invoice", total_gross="172.50", total_net="151.00", **base)
    assert (error["code"], error["details"]["field"]) == ("TOTALS_MISMATCH", "total_net")
    error = await fail(client, "create_invoice", total_gross="172.50",
                       **{**base, "lines": [inv_line("100.00", "VSt19", "4930", tax_amount="21.00"),
                                            inv_line("50.00", "VSt7", "4940")]})
    assert error["code"] == "TOTALS_MISMATCH" and error["details"]["tax_code"] == "VSt19"
    error = await fail(client, "create_invoice", total_gross="119.00",
                       **{**base, "lines": [inv_line("100.00", "USt19", "4930")]})
    assert error["code"] == "UNKNOWN_TAX_CODE" and "VSt19" in error["hint"]
    error = await fail(client, "create_invoice", total_gross="100.00", **{**base, "lines": [inv_line("100.00")]})
    assert error["code"] == "VALIDATION_ERROR" and "default_account" in error["message"]
    assert (await call(client, "list_invoices"))["invoices"] == []
    assert (await call(client, "query_journal"))["entries"] == []


async def test_printed_vat_within_rounding_is_accepted(client: Client) -> None:
    v = await vendor(client, default_account="4930")
    # VAT printed per line (1.91 each) differs by a rounding cent from 19 % of the summed net.
    lines = [inv_line("10.03", "VSt19", tax_amount="1.91"), inv_line("10.03", "VSt19", tax_amount="1.91")]
    invoice = await call(client, "create_invoice", direction="payable", party_id=v["id"], invoice_number="R-7",
                         invoice_date="2026-03-02", total_gross="23.88", lines=lines)
    assert (invoice["total_net"], invoice["total_tax"]) == ("20.06", "3.82")  # 19 % of 20.06 is 3.81


async def test_duplicate_invoice_number_per_vendor_is_refused(client: Client) -> None:
    v = await vendor(client)
    other = await vendor(client, name="Andere GmbH")
    first = await mixed_invoice(client, v["id"], number="RE-1")
    error = await fail(client, "create_invoice", direction="payable", party_id=v["id"], invoice_number=" re-1 ",
                       invoice_date="2026-03-05", total_gross="172.50", lines=MIXED)
    assert (error["code"], error["details"]["existing_invoice_id"]) == ("DUPLICATE_INVOICE", first["id"])
    # The same number, date and amounts from another vendor is a different invoice.
    assert (await mixed_invoice(client, other["id"], number="RE-1"))["status"] == "open"


async def test_idempotent_invoice_and_settlement(client: Client) -> None:
    v = await vendor(client)
    first = await mixed_invoice(client, v["id"], idempotency_key="inv-1")
    again = await mixed_invoice(client, v["id"], idempotency_key="inv-1")
    assert again["id"] == first["id"] and again["replayed"]
    settle = {"items": [{"invoice_id": first["id"], "amount": "10.00"}], "payment_date": "2026-03-03",
              "account": "1200", "idempotency_key": "pay-1"}
    paid = await call(client, "settle_open_items", **settle)
    replay = await call(client, "settle_open_items", **settle)
    assert replay["replayed"] and replay["payment_intent_id"] == paid["payment_intent_id"]
    assert (await call(client, "list_invoices", invoice_id=first["id"]))["invoices"][0]["remaining_amount"] == "162.50"


async def test_overpayment_and_mixed_parties_are_refused(client: Client) -> None:
    a, b = await vendor(client), await vendor(client, name="B GmbH")
    ia, ib = await mixed_invoice(client, a["id"]), await mixed_invoice(client, b["id"], invoice_date="2026-03-04")
    error = await fail(client, "settle_open_items", items=[{"invoice_id": ia["id"], "amount": "200.00"}],
                       payment_date="2026-03-10", account="1200")
    assert (error["code"], error["details"]["remaining_amount"]) == ("OVER_SETTLEMENT", "172.50")
    error = await fail(client, "settle_open_items", items=[{"invoice_id": ia["id"]}, {"invoice_id": ib["id"]}],
                       payment_date="2026-03-10", account="1200")
    assert error["code"] == "VALIDATION_ERROR"
    error = await fail(client, "settle_open_items", items=[{"invoice_id": ia["id"]}], payment_date="2026-03-10")
    assert "account" in error["hint"]


async def test_linking_a_payment_posted_elsewhere(client: Client) -> None:
    v = await vendor(client)
    invoice = await mixed_invoice(client, v["id"])
    transfer = await call(client, "post_booking", booking_date="2026-03-12", description="Überweisung RE-2026-001",
                          lines=[{"debit_account": "1600", "credit_account": "1200", "amount": "100.00"}],
                          control_account_reason="transfer booked by hand before the invoice was matched")
    error = await fail(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-03-12",
                       intent_id=transfer["intent_id"])
    assert error["code"] == "OVER_SETTLEMENT"
    linked = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"], "amount": "100.00"}],
                        payment_date="2026-03-12", intent_id=transfer["intent_id"])
    assert not linked["posted"] and linked["items"][0]["remaining_amount"] == "72.50"


async def test_aging_buckets(client: Client) -> None:
    c = await customer(client, default_account="8400")
    for number, due in [("A", "2026-06-10"), ("B", "2026-05-20"), ("C", "2026-04-20"), ("D", "2026-03-10"),
                        ("E", "2026-01-15")]:
        await call(client, "create_invoice", direction="receivable", party_id=c["id"], invoice_number=number,
                   invoice_date="2026-01-01", due_date=due, total_gross="119.00", lines=[inv_line("100.00", "USt19")])
    report = (await call(client, "run_report", report_type="aging", kind="receivable", as_of="2026-06-01"))["aging"]
    row = report["rows"][0]
    assert (row["current"], row["days_1_30"], row["days_31_60"], row["days_61_90"], row["days_over_90"]) == (
        "119.00", "119.00", "119.00", "119.00", "119.00")
    assert report["totals"]["total"] == "595.00"


async def test_open_items_as_of_a_past_date(client: Client) -> None:
    v = await vendor(client)
    invoice = await mixed_invoice(client, v["id"])
    await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-03-10",
               account="1200")
    before = await call(client, "list_open_items", as_of="2026-03-05")
    assert [i["remaining_amount"] for i in before["open_items"]] == ["172.50"]
    assert (await call(client, "list_open_items", as_of="2026-03-01"))["open_items"] == []  # not yet invoiced
    assert (await call(client, "list_open_items", as_of="2026-03-10"))["open_items"] == []


async def test_parties_validate_and_refuse_twins(client: Client) -> None:
    error = await fail(client, "save_party", kind="vendor", name="X", iban="DE89370400440532013001")
    assert error["code"] == "INVALID_IBAN"
    error = await fail(client, "save_party", kind="vendor", name="X", vat_id="DE136695977")
    assert error["code"] == "INVALID_VAT_ID"
    first = await vendor(client, vat_id="DE136695976")
    error = await fail(client, "save_party", kind="vendor", name="Doppelt", vat_id="de136695976")
    assert (error["code"], error["details"]["party_id"]) == ("PARTY_EXISTS", first["id"])
    updated = await call(client, "save_party", kind="vendor", party_id=first["id"], notes="Rahmenvertrag",
                         is_active=False)
    assert (updated["name"], updated["notes"], updated["is_active"]) == (first["name"], "Rahmenvertrag", False)
    assert (await call(client, "find_parties", kind="vendor"))["parties"] == []
    found = (await call(client, "find_parties", search="müller", is_active=None))["parties"]
    assert [p["id"] for p in found] == [first["id"]]
    error = await fail(client, "create_invoice", direction="payable", party_id=first["id"], invoice_number="1",
                       invoice_date="2026-03-01", total_gross="1.00", lines=[inv_line("1.00", account="4930")])
    assert "deactivated" in error["message"]
    error = await fail(client, "save_party", kind="customer", party_id=first["id"], name="Y")
    assert error["code"] == "PARTY_NOT_FOUND"


async def test_tax_codes_create_update_and_protect(client: Client) -> None:
    created = await call(client, "save_tax_code", code="VSt16", label="Vorsteuer 16 %", rate="16", kind="input",
                         vat_account="1576")
    assert (created["rate"], created["is_system"]) == ("16", False)
    error = await fail(client, "save_tax_code", code="VSt19", rate="16")
    assert error["code"] == "TAX_CODE_PROTECTED"
    error = await fail(client, "save_tax_code", code="VSt19", is_active=False)
    assert error["code"] == "TAX_CODE_PROTECTED"
    error = await fail(client, "save_tax_code", code="USt5", label="x", rate="5", kind="output", vat_account="1576")
    assert error["code"] == "VALIDATION_ERROR" and "liability" in error["message"]
    await call(client, "post_booking", booking_date="2026-03-02", description="t",
               lines=[{"debit_account": "4930", "credit_account": "1200", "amount": "11.60", "tax_code": "VSt16"}])
    error = await fail(client, "save_tax_code", code="VSt16", rate="17")
    assert error["code"] == "TAX_CODE_PROTECTED"
    off = await call(client, "save_tax_code", code="VSt16", is_active=False, label="Vorsteuer 16 % (2020)")
    assert not off["is_active"]
    codes = [t["code"] for t in (await call(client, "list_tax_codes"))["tax_codes"]]
    assert "VSt16" not in codes
    codes = [t["code"] for t in (await call(client, "list_tax_codes", include_inactive=True))["tax_codes"]]
    assert "VSt16" in codes


async def test_resources_mirror_the_tools(client: Client) -> None:
    v = await vendor(client)
    invoice = await mixed_invoice(client, v["id"])

    async def read(uri: str) -> Any:
        result = await client.read_resource(uri)
        return json.loads(result.contents[0].text)  # type: ignore[union-attr]

    assert (await read("ledger://open-items/payables"))["open_items"][0]["invoice_id"] == invoice["id"]
    assert (await read("ledger://open-items/receivables"))["open_items"] == []
    assert (await read("ledger://open-items"))["total_payable"] == "172.50"
    assert (await read(f"ledger://invoices/{invoice['id']}"))["lines"][0]["account"] == "4930"
    assert (await read("ledger://vendors"))["parties"][0]["open_amount"] == "172.50"
    assert (await read(f"ledger://parties/{v['id']}"))["name"] == v["name"]
    assert (await read("ledger://customers"))["parties"] == []
