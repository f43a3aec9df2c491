"""DATEV and Beancount exports through the MCP client: a month of invoices exported, the DATEV file
parsed back field by field, the Beancount file checked by bean-check and its balances compared with
the trial balance."""

from __future__ import annotations

import base64
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import BlobResourceContents, EmbeddedResource, TextResourceContents

from ledger_mcp.ledger.exports import datev_format as fmt
from ledger_mcp.ledger.exports.datev_validate import problems, split
from tests.conftest import book, call, fail, line

pytestmark = pytest.mark.anyio


def inv_line(net: str, tax_code: str | None, account: str, text: str) -> dict[str, Any]:
    return {"net_amount": net, "tax_code": tax_code, "account": account, "description": text}


async def invoice(client: Client, direction: str, party: str, number: str, day: str, gross: str,
                  lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return await call(client, "create_invoice", direction=direction, party_id=party, invoice_number=number,
                      invoice_date=day, due_date=extra.pop("due_date", "2026-04-30"), total_gross=gross, lines=lines,
                      **extra)


async def month_of_invoices(client: Client) -> dict[str, Any]:
    """March 2026: vendor and customer invoices at 19 % and 7 %, reverse charge, a credit note, a Storno,
    a USD invoice, a payment; a January booking of the next year to cut a second fiscal year."""
    vendor = await call(client, "save_party", kind="vendor", name="Bürobedarf Müller GmbH", vat_id="DE136695976",
                        iban="DE89370400440532013000", payment_terms_days=14)
    foreign = await call(client, "save_party", kind="vendor", name="Cloud Services Ltd \"Dublin\"",
                         vat_id="IE6388047V")
    us = await call(client, "save_party", kind="vendor", name="Acme Software Inc.")
    customer = await call(client, "save_party", kind="customer", name="Kunde AG")
    made = {"vendor": vendor, "customer": customer, "foreign": foreign, "us": us}
    made["mixed"] = await invoice(client, "payable", vendor["id"], "RE 2026.001", "2026-03-02", "172.50",
                                  [inv_line("100.00", "VSt19", "4930", "Papier"),
                                   inv_line("50.00", "VSt7", "4940", "Fachbuch")])
    made["sale"] = await invoice(client, "receivable", customer["id"], "AR-2026-0042", "2026-03-05", "1190.00",
                                 [inv_line("1000.00", "USt19", "8400", "Beratung März")])
    made["credit"] = await invoice(client, "receivable", customer["id"], "GS-2026-0001", "2026-03-12", "119.00",
                                   [inv_line("100.00", "USt19", "8400", "Gutschrift Beratung")], type="credit_note")
    made["rc"] = await invoice(client, "payable", foreign["id"], "INV-77", "2026-03-10", "200.00",
                               [inv_line("200.00", "RC19", "4930", "Hosting")])
    made["usd"] = await invoice(client, "payable", us["id"], "US-9001", "2026-03-15", "119.00",
                                [inv_line("100.00", "VSt19", "4930", "Licence")], currency="USD",
                                exchange_rate="1.0856")
    made["wrong"] = await invoice(client, "payable", vendor["id"], "RE-2026-002", "2026-03-20", "59.50",
                                  [inv_line("50.00", "VSt19", "4930", "Toner")])
    made["storno"] = await call(client, "reverse_intent", intent_id=made["wrong"]["intent_id"], reason="duplicate")
    made["payment"] = await call(client, "settle_open_items", items=[{"invoice_id": made["sale"]["id"]}],
                                 payment_date="2026-03-25", account="1200")
    made["toner"] = await invoice(client, "payable", vendor["id"], "RE-2026-003", "2026-03-26", "23.80",
                                  [inv_line("20.00", "VSt19", "4930", "Toner")])
    made["payment_run"] = await call(client, "settle_open_items", payment_date="2026-03-31", account="1200",
                                     items=[{"invoice_id": made["mixed"]["id"]}, {"invoice_id": made["toner"]["id"]}])
    made["next_year"] = await book(client, line("4930", "1200", "11.90", "VSt19"), date="2027-01-04",
                                   description="Porto Januar")
    return made


def files_of(result: Any) -> dict[str, bytes]:
    out = {}
    for block in result.content:
        if isinstance(block, EmbeddedResource):
            res = block.resource
            name = (res.meta or {})["filename"]
            out[name] = (base64.b64decode(res.blob) if isinstance(res, BlobResourceContents)
                         else res.text.encode() if isinstance(res, TextResourceContents) else b"")
    return out


def records(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The header's values and the records by column name, parsed from the bytes as DATEV reads them."""
    rows = data.decode("cp1252").split("\r\n")
    assert rows[-1] == ""
    header = [v for v, _ in split(rows[0])]
    columns = fmt.BOOKING_COLUMNS if header[2] == "21" else fmt.PARTY_COLUMNS
    assert rows[1].split(";") == [c.name for c in columns]
    return header, [dict(zip([c.name for c in columns], [v for v, _ in split(r)], strict=True)) for r in rows[2:-1]]


async def test_datev_export_of_a_month_parsed_back_field_by_field(client: Client) -> None:
    await month_of_invoices(client)
    progress: list[tuple[float, float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    result = await client.call_tool("run_report", {"report_type": "datev_export", "datev_consultant_number": 29098,
                                                   "datev_client_number": 55003}, progress_callback=on_progress)
    assert not result.is_error, result.content
    assert progress == [(21, 23), (23, 23)]  # after each fiscal year's file: journal lines done of all
    report = result.structured_content["datev_export"]  # type: ignore[index]
    files = files_of(result)
    assert [f["filename"] for f in report["files"]] == list(files) == [
        "EXTF_Buchungsstapel_20260302_20261231.csv", "EXTF_Buchungsstapel_20270101_20270104.csv",
        "EXTF_Debitoren_Kreditoren.csv"]
    for name, data in files.items():
        assert problems(data.splitlines(keepends=True)) == [], name
        assert b"\n" not in data.replace(b"\r\n", b"")

    header, rows = records(files["EXTF_Buchungsstapel_20260302_20261231.csv"])
    assert header[:6] == ["EXTF", "700", "21", "Buchungsstapel", "13", header[5]] and len(header[5]) == 17
    assert header[10:16] == ["29098", "55003", "20260101", "4", "20260302", "20261231"]
    assert (header[18], header[19], header[20], header[21], header[26]) == ("1", "0", "0", "EUR", "03")
    assert [r["Belegfeld 1"] for r in rows] == ["RE-2026-001", "RE-2026-001", "AR-2026-0042", "GS-2026-0001",
                                                "INV-77", "US-9001", "RE-2026-002", "RE-2026-002", "AR-2026-0042",
                                                "RE-2026-003", "RE-2026-001", "RE-2026-003"]
    key = ("Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "Konto", "Gegenkonto (ohne BU-Schlüssel)",
           "BU-Schlüssel", "Belegdatum", "Generalumkehr (GU)")
    got = [tuple(r[k] for k in key) for r in rows]
    assert got == [
        ("119,00", "H", "70000", "4930", "0009", "0203", "0"),  # 19 % input VAT, gross on the Kreditor
        ("53,50", "H", "70000", "4940", "0008", "0203", "0"),  # 7 %
        ("1190,00", "S", "10000", "8400", "0003", "0503", "0"),  # sale to the Debitor, 19 % output VAT
        ("119,00", "H", "10000", "8400", "0003", "1203", "0"),  # credit note: the sale's mirror
        ("200,00", "H", "70001", "4930", "0094", "1003", "0"),  # reverse charge: net, BU 94 books both taxes
        ("119,00", "H", "70002", "4930", "0009", "1503", "0"),  # USD invoice
        ("59,50", "H", "70000", "4930", "0009", "2003", "0"),  # the invoice cancelled below
        ("59,50", "H", "70000", "4930", "0009", "2003", "1"),  # its Storno: the same booking, Generalumkehr
        ("1190,00", "H", "10000", "1200", "", "2503", "0"),  # payment clears the Debitor's item
        ("23,80", "H", "70000", "4930", "0009", "2603", "0"),
        ("172,50", "S", "70000", "1200", "", "3103", "0"),  # one payment of two items: a row per invoice
        ("23,80", "S", "70000", "1200", "", "3103", "0"),
    ]
    usd = rows[5]
    assert (usd["WKZ Umsatz"], usd["Kurs"], usd["Basis-Umsatz"], usd["WKZ Basis-Umsatz"]) == (
        "USD", "1,0856", "109,61", "EUR")
    assert rows[0]["WKZ Umsatz"] == "EUR" and rows[0]["Kurs"] == rows[0]["Basis-Umsatz"] == ""
    assert rows[0]["Buchungstext"] == "Papier" and rows[0]["Fälligkeit"] == "30042026"
    assert all(r["Festschreibung"] == "0" for r in rows)

    _, next_year = records(files["EXTF_Buchungsstapel_20270101_20270104.csv"])
    assert [(r["Umsatz (ohne Soll/Haben-Kz)"], r["Konto"], r["Gegenkonto (ohne BU-Schlüssel)"], r["BU-Schlüssel"],
             r["Soll/Haben-Kennzeichen"]) for r in next_year] == [("11,90", "1200", "4930", "0009", "H")]

    header, parties = records(files["EXTF_Debitoren_Kreditoren.csv"])
    assert header[2:5] == ["16", "Debitoren/Kreditoren", "5"]
    assert [(p["Konto"], p["Name (Adressatentyp Unternehmen)"], p["EU-Mitgliedstaat"], p["EU-USt-IdNr."])
            for p in parties] == [("10000", "Kunde AG", "", ""), ("70000", "Bürobedarf Müller GmbH", "DE", "136695976"),
                                  ("70001", 'Cloud Services Ltd "Dublin"', "IE", "6388047V"),
                                  ("70002", "Acme Software Inc.", "", "")]
    assert parties[1]["IBAN-Nr. 1"] == "DE89370400440532013000"
    assert parties[1]["Kreditoren-Ziel 3 Brutto (Tage)"] == "14"


async def test_datev_export_refuses_missing_or_bad_numbers(client: Client) -> None:
    error = await fail(client, "run_report", report_type="datev_export")
    assert error["code"] == "VALIDATION_ERROR" and "Beraternummer" in error["hint"]
    error = await fail(client, "run_report", report_type="datev_export", datev_consultant_number=12,
                       datev_client_number=1)
    assert error["details"]["field"] == "datev_consultant_number"


def beancount_weights(path: Path) -> dict[str, Decimal]:
    """Each account's balance in EUR by Beancount's own reading of the file (posting weights)."""
    from beancount import loader
    from beancount.core import convert, data

    entries, errors, _ = loader.load_file(str(path))
    assert errors == []
    out: dict[str, Decimal] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                weight = convert.get_weight(posting)
                assert weight.currency == "EUR"
                number = posting.account.split(":")[1].split("-")[0]
                out[number] = out.get(number, Decimal(0)) + weight.number
    return out


async def test_beancount_export_passes_bean_check_and_balances_match(client: Client, tmp_path: Path) -> None:
    made = await month_of_invoices(client)
    result = await client.call_tool("run_report", {"report_type": "beancount_export"})
    assert not result.is_error, result.content
    (name, data), = files_of(result).items()
    assert name == "ledger-2027-01-04.beancount"
    path = tmp_path / name
    path.write_bytes(data)
    check = subprocess.run([str(Path(sys.executable).parent / "bean-check"), str(path)], capture_output=True,
                           text=True, env={"BEANCOUNT_DISABLE_LOAD_CACHE": "1", "PATH": ""})
    assert check.returncode == 0, check.stdout + check.stderr
    text = data.decode()
    assert f"^intent-{made['storno']['intent_id']} ^intent-{made['wrong']['intent_id']}" in text
    assert "#reversal" in text and "100.00 USD @@ 92.11 EUR" in text
    assert text.count(" balance ") >= 5  # bean-check verified the base-currency accounts' balances

    tb = (await call(client, "run_report", report_type="trial_balance"))["trial_balance"]
    ours = {r["account"]: Decimal(r["closing_balance"]) for r in tb["rows"]}
    theirs = beancount_weights(path)
    assert {k: v for k, v in theirs.items() if v} == {k: v for k, v in ours.items() if v}
    assert ours["1600"] != 0 and ours["1200"] == Decimal("981.80")
