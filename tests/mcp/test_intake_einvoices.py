"""Real-world e-invoices through the MCP client: corpus files (tests/data/einvoice-corpus), emails with
attachments, and the stored originals."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import call, fail

pytestmark = pytest.mark.anyio

CORPUS = Path(__file__).resolve().parents[1] / "data" / "einvoice-corpus"
ZF = CORPUS / "ZUGFeRD-corpus"
KOSIT = CORPUS / "xrechnung-testsuite" / "business-cases"


async def ingest(client: Client, path: Path) -> dict[str, Any]:
    result = await call(client, "ingest_document", content_base64=base64.b64encode(path.read_bytes()).decode(),
                        filename=path.name)
    return dict(result["review_case"])


async def with_vendor(client: Client, path: Path) -> dict[str, Any]:
    case = await ingest(client, path)
    return await call(client, "update_review_case", review_case_id=case["id"], create_vendor=True)


def blocking(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in case["findings"] if f["severity"] == "blocking"}


async def remaining(client: Client, invoice_id: str) -> str:
    return str((await call(client, "list_invoices", invoice_id=invoice_id))["invoices"][0]["remaining_amount"])


async def test_emoji_in_the_text_layer_never_sinks_the_xml(client: Client) -> None:
    # pypdf returns lone surrogates for this PDF's emoji; the embedded Factur-X XML is what counts.
    case = await ingest(client, ZF / "ZUGFeRDv2/correct/FNFE-factur-x-examples/Avoir_FR_type381_BASIC.pdf")
    assert case["document"]["extraction_method"] == "xml"
    assert case["normalized_invoice"]["type"] == "credit_note"
    assert "\ud83d" not in case["untrusted_document_text"]


async def test_zugferd_1_correction_books_as_the_credit_note_it_is(client: Client) -> None:
    case = await with_vendor(client, ZF / "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_BASIC_Einfach.pdf")
    assert case["document"]["extraction_method"] == "xml"
    assert (case["normalized_invoice"]["invoice_number"], case["normalized_invoice"]["total_gross"]) == (
        "471102", "235.62")
    correction = await with_vendor(client, ZF / "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_COMFORT_Rechnungskorrektur.pdf")
    inv = correction["normalized_invoice"]
    assert (inv["type"], inv["total_gross"], inv["total_net"]) == ("credit_note", "8.79", "7.67")
    assert all(float(li["net_amount"]) > 0 for li in inv["lines"])
    assert [i["description"] for i in inv["items"]]  # the item lines are visible to the reviewer


async def test_partial_invoice_opens_the_payable_at_the_amount_due(client: Client) -> None:
    case = await with_vendor(client, ZF / "XML-Rechnung/CII/EN16931_1_Teilrechnung.cii.xml")
    inv = case["normalized_invoice"]
    assert inv["prepaid_amount"] and inv["amount_due"] != inv["total_gross"]
    assert "PREPAID" in {f["code"] for f in case["findings"]} and not blocking(case)
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    assert len(approved["clearing_intent_ids"]) == 1
    assert await remaining(client, approved["invoice_id"]) == inv["amount_due"]


async def test_minimum_profile_with_french_vat_and_no_breakdown(client: Client) -> None:
    case = await with_vendor(client, ZF / "ZUGFeRDv2/correct/FNFE-factur-x-examples/Facture_FR_MINIMUM.pdf")
    inv = case["normalized_invoice"]
    assert [(li["tax_code"], li["net_amount"]) for li in inv["lines"]] == [(None, "671.15")]
    assert "FOREIGN_VAT" in {f["code"] for f in case["findings"]} and not blocking(case)
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    assert await remaining(client, approved["invoice_id"]) == "470.15"  # the amount due, not the gross


async def test_zero_rated_group_and_rounding_of_the_amount_due(client: Client) -> None:
    case = await with_vendor(client, KOSIT / "standard/01.17a-INVOICE_ubl.xml")
    assert (case["normalized_invoice"]["rounding_amount"], case["normalized_invoice"]["amount_due"]) == (
        "0.01", "336.91")
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    assert await remaining(client, approved["invoice_id"]) == "336.91"


async def test_negative_zero_rated_group_nets_and_the_payable_is_the_amount_due(client: Client) -> None:
    case = await with_vendor(client, KOSIT / "standard/03.06a-INVOICE_ubl.xml")
    assert not blocking(case) and "ALLOWANCE_NETTED" in {f["code"] for f in case["findings"]}
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    assert await remaining(client, approved["invoice_id"]) == "1804.00"
    view = await call(client, "get_intent", intent_id=approved["clearing_intent_ids"][0])
    assert sorted((e["account_debit"], e["account_credit"], e["amount"]) for e in view["entries"]) == [
        ("1600", case["normalized_invoice"]["lines"][-1]["account"], "100.00")]


async def test_due_date_before_invoice_date_posts_after_an_override(client: Client) -> None:
    case = await with_vendor(
        client, ZF / "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_COMFORT_Haftpflichtversicherung_Versicherungssteuer.pdf")
    assert set(blocking(case)) == {"DUE_BEFORE_INVOICE"}
    error = await fail(client, "approve_review_case", review_case_id=case["id"])
    assert error["code"] == "COMPLIANCE_BLOCKED"
    approved = await call(client, "approve_review_case", review_case_id=case["id"],
                          override_reason="the vendor's due date is a typo; due at once")
    invoice = (await call(client, "list_invoices", invoice_id=approved["invoice_id"]))["invoices"][0]
    assert invoice["due_date"] == invoice["invoice_date"] == case["normalized_invoice"]["invoice_date"]


async def test_zero_total_invoice_is_approved_without_a_posting(client: Client) -> None:
    case = await with_vendor(client, KOSIT / "standard/02.04a-INVOICE_uncefact.xml")
    assert set(blocking(case)) == {"ZERO_TOTAL"}
    approved = await call(client, "approve_review_case", review_case_id=case["id"], override_reason="nothing owed")
    assert (approved["queue_state"], approved["intent_id"], approved["invoice_id"]) == ("approved", None, None)


async def test_a_gbp_invoice_books_at_the_rate_its_eur_vat_implies(client: Client) -> None:
    case = await with_vendor(client, ZF / "ZUGFeRDv2/correct/intarsys/EXTENDED/zugferd_2p0_EXTENDED_Fremdwaehrung.pdf")
    inv = case["normalized_invoice"]
    assert (inv["currency"], inv["tax_currency"], inv["total_tax"], inv["tax_total_in_tax_currency"]) == (
        "GBP", "EUR", "163.16", "183.14")
    assert "FOREIGN_CURRENCY" not in blocking(case)
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    booked = (await call(client, "list_invoices", invoice_id=approved["invoice_id"]))["invoices"][0]
    # 163.16 GBP of VAT is 183.14 EUR on the document: 0.890903 GBP per EUR.
    assert (booked["currency"], booked["exchange_rate"], booked["total_gross"]) == ("GBP", "0.890903", "1021.91")
    items = (await call(client, "list_open_items", kind="payable"))["open_items"]
    assert [(i["currency"], i["remaining_amount"]) for i in items] == [("GBP", inv["amount_due"])]
    assert (await call(client, "verify_chain"))["ok"]


async def test_vendor_is_created_without_an_identifier_that_fails_its_check_digits(client: Client) -> None:
    xml = (ZF / "XML-Rechnung/CII/XRECHNUNG_Einfach.cii.xml").read_text(encoding="utf-8")
    vat_id = xml.split('schemeID="VA">', 1)[1].split("<", 1)[0]
    broken = xml.replace(f'schemeID="VA">{vat_id}<', 'schemeID="VA">DE123456780<', 1).replace(
        "IBANID>DE02120300000000202051", "IBANID>DE02120300000000202052")
    case = (await call(client, "ingest_document", content_base64=base64.b64encode(broken.encode()).decode(),
                       filename="broken.xml"))["review_case"]
    updated = await call(client, "update_review_case", review_case_id=case["id"], create_vendor=True)
    assert updated["vendor_id"] and updated["normalized_invoice"]["vendor_vat_id"] == "DE123456780"
    assert {"INVALID_VAT_ID", "INVALID_IBAN"} <= {f["code"] for f in updated["findings"]}
    vendor = (await call(client, "find_parties", party_id=updated["vendor_id"]))["parties"][0]
    assert (vendor["vat_id"], vendor["iban"]) == (None, None)


def email_with(*files: Path, subject: str = "Rechnung 471102") -> bytes:
    message = EmailMessage()
    message["From"] = "Buchhaltung Lieferant <rechnung@lieferant.example>"
    message["To"] = "inbox@example.com"
    message["Subject"] = subject
    message.set_content("Anbei unsere Rechnung.")
    for path in files:
        kind = ("application", "pdf") if path.suffix == ".pdf" else ("application", "xml")
        message.add_attachment(path.read_bytes(), maintype=kind[0], subtype=kind[1], filename=path.name)
    return message.as_bytes()


async def test_email_is_split_into_its_attachments_and_every_original_is_retrievable(client: Client) -> None:
    pdf = ZF / "ZUGFeRDv2/correct/intarsys/EN16931/zugferd_2p0_EN16931_Einfach.pdf"
    xml = ZF / "XML-Rechnung/UBL/EN16931_Rechnungskorrektur.ubl.xml"
    raw = email_with(pdf, xml)
    result = await call(client, "ingest_document", content_base64=base64.b64encode(raw).decode(),
                        filename="mail.eml")
    email = result["email"]
    assert result["review_case"] is None
    assert (email["source_email"], email["source_subject"]) == ("rechnung@lieferant.example", "Rechnung 471102")
    assert [a["filename"] for a in email["attachments"]] == [pdf.name, xml.name]
    assert all(a["review_case_id"] and a["error"] is None for a in email["attachments"])
    for attachment, path in zip(email["attachments"], (pdf, xml), strict=True):
        case = (await call(client, "list_review_cases", review_case_id=attachment["review_case_id"]))
        case = case["review_cases"][0]
        assert (case["source_email"], case["source_subject"]) == ("rechnung@lieferant.example", "Rechnung 471102")
        read = await client.read_resource(f"ledger://documents/{case['document']['id']}")
        assert base64.b64decode(read.contents[0].blob) == path.read_bytes()  # type: ignore[union-attr]
        view = await call(client, "get_document", document_id=case["document"]["id"], include_content=True)
        assert view["source_document_id"] == email["document_id"] and view["extraction"]["method"] == "xml"
        assert base64.b64decode(view["content_base64"]) == path.read_bytes()
    original = await call(client, "get_document", document_id=email["document_id"], include_content=True)
    assert (original["status"], base64.b64decode(original["content_base64"])) == ("split", raw)
    log = (await call(client, "list_review_cases", include_ingestion_log=True))["ingestion_log"]
    assert [e["outcome"] for e in log] == ["extracted", "extracted", "split"]

    again = await call(client, "ingest_document", content_base64=base64.b64encode(raw).decode(), filename="mail.eml")
    assert all(a["duplicate"] for a in again["email"]["attachments"])


async def test_email_without_attachment_is_refused_and_logged(client: Client) -> None:
    raw = email_with(subject="nur Text")
    error = await fail(client, "ingest_document", content_base64=base64.b64encode(raw).decode(), filename="x.eml")
    assert error["code"] == "DOCUMENT_EMPTY"
    log = (await call(client, "list_review_cases", include_ingestion_log=True))["ingestion_log"]
    assert [(e["outcome"], e["code"]) for e in log] == [("failed", "DOCUMENT_EMPTY")]
    missing = await fail(client, "get_document", document_id="0" * 64)
    assert missing["code"] == "DOCUMENT_NOT_FOUND"


async def test_a_wrong_xml_encoding_name_still_ingests_from_the_xml_with_a_warning(client: Client) -> None:
    case = await ingest(client, ZF / "ZUGFeRDv2/fail/Mustangproject/factur-x-invalid-xml-encoding-attribute.pdf")
    assert case["document"]["extraction_method"] == "xml"
    assert case["normalized_invoice"]["total_gross"] == "571.04"
    assert any("UTF-8-W/O-BOM" in w for w in case["document"]["warnings"])


async def test_negative_vat_group_at_its_own_rate_books_as_a_netted_credit_note(client: Client) -> None:
    # XRECHNUNG_Einfach with its 7 % group turned into an allowance of -25.00 net, -1.75 VAT.
    xml = (ZF / "XML-Rechnung/CII/XRECHNUNG_Einfach.cii.xml").read_text(encoding="utf-8")
    for old, new in ((">19.25<", ">-1.75<"), ("<ram:BasisAmount>275.00<", "<ram:BasisAmount>-25.00<"),
                     (">473.00<", ">173.00<"), (">56.87<", ">35.87<"), (">529.87<", ">208.87<")):
        assert old in xml
        xml = xml.replace(old, new)
    uploaded = await call(client, "ingest_document", content_base64=base64.b64encode(xml.encode()).decode(),
                          filename="allowance.xml")
    case = await call(client, "update_review_case", review_case_id=uploaded["review_case"]["id"],
                      create_vendor=True)
    assert not blocking(case)
    finding = next(f for f in case["findings"] if f["code"] == "ALLOWANCE_CREDIT_NOTE")
    assert "-25.00" in finding["message"] and "credit note" in finding["message"]
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    assert await remaining(client, approved["invoice_id"]) == "208.87"
    invoices = (await call(client, "list_invoices", party_id=case["vendor_id"]))["invoices"]
    note = next(i for i in invoices if i["type"] == "credit_note")
    assert (note["total_net"], note["total_tax"], note["total_gross"], note["remaining_amount"]) == (
        "25.00", "1.75", "26.75", "0.00")
    invoice = next(i for i in invoices if i["id"] == approved["invoice_id"])
    assert (invoice["total_gross"], invoice["total_tax"]) == ("235.62", "37.62")
