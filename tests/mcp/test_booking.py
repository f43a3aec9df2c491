"""post_booking and post_opening_balances as a client sees them."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from mcp import Client

from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).parents[2] / "examples"


def _lines(result: dict) -> list[tuple[str, str, str, str | None, str]]:
    return [(x["debit_account"], x["credit_account"], x["amount"], x["tax_code"], x["line_role"])
            for x in result["lines"]]


async def _journal_size(client: Client) -> int:
    return (await call(client, "verify_chain"))["lines_checked"]


async def test_input_vat_splits_gross_into_net_and_tax(client: Client) -> None:
    result = await book(client, line("4930", "1200", "119.00", "VSt19"), external_reference="RE-1")
    assert _lines(result) == [("4930", "1200", "100.00", "VSt19", "amount"),
                              ("1576", "1200", "19.00", "VSt19", "tax")]
    assert result["event_count"] == 2 and result["total_amount"] == "119.00"
    assert result["journal_number_first"] == 1 and result["journal_number_last"] == 2
    assert len(result["audit_hash"]) == 64


async def test_output_vat_on_revenue_and_seven_percent(client: Client) -> None:
    result = await book(client, line("1200", "8400", "2380.00", "USt19"), line("1200", "8300", "10.70", "USt7"))
    assert _lines(result) == [("1200", "8400", "2000.00", "USt19", "amount"),
                              ("1200", "1776", "380.00", "USt19", "tax"),
                              ("1200", "8300", "10.00", "USt7", "amount"),
                              ("1200", "1771", "0.70", "USt7", "tax")]


async def test_tax_rounding_half_up(client: Client) -> None:
    # 10.00 gross at 19 %: tax 1.5966 -> 1.60, net 8.40
    result = await book(client, line("4930", "1200", "10.00", "VSt19"))
    assert [x["amount"] for x in result["lines"]] == ["8.40", "1.60"]


async def test_vendor_credit_note_credits_input_vat(client: Client) -> None:
    result = await book(client, line("1200", "4930", "119.00", "VSt19"))
    assert _lines(result) == [("1200", "4930", "100.00", "VSt19", "amount"),
                              ("1200", "1576", "19.00", "VSt19", "tax")]


async def test_reverse_charge_books_net_and_self_assesses(client: Client) -> None:
    result = await book(client, line("4900", "1200", "1000.00", "RC19"))
    assert _lines(result) == [("4900", "1200", "1000.00", "RC19", "amount"),
                              ("1577", "1787", "190.00", "RC19", "self_assessment")]


async def test_split_booking_pairs_one_sided_lines(client: Client) -> None:
    result = await book(client, line("4930", None, "119.00", "VSt19"), line("4940", None, "10.70", "VSt7"),
                        line(None, "1200", "129.70"), external_reference="RE-SPLIT")
    assert _lines(result) == [("4930", "1200", "100.00", "VSt19", "amount"),
                              ("1576", "1200", "19.00", "VSt19", "tax"),
                              ("4940", "1200", "10.00", "VSt7", "amount"),
                              ("1571", "1200", "0.70", "VSt7", "tax")]
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    assert {r["account"]: r["closing_balance"] for r in tb["rows"]}["1200"] == "-129.70"
    assert tb["balanced"]


async def test_unbalanced_split_is_refused_and_writes_nothing(client: Client) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                       lines=[line("4930", None, "100.00"), line(None, "1200", "90.00")])
    assert error["code"] == "UNBALANCED"
    assert "10.00" in error["message"]
    assert await _journal_size(client) == 0


@pytest.mark.parametrize("amount", ["-1.00", "0", "0.00", "abc", "1.001", "1,00", "1e3", " ", "1.000.00"])
async def test_bad_amounts(client: Client, amount: str) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                       lines=[line("4930", "1200", amount)])
    assert error["code"] == "INVALID_AMOUNT"
    assert error["retryable"] is False
    assert await _journal_size(client) == 0


@pytest.mark.parametrize("date", ["2026-02-30", "02.03.2026", "2026-3-2", "", "tomorrow"])
async def test_bad_dates(client: Client, date: str) -> None:
    error = await fail(client, "post_booking", booking_date=date, description="x", lines=[line("4930", "1200", "1")])
    assert error["code"] == "INVALID_DATE"


async def test_unknown_account_names_the_nearest(client: Client) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                       lines=[line("4931", "1200", "10.00")])
    assert error["code"] == "UNKNOWN_ACCOUNT"
    suggestions = [s["number"] for s in error["details"]["suggestions"]]
    assert suggestions[0] == "4930"
    assert "4930 Bürobedarf" in error["message"]


async def test_unknown_tax_code_lists_the_valid_ones(client: Client) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                       lines=[line("4930", "1200", "10.00", "V19")])
    assert error["code"] == "UNKNOWN_TAX_CODE"
    assert "VSt19" in error["hint"]


async def test_same_account_on_both_sides_is_refused(client: Client) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                       lines=[line("1200", "1200", "10.00")])
    assert error["code"] == "VALIDATION_ERROR"


async def test_foreign_currency_without_a_rate_is_refused_with_a_hint(client: Client) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x", currency="USD",
                       lines=[line("4930", "1200", "10.00")])
    assert error["code"] == "EXCHANGE_RATE_MISSING"
    assert "exchange_rate" in error["hint"] and "save_exchange_rate" in error["hint"]
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="x", currency="XYZ",
                       exchange_rate="1.5", lines=[line("4930", "1200", "10.00")])
    assert error["code"] == "UNSUPPORTED_CURRENCY"


async def test_schema_violations_come_back_structured(client: Client) -> None:
    error = await fail(client, "post_booking", booking_date="2026-03-02", lines="not a list")
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["details"]["fields"]) >= {"description", "lines"}


async def test_idempotent_replay_and_conflict(client: Client) -> None:
    first = await book(client, line("4930", "1200", "119.00", "VSt19"), idempotency_key="k-1")
    again = await book(client, line("4930", "1200", "119.00", "VSt19"), idempotency_key="k-1")
    assert again["replayed"] is True and again["intent_id"] == first["intent_id"]
    assert again["lines"] == first["lines"]
    assert await _journal_size(client) == 2
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="Test",
                       idempotency_key="k-1", lines=[line("4930", "1200", "120.00", "VSt19")])
    assert error["code"] == "IDEMPOTENCY_CONFLICT"
    assert error["details"]["intent_id"] == first["intent_id"]
    assert await _journal_size(client) == 2


async def test_likely_duplicate_is_refused_unless_overridden(client: Client) -> None:
    first = await book(client, line("4930", "1200", "50.00"), external_reference="RE-9")
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="other text",
                       external_reference="RE-9", lines=[line("4930", "1200", "50.00")])
    assert error["code"] == "DUPLICATE_SUSPECTED"
    assert error["details"]["existing_intent_id"] == first["intent_id"]
    second = await book(client, line("4930", "1200", "50.00"), external_reference="RE-9", skip_duplicate_check=True)
    assert second["duplicate_override"] is True
    view = await call(client, "get_intent", intent_id=second["intent_id"])
    assert view["metadata"]["duplicate_override"] is True


async def test_rebooking_after_storno_is_not_a_duplicate(client: Client) -> None:
    first = await book(client, line("4930", "1200", "50.00"), external_reference="RE-10")
    await call(client, "reverse_intent", intent_id=first["intent_id"], reason="wrong amount")
    await book(client, line("4930", "1200", "50.00"), external_reference="RE-10")


async def test_provenance_records_mcp_actor_and_client(client: Client) -> None:
    invoice = EXAMPLES / "invoices" / "ubl_invoice.xml"
    await call(client, "ingest_document", filename=invoice.name,
               content_base64=base64.b64encode(invoice.read_bytes()).decode())
    document_id = hashlib.sha256(invoice.read_bytes()).hexdigest()  # documents are content-addressed
    error = await fail(client, "post_booking", booking_date="2026-03-02", description="Test",
                       lines=[line("4930", "1200", "10.00")], document_id="doc-1")
    assert error["code"] == "DOCUMENT_NOT_FOUND"
    result = await book(client, line("4930", "1200", "10.00"), document_id=document_id,
                        custom_metadata={"source": "test", "n": 1})
    view = await call(client, "get_intent", intent_id=result["intent_id"])
    summary = view["summary"]
    assert summary["source"] == "MCP"
    assert summary["provenance_summary"]["channel"] == "MCP"
    assert summary["provenance_summary"]["actor_label"] == "tester"
    assert summary["provenance_summary"]["client_name"] == "mcp"
    assert summary["custom_metadata"] == {"source": "test", "n": 1}
    assert summary["document_id"] == document_id
    for entry in view["entries"]:
        assert entry["source"] == "MCP" and entry["provenance_summary"]["actor_label"] == "tester"


async def test_opening_balances_book_against_9000(client: Client) -> None:
    result = await call(client, "post_opening_balances", booking_date="2026-01-01",
                        balances=[{"account": "1200", "amount": "5000.00", "side": "debit"},
                                  {"account": "0800", "amount": "25000.00", "side": "credit"},
                                  {"account": "1000", "amount": "20000.00", "side": "debit"}])
    assert result["category"] == "opening_balance"
    assert result["total_debit"] == "25000.00" and result["total_credit"] == "25000.00"
    assert _lines(result) == [("1200", "9000", "5000.00", None, "amount"), ("9000", "0800", "25000.00", None, "amount"),
                              ("1000", "9000", "20000.00", None, "amount")]
    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    balances = {r["account"]: r["closing_balance"] for r in tb["rows"]}
    assert balances["9000"] == "0.00" and balances["1200"] == "5000.00" and balances["0800"] == "-25000.00"


async def test_opening_balances_refuse_the_opening_account_itself(client: Client) -> None:
    error = await fail(client, "post_opening_balances", booking_date="2026-01-01",
                       balances=[{"account": "9000", "amount": "1.00", "side": "debit"}])
    assert error["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("field", ["description", "external_reference"])
async def test_a_nul_character_is_refused_with_a_structured_error(client: Client, field: str) -> None:
    before = await _journal_size(client)
    arguments = {"booking_date": "2026-03-02", "description": "Bürobedarf",
                 "lines": [line("4930", "1200", "119.00", "VSt19")], field: "Papier\x00Toner"}
    error = await fail(client, "post_booking", **arguments)
    assert error["code"] == "VALIDATION_ERROR" and "NUL" in error["message"]
    assert await _journal_size(client) == before
