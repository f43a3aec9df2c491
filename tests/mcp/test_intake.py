"""Invoice intake end to end through the MCP client: real sample documents, real extraction."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from ledger_mcp.settings import Settings
from tests.conftest import call, fail

pytestmark = pytest.mark.anyio

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "invoices"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))


def content(name: str) -> str:
    return base64.b64encode((SAMPLES / name).read_bytes()).decode()


async def ingest(client: Client, name: str) -> dict[str, Any]:
    return await call(client, "ingest_document", content_base64=content(name), filename=name)


async def test_zugferd_invoice_from_intake_to_open_payable(client: Client) -> None:
    first = await ingest(client, "facturx_en16931.pdf")
    case = first["review_case"]
    expected = EXPECTED["facturx_en16931.pdf"]["fields"]
    invoice = case["normalized_invoice"]
    for field in ("vendor_name", "vendor_vat_id", "invoice_number", "invoice_date", "due_date", "total_net",
                  "total_tax", "total_gross"):
        assert invoice[field] == expected[field], field
        assert case["field_sources"][field] == {"source": "xml", "confidence": 1.0}
    assert case["document"]["extraction_method"] == "xml" and case["queue_state"] == "needs_review"
    assert [(li["tax_code"], li["net_amount"], li["tax_amount"], li["account"]) for li in invoice["lines"]] == [
        ("VSt19", "698.80", "132.77", "4900")]
    assert "ZF-2026-0815" in case["untrusted_document_text"]

    error = await fail(client, "approve_review_case", review_case_id=case["id"])
    assert "vendor" in error["message"].lower()
    ready = await call(client, "update_review_case", review_case_id=case["id"], create_vendor=True,
                       invoice={"lines": [{"net_amount": "698.80", "tax_code": "VSt19", "tax_amount": "132.77",
                                           "account": "4805", "description": "Installation"}]})
    assert ready["vendor_name"] == "Elektro Weber GmbH" and ready["queue_state"] == "ready"
    assert ready["field_sources"]["lines"]["source"] == "manual"

    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    view = await call(client, "get_intent", intent_id=approved["intent_id"])
    assert view["summary"]["document_id"] == case["document"]["id"]
    assert view["summary"]["source"] == "MCP"
    assert sorted((e["account_debit"], e["account_credit"], e["amount"]) for e in view["entries"]) == [
        ("1576", "1600", "132.77"), ("4805", "1600", "698.80")]
    items = (await call(client, "list_open_items", kind="payable"))["open_items"]
    assert [(i["invoice_number"], i["remaining_amount"], i["due_date"]) for i in items] == [
        ("ZF-2026-0815", "831.57", "2026-04-04")]
    again = await call(client, "approve_review_case", review_case_id=case["id"])
    assert again["replayed"] and again["invoice_id"] == approved["invoice_id"]

    repeat = await ingest(client, "facturx_en16931.pdf")
    assert repeat["duplicate"] and repeat["review_case"]["id"] == case["id"]
    log = (await call(client, "list_review_cases", include_ingestion_log=True))["ingestion_log"]
    assert [entry["outcome"] for entry in log] == ["duplicate", "extracted"]


async def test_credit_note_xml_becomes_a_vendor_credit_note(client: Client) -> None:
    vendor = await call(client, "save_party", kind="vendor", name="Stadtwerke Musterstadt GmbH",
                        vat_id="DE314159262", default_account="4240")
    case = (await ingest(client, "xrechnung_credit_note.xml"))["review_case"]
    assert case["vendor_id"] == vendor["id"] and case["normalized_invoice"]["type"] == "credit_note"
    assert case["normalized_invoice"]["lines"][0]["account"] == "4240"
    approved = await call(client, "approve_review_case", review_case_id=case["id"])
    invoice = (await call(client, "list_invoices", invoice_id=approved["invoice_id"]))["invoices"][0]
    assert (invoice["type"], invoice["total_gross"]) == ("credit_note", "100.00")
    items = await call(client, "list_open_items", kind="payable")
    assert items["total_payable"] == "-100.00"


async def test_text_pdf_from_the_inbox_folder(client: Client, settings: Settings) -> None:
    inbox = settings.inbox[0]
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "text_de.pdf", inbox / "text_de.pdf")
    case = (await call(client, "ingest_document", path=str(inbox / "text_de.pdf")))["review_case"]
    expected = EXPECTED["text_de.pdf"]["fields"]
    assert case["document"]["extraction_method"] == "text"
    assert case["document"]["original_name"] == "text_de.pdf"
    for field in ("invoice_number", "invoice_date", "total_net", "total_tax", "total_gross", "vendor_vat_id"):
        assert case["normalized_invoice"][field] == expected[field], field
        assert case["field_sources"][field]["source"] == "text"

    outside = settings.data_dir.parent / "elsewhere.pdf"
    shutil.copy(SAMPLES / "text_de.pdf", outside)
    error = await fail(client, "ingest_document", path=str(outside))
    assert error["code"] == "DOCUMENT_REFUSED" and "inbox" in error["message"]


async def test_bad_files_are_refused_and_logged(client: Client) -> None:
    garbage = base64.b64encode(b"MZ\x90\x00 not an invoice" * 10).decode()
    error = await fail(client, "ingest_document", content_base64=garbage, filename="virus.exe")
    assert error["code"] == "UNSUPPORTED_DOCUMENT"
    truncated = base64.b64encode((SAMPLES / "text_de.pdf").read_bytes()[:300]).decode()
    error = await fail(client, "ingest_document", content_base64=truncated, filename="cut.pdf")
    assert error["code"] in ("DOCUMENT_CORRUPT", "DOCUMENT_EMPTY")
    error = await fail(client, "ingest_document", content_base64="not base64!", filename="x.pdf")
    assert error["code"] == "DOCUMENT_REFUSED"
    queue = await call(client, "list_review_cases", include_ingestion_log=True)
    assert queue["review_cases"] == []
    assert [(e["outcome"], e["original_name"], e["code"]) for e in queue["ingestion_log"]] == [
        ("failed", "x.pdf", "DOCUMENT_REFUSED"), ("failed", "cut.pdf", "DOCUMENT_CORRUPT"),
        ("failed", "virus.exe", "UNSUPPORTED_DOCUMENT")]


async def test_ocr_of_a_scan_reports_progress(client: Client) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    result = await client.call_tool("ingest_document", {"content_base64": content("scan_de.pdf"),
                                                        "filename": "scan_de.pdf"}, progress_callback=on_progress)
    assert not result.is_error, result.content
    case = dict(result.structured_content or {})["review_case"]
    expected = EXPECTED["scan_de.pdf"]["fields"]
    assert case["document"]["extraction_method"] == "ocr"
    for field in ("invoice_number", "total_gross"):
        assert case["normalized_invoice"][field] == expected[field], field
        assert case["field_sources"][field]["source"] == "ocr"
    assert len(progress) >= 2 and all(a < b for a, b in itertools.pairwise(progress))


async def test_document_text_never_becomes_the_summary(client: Client) -> None:
    result = await client.call_tool("ingest_document", {"content_base64": content("text_en.pdf"),
                                                        "filename": "text_en.pdf"})
    assert not result.is_error
    summary = result.content[0].text  # type: ignore[union-attr]
    case = dict(result.structured_content or {})["review_case"]
    assert case["untrusted_document_text"]
    assert case["untrusted_document_text"][:40] not in summary
    tool = next(t for t in (await client.list_tools()).tools if t.name == "list_review_cases")
    assert "untrusted" in (tool.description or "")


async def test_a_malformed_correction_is_refused_and_changes_nothing(client: Client) -> None:
    case = (await ingest(client, "ubl_invoice.xml"))["review_case"]
    error = await fail(client, "update_review_case", review_case_id=case["id"], invoice={"lines": "all of it"})
    assert error["code"] == "VALIDATION_ERROR"
    error = await fail(client, "update_review_case", review_case_id=case["id"], invoice={"totl_gross": "1.00"})
    assert error["code"] == "VALIDATION_ERROR" and "totl_gross" in error["message"]
    after = (await call(client, "list_review_cases", review_case_id=case["id"]))["review_cases"][0]
    assert after["normalized_invoice"] == case["normalized_invoice"] and after["updated_at"] == case["updated_at"]
