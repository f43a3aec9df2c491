"""A foreign-currency e-invoice from intake to the books: at the rate its VAT total in EUR implies
(BT-111), else at the rate table's; never at face value."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import call, fail

pytestmark = pytest.mark.anyio

# A public XRechnung (CII) sample: 473.00 net + 56.87 VAT = 529.87, issued 2024-11-15.
SAMPLE = (Path(__file__).resolve().parents[2] / "tests" / "data" / "einvoice-corpus" / "ZUGFeRD-corpus"
          / "XML-Rechnung" / "CII" / "XRECHNUNG_Einfach.cii.xml")


def in_chf(vat_in_eur: str | None) -> str:
    """The sample as a CHF invoice; with `vat_in_eur` it also states its VAT total in EUR (BT-6, BT-111)."""
    xml = SAMPLE.read_text(encoding="utf-8").replace('currencyID="EUR"', 'currencyID="CHF"')
    code = "<ram:InvoiceCurrencyCode>CHF</ram:InvoiceCurrencyCode>"
    xml = xml.replace("<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>", code)
    if vat_in_eur:
        xml = xml.replace(code, f"<ram:TaxCurrencyCode>EUR</ram:TaxCurrencyCode>{code}")
        stated = '<ram:TaxTotalAmount currencyID="CHF">56.87</ram:TaxTotalAmount>'
        assert stated in xml
        xml = xml.replace(stated, f'{stated}<ram:TaxTotalAmount currencyID="EUR">{vat_in_eur}</ram:TaxTotalAmount>')
    return base64.b64encode(xml.encode()).decode()


async def approve(client: Client, content: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    case = (await call(client, "ingest_document", content_base64=content, filename=name))["review_case"]
    case = await call(client, "update_review_case", review_case_id=case["id"], create_vendor=True)
    return case, await call(client, "approve_review_case", review_case_id=case["id"])


async def test_a_chf_einvoice_books_at_the_rate_its_eur_vat_implies(client: Client) -> None:
    case, approved = await approve(client, in_chf("60.42"), "chf-bt111.xml")
    invoice = case["normalized_invoice"]
    assert (invoice["currency"], invoice["tax_currency"], invoice["tax_total_in_tax_currency"]) == ("CHF", "EUR",
                                                                                                     "60.42")
    assert any(f["code"] == "EXCHANGE_RATE" and "0.941245" in f["message"] for f in case["findings"])
    booked = (await call(client, "list_invoices", invoice_id=approved["invoice_id"]))["invoices"][0]
    assert (booked["currency"], booked["total_gross"], booked["exchange_rate"]) == ("CHF", "529.87", "0.941245")
    assert booked["total_gross_base"] == str((Decimal("529.87") / Decimal("0.941245")).quantize(Decimal("0.01")))
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    balances = {row["account"]: row["closing_balance"] for row in tb["rows"]}
    assert tb["balanced"] and balances["1600"] == f"-{booked['total_gross_base']}"
    # The input VAT in EUR (7 % and 19 %) is what the document states, up to a cent of rounding per rate.
    vat = Decimal(balances["1571"]) + Decimal(balances["1576"])
    assert abs(vat - Decimal("60.42")) <= Decimal("0.01"), vat
    assert (await call(client, "verify_chain"))["ok"]


async def test_without_a_rate_the_case_waits_for_one(client: Client) -> None:
    case = (await call(client, "ingest_document", content_base64=in_chf(None), filename="chf.xml"))["review_case"]
    case = await call(client, "update_review_case", review_case_id=case["id"], create_vendor=True)
    blocking = [f for f in case["findings"] if f["severity"] == "blocking"]
    assert [(f["code"], f["overridable"]) for f in blocking] == [("FOREIGN_CURRENCY", False)]
    error = await fail(client, "approve_review_case", review_case_id=case["id"], override_reason="book it anyway")
    assert error["code"] == "COMPLIANCE_BLOCKED" and "save_exchange_rate" in error["message"]
    await call(client, "save_exchange_rate", currency="CHF", rate_date="2024-11-15", rate="0.9350", source="ecb")
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    booked = (await call(client, "list_invoices", invoice_id=approved["invoice_id"]))["invoices"][0]
    assert (booked["currency"], booked["exchange_rate"], booked["total_gross_base"]) == ("CHF", "0.935", "566.71")
