"""Review cases from extraction results: normalization, vendor matching, compliance, decisions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import invoices, journal, parties, review_cases
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import ComplianceBlocked, ReviewCaseClosed
from ledger_mcp.ledger.extraction import ExtractedField, ExtractedInvoice, ExtractedTax
from ledger_mcp.ledger.models import Document
from ledger_mcp.ledger.parties import PartyChanges
from ledger_mcp.ledger.review_cases import ReviewCaseInfo, ReviewCasePatch
from tests.conftest import CLI

pytestmark = pytest.mark.anyio

FIELDS = {"vendor_name": "Papier & Co. KG", "vendor_vat_id": "DE136695976", "vendor_iban": "DE89370400440532013000",
          "vendor_address": "Hauptstr. 1, 10115 Berlin", "buyer_name": "Muster GmbH", "invoice_number": "RE-2026-17",
          "invoice_date": "2026-03-02", "delivery_date": "2026-03-01", "due_date": "2026-03-16", "currency": "EUR",
          "total_net": "300.00", "total_tax": "45.00", "total_gross": "345.00"}
TAXES = [ExtractedTax(rate="19", net="200.00", tax="38.00", category="S"),
         ExtractedTax(rate="7", net="100.00", tax="7.00", category="S")]


def extraction(source: str = "xml", confidence: float = 1.0, taxes: list[ExtractedTax] | None = None,
               **fields: str | None) -> ExtractedInvoice:
    values = {**FIELDS, **fields}
    return ExtractedInvoice(
        method=source,  # type: ignore[arg-type]
        fields={k: ExtractedField(value=v, source=source, confidence=confidence)  # type: ignore[arg-type]
                for k, v in values.items() if v is not None},
        taxes=TAXES if taxes is None else taxes, lines=[], text="Rechnung RE-2026-17 ...", pages=1, warnings=[])


async def open_case(db: Database, extracted: ExtractedInvoice, name: str = "invoice.pdf") -> ReviewCaseInfo:
    digest = hashlib.sha256(extracted.model_dump_json().encode() + name.encode()).hexdigest()

    async def write(session: AsyncSession) -> str:
        document = Document(id=digest, original_name=name, mime="application/pdf", size=1, storage_path="x",
                            status="extracted", extraction_method=extracted.method,
                            extraction=extracted.model_dump_json(), created_at=utc_now(), created_by="test")
        session.add(document)
        await session.flush()
        return (await review_cases.open_case(session, document, extracted, CLI)).id

    return await db.read(review_cases.get_case, await db.write(write))


async def vendor(db: Database, name: str = "Papier & Co KG", **fields: Any) -> str:
    party, _ = await db.write(parties.save_party, "vendor", None, PartyChanges(name=name, **fields), CLI)
    return party.id


def codes(case: ReviewCaseInfo, severity: str | None = None) -> set[str]:
    return {f.code for f in case.findings if severity is None or f.severity == severity}


async def test_a_clean_e_invoice_is_ready_and_approval_posts_the_payable(db: Database) -> None:
    vendor_id = await vendor(db, vat_id="DE136695976", default_account="4930")
    case = await open_case(db, extraction())
    assert case.vendor_id == vendor_id and case.vendor_candidates[0].reasons[0] == "VAT ID matches"
    assert case.queue_state == "ready" and not codes(case, "blocking")
    assert [(li.tax_code, li.net_amount, li.tax_amount, li.account) for li in case.normalized_invoice.lines] == [
        ("VSt19", "200.00", "38.00", "4930"), ("VSt7", "100.00", "7.00", "4930")]
    assert case.field_sources["invoice_number"].source == "xml"

    approved = await db.write(review_cases.approve_case, case.id, None, CLI)
    invoice = await db.read(invoices.get_invoice, approved.invoice_id)
    assert (invoice.invoice_number, invoice.total_gross, invoice.status, invoice.document_id) == (
        "RE-2026-17", "345.00", "open", case.document.id)
    view = await db.read(journal.get_intent, approved.intent_id)
    assert view.summary.document_id == case.document.id
    assert view.summary.custom_metadata and view.summary.custom_metadata["review_case_id"] == case.id
    again = await db.write(review_cases.approve_case, case.id, None, CLI)
    assert again.replayed and (again.intent_id, again.invoice_id) == (approved.intent_id, approved.invoice_id)
    with pytest.raises(ReviewCaseClosed):
        await db.write(review_cases.reject_case, case.id, "too late", CLI)


async def test_blocking_findings_need_an_override_which_is_recorded(db: Database) -> None:
    await vendor(db, iban="DE89370400440532013000")
    case = await open_case(db, extraction(vendor_vat_id=None, invoice_number=None))
    assert case.vendor_candidates[0].reasons == ["IBAN matches", "name 100% similar"]
    assert {"MISSING_VENDOR_TAX_ID", "MISSING_INVOICE_NUMBER"} <= codes(case, "blocking")
    assert case.queue_state == "needs_review"
    with pytest.raises(ComplianceBlocked) as refused:
        await db.write(review_cases.approve_case, case.id, None, CLI)
    assert {f["code"] for f in refused.value.details["findings"]} >= {"MISSING_VENDOR_TAX_ID"}
    approved = await db.write(review_cases.approve_case, case.id, "Kleinunternehmer, Nummer telefonisch bestätigt",
                              CLI)
    view = await db.read(journal.get_intent, approved.intent_id)
    assert view.summary.custom_metadata is not None
    override = view.summary.custom_metadata["overrides"][0]
    assert override["reason"].startswith("Kleinunternehmer") and "MISSING_VENDOR_TAX_ID" in override["codes"]
    assert (await db.read(review_cases.get_case, case.id)).overrides[0].by == CLI.actor_display


async def test_small_invoice_rules_and_a_vendor_created_from_the_case(db: Database) -> None:
    small = extraction(vendor_vat_id=None, invoice_number=None, buyer_name=None, total_net="100.00",
                       total_tax="19.00", total_gross="119.00",
                       taxes=[ExtractedTax(rate="19", net="100.00", tax="19.00", category="S")])
    case = await open_case(db, small)
    assert "SMALL_INVOICE" in codes(case, "warning") and not codes(case, "blocking")
    assert case.vendor_id is None and case.queue_state == "needs_review"
    case = await db.write(review_cases.update_case, case.id, ReviewCasePatch(create_vendor=True), CLI)
    assert case.vendor_name == "Papier & Co. KG" and case.queue_state == "ready"
    approved = await db.write(review_cases.approve_case, case.id, None, CLI)
    invoice = await db.read(invoices.get_invoice, approved.invoice_id)
    assert invoice.invoice_number == f"DOC-{case.document.id[:12]}"
    assert invoice.lines and invoice.lines[0].account == "4900"  # the chart's default expense account


async def test_name_similarity_suggests_without_deciding(db: Database) -> None:
    await vendor(db, name="Papier und Co KG")
    case = await open_case(db, extraction(vendor_vat_id="DE 136 695 976"))
    assert case.vendor_id is None
    assert case.vendor_candidates and case.vendor_candidates[0].score < review_cases.AUTO_MATCH_SCORE


async def test_arithmetic_duplicates_and_low_confidence_are_found(db: Database) -> None:
    await vendor(db, vat_id="DE136695976")
    first = await open_case(db, extraction())
    await db.write(review_cases.approve_case, first.id, None, CLI)
    twin = await open_case(db, extraction(), name="again.pdf")
    assert "DUPLICATE_INVOICE" in codes(twin, "blocking")
    wrong = await open_case(db, extraction("ocr", 0.7, invoice_number="RE-9", total_gross="350.00"), name="w.pdf")
    assert {"TOTALS_MISMATCH"} <= codes(wrong, "blocking") and "LOW_CONFIDENCE" in codes(wrong, "warning")
    fixed = await db.write(review_cases.update_case, wrong.id,
                           ReviewCasePatch(invoice={"total_gross": "345.00"}), CLI)
    assert "TOTALS_MISMATCH" not in codes(fixed)
    taxes_off = await open_case(db, extraction(invoice_number="RE-10", total_tax="45.50", total_gross="345.50"),
                                name="t.pdf")
    assert "LINES_MISMATCH" in codes(taxes_off, "blocking")
    assert fixed.field_sources["total_gross"].source == "manual"


async def test_a_vat_id_match_under_another_name_is_only_suggested(db: Database) -> None:
    await vendor(db, name="Nordsee Logistik GmbH", vat_id="DE136695976")
    case = await open_case(db, extraction())
    assert case.vendor_id is None and case.vendor_candidates[0].reasons == ["VAT ID matches"]
    assert "VENDOR_NAME_DIFFERS" in codes(case, "warning")


async def test_foreign_vat_is_part_of_the_cost(db: Database) -> None:
    await vendor(db, vat_id="DE136695976")
    foreign = extraction(total_net="100.00", total_tax="23.00", total_gross="123.00",
                         taxes=[ExtractedTax(rate="23", net="100.00", tax="23.00", category="S")])
    case = await open_case(db, foreign)
    assert [(li.net_amount, li.tax_code) for li in case.normalized_invoice.lines] == [("123.00", None)]
    assert "FOREIGN_VAT" in codes(case, "warning") and not codes(case, "blocking")
    approved = await db.write(review_cases.approve_case, case.id, None, CLI)
    invoice = await db.read(invoices.get_invoice, approved.invoice_id)
    assert (invoice.total_net, invoice.total_tax, invoice.total_gross) == ("123.00", "0.00", "123.00")


async def test_reverse_charge_and_rejection(db: Database) -> None:
    await vendor(db, vat_id="DE136695976")
    rc = extraction(total_tax="0.00", total_gross="300.00", taxes=[
        ExtractedTax(rate="0", net="300.00", tax="0.00", category="AE")])
    case = await open_case(db, rc)
    assert [li.tax_code for li in case.normalized_invoice.lines] == ["RC19"]
    rejected = await db.write(review_cases.reject_case, case.id, "not ours", CLI)
    assert (rejected.queue_state, rejected.rejection_reason) == ("rejected", "not ours")
    with pytest.raises(ReviewCaseClosed):
        await db.write(review_cases.approve_case, case.id, None, CLI)
    assert json.loads((await db.read(review_cases.get_case, case.id)).model_dump_json())["decided_by"]


def test_normalize_nets_vat_groups_drops_empty_ones_and_turns_a_negative_invoice_into_a_credit_note() -> None:
    taxes = [ExtractedTax(rate="19", net="200.00", tax="38.00", category="S"),
             ExtractedTax(rate="19", net="-50.00", tax="-9.50", category="S"),  # an allowance at 19 %
             ExtractedTax(rate="7", net="0.00", tax="0.00", category="S")]
    invoice, _ = review_cases.normalize(extraction(taxes=taxes, total_net="150.00", total_tax="28.50",
                                                   total_gross="178.50", amount_due="178.50"))
    assert [(li.tax_code, li.net_amount, li.tax_amount) for li in invoice.lines] == [("VSt19", "150.00", "28.50")]
    negative = [ExtractedTax(rate=t.rate, net=f"-{t.net}", tax=f"-{t.tax}", category=t.category) for t in TAXES]
    credit, _ = review_cases.normalize(extraction(taxes=negative, total_net="-300.00", total_tax="-45.00",
                                                  total_gross="-345.00", amount_due="-345.00", type_code="384"))
    assert (credit.type, credit.type_code, credit.total_gross, credit.amount_due) == (
        "credit_note", "384", "345.00", "345.00")
    assert [(li.tax_code, li.net_amount) for li in credit.lines] == [("VSt19", "200.00"), ("VSt7", "100.00")]
