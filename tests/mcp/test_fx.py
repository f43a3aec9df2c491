"""Foreign currency through the MCP client: rates, bookings, invoices, settlements with exchange
differences, year-end revaluation and its reversal."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from ledger_mcp.ledger.fx import rate_from_vat
from ledger_mcp.settings import Settings
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio

ECB_HISTORY = """Date,USD,JPY,GBP,CHF,RUB,
2026-11-27,1.0512,162.53,0.8321,0.9402,N/A,
2026-11-26,1.0498,161.90,0.8330,0.9399,N/A,
"""
# The daily file as the ECB ships it: spaces after the commas, a trailing comma and space.
ECB_DAILY = "Date, USD, JPY, GBP, CHF, \n30 November 2026, 1.0600, 163.10, 0.8400, 0.9500, \n"


def row(tb: dict[str, Any], account: str) -> str:
    return next((r["closing_balance"] for r in tb["rows"] if r["account"] == account), "0.00")


async def trial_balance(client: Client, **dates: str) -> dict[str, Any]:
    tb = (await call(client, "run_report", report_type="trial_balance", **dates))["trial_balance"]
    assert tb["balanced"] and tb["currency"] == "EUR", tb
    return dict(tb)


async def party(client: Client, kind: str, name: str) -> str:
    return str((await call(client, "save_party", kind=kind, name=name))["id"])


async def entries(client: Client, intent_id: str) -> list[tuple[str, str, str, str, str, str | None]]:
    view = await call(client, "get_intent", intent_id=intent_id)
    return [(e["account_debit"], e["account_credit"], e["amount"], e["currency"], e["base_amount"],
             e["exchange_rate"]) for e in view["entries"]]


async def test_usd_vendor_invoice_paid_at_a_higher_rate_books_an_exchange_loss(client: Client) -> None:
    vendor = await party(client, "vendor", "Cloud Inc.")
    invoice = await call(client, "create_invoice", direction="payable", party_id=vendor, invoice_number="INV-9",
                         invoice_date="2026-03-02", due_date="2026-04-01", total_gross="119.00", currency="USD",
                         exchange_rate="1.0800", lines=[{"net_amount": "100.00", "tax_code": "VSt19",
                                                         "account": "4930"}])
    assert (invoice["currency"], invoice["total_gross"], invoice["exchange_rate"]) == ("USD", "119.00", "1.08")
    # Each line converted once, half up: 100 / 1.08 = 92.59, 19 / 1.08 = 17.59 (VAT at the rate of the day).
    assert sorted(await entries(client, invoice["intent_id"])) == [
        ("1576", "1600", "19.00", "USD", "17.59", "1.08"), ("4930", "1600", "100.00", "USD", "92.59", "1.08")]
    assert (invoice["total_gross_base"], invoice["remaining_amount_base"]) == ("110.18", "110.18")
    items = await call(client, "list_open_items", kind="payable")
    item = items["open_items"][0]
    assert (item["remaining_amount"], item["currency"], item["remaining_amount_base"]) == ("119.00", "USD", "110.18")
    assert items["total_payable"] == "110.18"

    paid = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-04-01",
                      account="1200", exchange_rate="1.05")
    # 119 USD at 1.05 = 113.33 EUR left the bank for a debt booked at 110.18: 3.15 loss.
    assert (paid["exchange_rate"], paid["exchange_difference"], paid["items"][0]["status"]) == ("1.05", "-3.15", "paid")
    assert sorted(await entries(client, paid["payment_intent_id"])) == [
        ("1600", "1200", "119.00", "USD", "113.33", "1.05"), ("2150", "1600", "3.15", "EUR", "3.15", None)]
    tb = await trial_balance(client)
    assert (row(tb, "1600"), row(tb, "1200"), row(tb, "2150"), row(tb, "1576")) == ("0.00", "-113.33", "3.15",
                                                                                    "17.59")
    assert (await call(client, "list_open_items"))["open_items"] == []
    assert (await call(client, "verify_chain"))["ok"]


async def test_gbp_customer_invoice_settled_in_two_parts_from_the_rate_table(client: Client) -> None:
    customer = await party(client, "customer", "London Ltd")
    error = await fail(client, "create_invoice", direction="receivable", party_id=customer, invoice_number="A-1",
                       invoice_date="2026-05-04", total_gross="1190.00", currency="GBP",
                       lines=[{"net_amount": "1000.00", "tax_code": "USt19", "account": "8400"}])
    assert error["code"] == "EXCHANGE_RATE_MISSING" and error["details"]["currency"] == "GBP"
    await call(client, "save_exchange_rate", currency="GBP", rate_date="2026-05-04", rate="0.85")
    invoice = await call(client, "create_invoice", direction="receivable", party_id=customer, invoice_number="A-1",
                         invoice_date="2026-05-04", total_gross="1190.00", currency="GBP",
                         lines=[{"net_amount": "1000.00", "tax_code": "USt19", "account": "8400"}])
    assert (invoice["exchange_rate"], invoice["total_gross_base"]) == ("0.85", "1400.00")  # 1176.47 + 223.53

    first = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"], "amount": "595.00"}],
                       payment_date="2026-05-20", account="1200", exchange_rate="0.84")
    # Half the item (700.00 EUR) came in as 595 / 0.84 = 708.33 EUR: 8.33 gain.
    assert first["exchange_difference"] == "8.33"
    assert [(i["status"], i["remaining_amount"], i["base_amount"]) for i in first["items"]] == [
        ("partially_paid", "595.00", "700.00")]
    detail = (await call(client, "list_invoices", invoice_id=invoice["id"]))["invoices"][0]
    assert (detail["remaining_amount"], detail["remaining_amount_base"]) == ("595.00", "700.00")

    await call(client, "save_exchange_rate", currency="GBP", rate_date="2026-06-01", rate="0.86")
    rest = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}], payment_date="2026-06-03",
                      account="1200")  # no rate on the 3rd: the last one before it
    assert (rest["exchange_rate"], rest["exchange_difference"]) == ("0.86", "-8.14")  # 691.86 for 700.00
    assert rest["items"][0]["status"] == "paid"
    tb = await trial_balance(client)
    assert (row(tb, "1400"), row(tb, "1200"), row(tb, "2660"), row(tb, "2150")) == ("0.00", "1400.19", "-8.33",
                                                                                    "8.14")
    assert (await call(client, "verify_chain"))["ok"]


async def test_chf_invoice_at_the_rate_its_bt111_vat_total_implies(client: Client) -> None:
    vendor = await party(client, "vendor", "Zürcher Werkstatt AG")
    # The e-invoice states VAT 38.00 CHF (BT-110) and 40.43 EUR (BT-111).
    rate = rate_from_vat("38.00", "40.43", "CHF")
    assert rate == "0.939896"
    invoice = await call(client, "create_invoice", direction="payable", party_id=vendor, invoice_number="CH-77",
                         invoice_date="2026-07-15", total_gross="238.00", currency="CHF", exchange_rate=rate,
                         lines=[{"net_amount": "200.00", "tax_code": "VSt19", "account": "4930"}])
    lines = await entries(client, invoice["intent_id"])
    assert ("1576", "1600", "38.00", "CHF", "40.43", "0.939896") in lines  # input VAT in EUR as the invoice states
    assert invoice["total_gross_base"] == "253.22"  # 212.79 + 40.43
    await trial_balance(client)


async def test_foreign_booking_ecb_import_and_weekend_lookup(client: Client) -> None:
    imported = await call(client, "import_exchange_rates", csv_text=ECB_HISTORY)
    assert (imported["days"], imported["inserted"], imported["skipped_currencies"]) == (2, 8, ["RUB"])
    again = await call(client, "import_exchange_rates", csv_text=ECB_DAILY)
    assert (again["first_date"], again["inserted"]) == ("2026-11-30", 4)
    assert (await call(client, "import_exchange_rates", csv_text=ECB_HISTORY))["unchanged"] == 8
    rates = await call(client, "list_exchange_rates", currency="JPY")
    assert [(r["rate_date"], r["rate"], r["source"]) for r in rates["rates"]] == [
        ("2026-11-30", "163.1", "ecb"), ("2026-11-27", "162.53", "ecb"), ("2026-11-26", "161.9", "ecb")]

    # Sunday: the Friday reference rate. JPY has no minor units: 10000 / 162.53 = 61.53 EUR.
    booked = await book(client, line("4930", "1200", "10000"), date="2026-11-29", currency="JPY")
    assert [(li["amount"], li["base_amount"], li["exchange_rate"]) for li in booked["lines"]] == [
        ("10000", "61.53", "162.53")]
    # A split booking with VAT in USD: balanced per currency and in EUR, each line converted once.
    split = await book(client, line("4930", None, "59.50", "VSt19"), line("4940", None, "40.50"),
                       line(None, "1200", "100.00"), date="2026-11-27", currency="USD", exchange_rate="1.1")
    assert (split["total_amount"], split["currency"]) == ("100.00", "USD")
    assert [(li["debit_account"], li["amount"], li["base_amount"]) for li in split["lines"]] == [
        ("4930", "50.00", "45.45"), ("1576", "9.50", "8.64"), ("4940", "40.50", "36.82")]
    assert split["total_base_amount"] == "90.91"
    page = await call(client, "query_journal", account="1200")
    assert [(e["amount"], e["currency"], e["base_amount"]) for e in page["entries"]] == [
        ("10000", "JPY", "61.53"), ("50.00", "USD", "45.45"), ("9.50", "USD", "8.64"), ("40.50", "USD", "36.82")]
    tb = await trial_balance(client)
    assert row(tb, "1200") == "-152.44"
    # Too old: no rate within the days before, and never a guess.
    error = await fail(client, "post_booking", booking_date="2026-11-10", description="x", currency="USD",
                       lines=[line("4930", "1200", "1.00")])
    assert error["code"] == "EXCHANGE_RATE_MISSING"
    error = await fail(client, "save_exchange_rate", currency="USD", rate_date="2026-11-10", rate="-1")
    assert error["code"] == "INVALID_EXCHANGE_RATE"
    assert (await call(client, "verify_chain"))["ok"]


async def test_year_end_revaluation_and_its_reversal(client: Client) -> None:
    vendor = await party(client, "vendor", "Cloud Inc.")
    customer = await party(client, "customer", "Boston Corp")
    uk = await party(client, "customer", "London Ltd")
    payable = await call(client, "create_invoice", direction="payable", party_id=vendor, invoice_number="P-1",
                         invoice_date="2026-11-10", due_date="2026-12-10", total_gross="500.00", currency="USD",
                         exchange_rate="1.1", lines=[{"net_amount": "500.00", "account": "4930"}])
    receivable = await call(client, "create_invoice", direction="receivable", party_id=customer,
                            invoice_number="R-1", invoice_date="2026-11-10", due_date="2027-01-10",
                            total_gross="220.00", currency="USD", exchange_rate="1.1",
                            lines=[{"net_amount": "220.00", "account": "8400"}])
    long_term = await call(client, "create_invoice", direction="receivable", party_id=uk, invoice_number="L-1",
                           invoice_date="2026-11-10", due_date="2028-06-30", total_gross="850.00", currency="GBP",
                           exchange_rate="0.85", lines=[{"net_amount": "850.00", "account": "8400"}])
    assert [i["total_gross_base"] for i in (payable, receivable, long_term)] == ["454.55", "200.00", "1000.00"]

    error = await fail(client, "revalue_open_items", closing_date="2026-12-31")
    assert error["code"] == "EXCHANGE_RATE_MISSING" and "save_exchange_rate" in error["hint"]
    await call(client, "save_exchange_rate", currency="USD", rate_date="2026-12-31", rate="1.0")
    await call(client, "save_exchange_rate", currency="GBP", rate_date="2026-12-31", rate="0.8")
    result = await call(client, "revalue_open_items", closing_date="2026-12-31")
    by_number = {i["invoice_number"]: i for i in result["items"]}
    assert (by_number["P-1"]["new_base"], by_number["P-1"]["difference"]) == ("500.00", "-45.45")
    assert (by_number["R-1"]["new_base"], by_number["R-1"]["difference"]) == ("220.00", "20.00")
    # Due after more than a year: the gain (1062.50 at the closing rate) is not realised (imparity).
    assert (by_number["L-1"]["long_term"], by_number["L-1"]["closing_base"], by_number["L-1"]["difference"]) == (
        True, "1062.50", "0.00")
    assert (result["total_gain"], result["total_loss"]) == ("20.00", "45.45")
    tb = await trial_balance(client, end_date="2026-12-31")
    assert (row(tb, "1600"), row(tb, "1400"), row(tb, "2150"), row(tb, "2660")) == ("-500.00", "1220.00", "45.45",
                                                                                    "-20.00")
    items = await call(client, "list_open_items", as_of="2026-12-31")
    assert (items["total_payable"], items["total_receivable"]) == ("500.00", "1220.00")
    again = await call(client, "revalue_open_items", closing_date="2026-12-31")
    assert again["intent_id"] is None  # already at the closing rate: nothing to book twice

    await call(client, "reverse_intent", intent_id=result["intent_id"], reason="Auflösung zum Jahresanfang")
    tb = await trial_balance(client)
    assert (row(tb, "1600"), row(tb, "1400"), row(tb, "2150"), row(tb, "2660")) == ("-454.55", "1200.00", "0.00",
                                                                                    "0.00")
    paid = await call(client, "settle_open_items", items=[{"invoice_id": payable["id"]}], payment_date="2027-01-05",
                      account="1200", exchange_rate="1.0")
    assert paid["exchange_difference"] == "-45.45"
    assert (await call(client, "verify_chain"))["ok"]


async def test_a_payment_after_a_revaluation_clears_the_revalued_amount(client: Client) -> None:
    vendor = await party(client, "vendor", "Cloud Inc.")
    payable = await call(client, "create_invoice", direction="payable", party_id=vendor, invoice_number="P-2",
                         invoice_date="2026-12-01", total_gross="110.00", currency="USD", exchange_rate="1.1",
                         lines=[{"net_amount": "110.00", "account": "4930"}])
    await call(client, "save_exchange_rate", currency="USD", rate_date="2026-12-31", rate="1.0")
    revalued = await call(client, "revalue_open_items", closing_date="2026-12-31")
    paid = await call(client, "settle_open_items", items=[{"invoice_id": payable["id"]}], payment_date="2027-01-15",
                      account="1200", exchange_rate="1.0")
    assert (paid["exchange_difference"], paid["items"][0]["base_amount"]) == ("0.00", "110.00")
    error = await fail(client, "reverse_intent", intent_id=revalued["intent_id"], reason="x")
    assert error["code"] == "SETTLED_ITEM"
    assert row(await trial_balance(client), "1600") == "0.00"


async def test_the_ecb_file_is_read_from_the_inbox_folder(client: Client, settings: Settings) -> None:
    folder = settings.inbox[0]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eurofxref-hist.csv").write_text(ECB_HISTORY, encoding="utf-8")
    imported = await call(client, "import_exchange_rates", path=str(folder / "eurofxref-hist.csv"),
                          start_date="2026-11-27")
    assert (imported["days"], imported["inserted"], imported["currencies"]) == (1, 4, ["CHF", "GBP", "JPY", "USD"])
    error = await fail(client, "import_exchange_rates", csv_text="Datum;USD\n2026-11-27;1.05\n")
    assert error["code"] == "VALIDATION_ERROR"
    assert (await call(client, "list_exchange_rates"))["rates"][0]["rate_date"] == "2026-11-27"


async def test_a_usd_invoice_and_credit_note_settled_together(client: Client) -> None:
    vendor = await party(client, "vendor", "Cloud Inc.")
    common = {"direction": "payable", "party_id": vendor, "invoice_date": "2026-03-02", "currency": "USD",
              "exchange_rate": "1.1"}
    invoice = await call(client, "create_invoice", invoice_number="I-1", total_gross="330.00",
                         lines=[{"net_amount": "330.00", "account": "4930"}], **common)
    credit = await call(client, "create_invoice", invoice_number="C-1", type="credit_note", total_gross="110.00",
                        lines=[{"net_amount": "110.00", "account": "4930"}], **common)
    assert (invoice["total_gross_base"], credit["total_gross_base"]) == ("300.00", "100.00")
    items = await call(client, "list_open_items", kind="payable")
    assert items["total_payable"] == "200.00"
    paid = await call(client, "settle_open_items", items=[{"invoice_id": invoice["id"]}, {"invoice_id": credit["id"]}],
                      payment_date="2026-03-20", account="1200", exchange_rate="1.0")
    # 330 USD out (330.00 EUR, booked at 300.00: loss 30.00), 110 USD back (110.00 EUR, booked 100.00: gain 10.00).
    assert (paid["net_amount"], paid["exchange_difference"]) == ("220.00", "-20.00")
    tb = await trial_balance(client)
    assert (row(tb, "1600"), row(tb, "1200"), row(tb, "2150"), row(tb, "2660")) == ("0.00", "-220.00", "30.00",
                                                                                    "-10.00")
    # The same figures in another currency are not a duplicate.
    await book(client, line("4930", "1200", "5.00"), external_reference="X", date="2026-03-21")
    await book(client, line("4930", "1200", "5.00"), external_reference="X", date="2026-03-21", currency="USD",
               exchange_rate="1.1")
