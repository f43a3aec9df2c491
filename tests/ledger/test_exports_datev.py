"""The DATEV export and its validator on the domain: every rule of the validator fed a broken file,
keyset pages cut through intents without changing a row, and refused options."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.exports import pages
from ledger_mcp.ledger.exports.datev import DatevOptions, datev_export
from ledger_mcp.ledger.exports.datev_validate import DatevFileInvalid, problems, validate_file
from ledger_mcp.ledger.fx import RateInput, save_rate
from ledger_mcp.ledger.invoices import InvoiceLineInput, InvoiceRequest, create_invoice
from ledger_mcp.ledger.parties import PartyChanges, save_party
from ledger_mcp.ledger.periods import PeriodRequest, change_period
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, ReversalRequest, post_booking, reverse_intent
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.ledger.revaluation import RevaluationRequest, revalue_open_items
from tests.conftest import CLI

pytestmark = pytest.mark.anyio
OPTIONS = DatevOptions(consultant_number=29098, client_number=55003)
BOB = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label="bob")


async def small_ledger(db: Database, bookings: int = 3) -> None:
    vendor, _ = await db.write(save_party, "vendor", None, PartyChanges(name="Müller & Söhne"), CLI)
    for i in range(bookings):
        await db.write(post_booking, BookingRequest(
            booking_date=f"2026-03-{i + 1:02d}", description=f"Büro {i}", skip_duplicate_check=True,
            lines=[BookingLine(debit_account="4930", credit_account="1200", amount=f"{10 + i}.00", tax_code="VSt19"),
                   BookingLine(debit_account="4940", credit_account="1200", amount="5.35", tax_code="VSt7")]), CLI)
        await db.write(create_invoice, InvoiceRequest(
            direction="payable", party_id=vendor.id, invoice_number=f"R-{i}", invoice_date=f"2026-03-{i + 1:02d}",
            total_gross="23.80", lines=[InvoiceLineInput(net_amount="10.00", tax_code="VSt19", account="4930"),
                                        InvoiceLineInput(net_amount="10.00", tax_code="VSt19", account="4940")]), CLI)


async def exported(db: Database) -> dict[str, bytes]:
    files = await db.read(datev_export, OPTIONS)
    try:
        return {f.filename: f.read_bytes() for f in files}
    finally:
        for f in files:
            f.discard()


def rows_of(data: bytes) -> list[str]:
    return data.decode("cp1252").split("\r\n")


async def test_pages_cut_through_intents_without_changing_a_row(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await small_ledger(db)
    whole = await exported(db)
    monkeypatch.setattr(pages, "PAGE", 3)  # every intent has 2 to 3 lines: pages end inside intents
    paged = await exported(db)
    assert whole.keys() == paged.keys()
    for name in whole:
        assert rows_of(whole[name])[1:] == rows_of(paged[name])[1:]
    bookings = rows_of(whole["EXTF_Buchungsstapel_20260301_20260303.csv"])[2:-1]
    assert len(bookings) == 12  # two rows per booking and per invoice, tax lines folded into them
    assert bookings[0].startswith('10,00;"H";"EUR";;;"";1200;4930;"0009";0103;')
    assert bookings[2].startswith('11,90;"H";"EUR";;;"";70000;4930;"0009";0103;"R-0";')


async def test_tax_split_over_several_lines_adds_up_to_the_invoice(db: Database) -> None:
    vendor, _ = await db.write(save_party, "vendor", None, PartyChanges(name="Drei Zeilen GmbH"), CLI)
    await db.write(create_invoice, InvoiceRequest(
        direction="payable", party_id=vendor.id, invoice_number="T-1", invoice_date="2026-05-02", total_gross="1.05",
        lines=[InvoiceLineInput(net_amount="0.33", tax_code="VSt19", account="4930"),
               InvoiceLineInput(net_amount="0.33", tax_code="VSt19", account="4940"),
               InvoiceLineInput(net_amount="0.22", tax_code="VSt19", account="4930")]), CLI)
    data = (await exported(db))["EXTF_Buchungsstapel_20260502_20260502.csv"]
    amounts = [row.split(";")[0] for row in rows_of(data)[2:-1]]
    assert sum(int(a.replace(",", "")) for a in amounts) == 105
    assert amounts == ["0,40", "0,39", "0,26"]


def _replace_first(pattern: str, new: str, row: int = 2) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        rows = data.split(b"\r\n")
        rows[row] = re.sub(pattern.encode("cp1252"), new.encode("cp1252"), rows[row], count=1)
        return b"\r\n".join(rows)
    return change


BROKEN: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("LF line ends", lambda d: d.replace(b"\r\n", b"\n"), "does not end with CRLF"),
    ("not cp1252", lambda d: d.replace(b"B\xfcro", b"B\x81ro"), "not cp1252"),
    ("UTF-8 text", lambda d: d.replace("Büro".encode("cp1252"), "Büro".encode()), "the text is UTF-8"),
    ("decimal point", _replace_first(r"^10,00", "11.90"), "Umsatz (ohne Soll/Haben-Kz): '11.90'"),
    ("negative amount", _replace_first(r"^10,00", "-11,90"), "Umsatz (ohne Soll/Haben-Kz): '-11,90'"),
    ("zero amount", _replace_first(r"^10,00", "0,00"), "Umsatz: must not be zero"),
    ("thousands separator", _replace_first(r"^10,00", "1.011,90"), "does not match"),
    ("Soll/Haben", _replace_first(r'"H"', '"X"'), "Soll/Haben-Kennzeichen: 'X'"),
    ("text unquoted", _replace_first(r'"H"', "H"), "Soll/Haben-Kennzeichen: text must be quoted"),
    ("number quoted", _replace_first(r";1200;", ';"1200";'), "Konto: a number is not quoted"),
    ("a field missing", _replace_first(r'^10,00;"H";', '10,00;'), "124 fields, the format has 125"),
    ("unclosed quote", _replace_first(r'"EUR"', '"EUR'), "text after a closing quote"),
    ("Konto too long", _replace_first(r";1200;", ";120000;"), "longer than the Sachkontenlänge 4 + 1"),
    ("Konto equals Gegenkonto", _replace_first(r";1200;4930;", ";4930;4930;"), "equals Konto 4930"),
    ("BU key of 5 digits", _replace_first(r'"0009"', '"00009"'), "BU-Schlüssel"),
    ("no such day", _replace_first(r";0103;", ";3002;"), "Belegdatum: 3002 is no day of 2026"),
    ("outside the header's range", _replace_first(r";0103;", ";0104;"), "outside 2026-03-01..2026-03-03"),
    ("Belegdatum with year", _replace_first(r";0103;", ";01032026;"), "Belegdatum"),
    ("Belegfeld 1 with space", _replace_first(r'"R-0"', '"R 0"', 4), "Belegfeld 1: 'R 0'"),
    ("Belegfeld 1 too long", _replace_first(r'"R-0"', '"' + "R" * 37 + '"', 4), "Belegfeld 1"),
    ("Buchungstext too long", _replace_first(r'"Büro 0"', '"' + "x" * 61 + '"'), "Buchungstext"),
    ("Kurs without foreign currency", _replace_first(r'"EUR";;;"";', '"EUR";1,0856;;"";'), "needs a foreign WKZ"),
    ("Basis-Umsatz alone", _replace_first(r'"EUR";;;"";', '"EUR";;11,90;"";'), "Basis-Umsatz: needs WKZ"),
    ("Basis-Umsatz off the rate", _replace_first(r'"EUR";;;"";', '"USD";1,0856;99,00;"EUR";'),
     "is not Umsatz 10,00 / Kurs 1,0856"),
    ("Generalumkehr 2", _replace_first(r'"0";;"";"";;"";;$', '"2";;"";"";;"";;'), "Generalumkehr (GU): '2'"),
    ("header version", _replace_first(r";700;", ";510;", 0), "Versionsnummer: '510'"),
    ("header category", _replace_first(r";21;", ";20;", 0), "row 1: format"),
    ("Beraternummer missing", _replace_first(r";29098;", ";;", 0), "Beraternummer: is required"),
    ("Sachkontenlänge 9", _replace_first(r";20260101;4;", ";20260101;9;", 0), "Sachkontenlänge: '9'"),
    ("created timestamp", _replace_first(r";13;\d+;", ";13;2026;", 0), "Erzeugt am"),
    ("range across fiscal years", _replace_first(r";4;20260301;20260301;", ";4;20260301;20270303;", 0),
     "must lie in the fiscal year"),
    ("range reversed", _replace_first(r";4;20260301;", ";4;20260304;", 0), "Datum vom: after Datum bis"),
    ("headings", _replace_first(r"^Umsatz \(ohne Soll/Haben-Kz\)", "Umsatz", 1), "column headings"),
    ("empty file", lambda d: b"", "the file is empty"),
]


@pytest.mark.parametrize(("what", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
async def test_validator_finds_each_broken_rule(db: Database, what: str, change: Callable[[bytes], bytes],
                                               expected: str) -> None:
    await small_ledger(db, 1 if what != "outside the header's range" else 3)
    data = (await exported(db))
    bookings = next(v for k, v in data.items() if k.startswith("EXTF_Buchungsstapel"))
    assert problems(bookings.splitlines(keepends=True)) == []
    broken = change(bookings)
    assert broken != bookings, what
    found = problems(broken.splitlines(keepends=True))
    assert any(expected in p for p in found), found


async def test_master_data_rules_and_the_exception(db: Database, tmp_path: pytest.TempPathFactory) -> None:
    await small_ledger(db, 1)
    await db.write(save_party, "customer", None, PartyChanges(name="Kunde", vat_id="ATU13585627"), CLI)
    parties = (await exported(db))["EXTF_Debitoren_Kreditoren.csv"]
    assert problems(parties.splitlines(keepends=True)) == []
    rows = parties.split(b"\r\n")
    twice = b"\r\n".join([*rows[:-1], rows[2], b""])
    assert any("10000 appears twice" in p for p in problems(twice.splitlines(keepends=True)))
    short = parties.replace(b"\r\n10000;", b"\r\n1000;")
    assert any("a personal account has 5 digits, not 4" in p for p in problems(short.splitlines(keepends=True)))
    no_country = parties.replace(b'"AT";"U13585627"', b'"";"U13585627"')
    assert any("needs EU-Mitgliedstaat" in p for p in problems(no_country.splitlines(keepends=True)))

    path = tmp_path / "EXTF_broken.csv"  # type: ignore[operator]
    path.write_bytes(short)
    with pytest.raises(DatevFileInvalid) as caught:
        validate_file(path)
    assert caught.value.code == "DATEV_FORMAT_INVALID" and caught.value.details["problems"]


async def test_refused_options(db: Database) -> None:
    await small_ledger(db, 1)
    for options, field in ((DatevOptions(1000, 1), "datev_consultant_number"),
                           (DatevOptions(1001, 100000), "datev_client_number")):
        with pytest.raises(ValidationFailed) as caught:
            await db.read(datev_export, options)
        assert caught.value.details["field"] == field
    with pytest.raises(ValidationFailed) as caught:
        await db.read(datev_export, DatevOptions(29098, 1, account_length=5))
    assert caught.value.details == {"account_length": 5, "personal_account": "70000"}


def _records(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The header's fields and each booking row by column heading (no field here holds a ';')."""
    lines = [line for line in rows_of(data) if line]
    headings = lines[1].split(";")
    return lines[0].split(";"), [dict(zip(headings, line.split(";"), strict=True)) for line in lines[2:]]


async def test_finally_locked_periods_are_exported_fixed_in_a_file_of_their_own(db: Database) -> None:
    await small_ledger(db, 2)
    await db.write(post_booking, BookingRequest(booking_date="2026-04-07", description="April", lines=[
        BookingLine(debit_account="4930", credit_account="1200", amount="11.90", tax_code="VSt19")]), CLI)
    before = await exported(db)
    assert list(before) == ["EXTF_Buchungsstapel_20260301_20260407.csv", "EXTF_Debitoren_Kreditoren.csv"]
    header, rows = _records(before["EXTF_Buchungsstapel_20260301_20260407.csv"])
    assert header[20] == "0" and {r["Festschreibung"] for r in rows} == {"0"}

    # Soft-locked is not final: still 0. The final lock of March fixes March, and April stays open.
    await db.write(change_period, PeriodRequest(action="soft_lock", period="2026-03"), CLI)
    header, rows = _records((await exported(db))["EXTF_Buchungsstapel_20260301_20260407.csv"])
    assert header[20] == "0" and {r["Festschreibung"] for r in rows} == {"0"}
    requested = await db.write(change_period, PeriodRequest(action="request_lock", period="2026-03"), CLI)
    await db.write(change_period, PeriodRequest(action="approve_lock", period="2026-03",
                                                request_id=requested.request_id), BOB)
    after = await exported(db)
    assert list(after) == ["EXTF_Buchungsstapel_20260301_20260331.csv", "EXTF_Buchungsstapel_20260401_20260407.csv",
                           "EXTF_Debitoren_Kreditoren.csv"]
    march_header, march = _records(after["EXTF_Buchungsstapel_20260301_20260331.csv"])
    april_header, april = _records(after["EXTF_Buchungsstapel_20260401_20260407.csv"])
    assert (march_header[14], march_header[15], march_header[20]) == ("20260301", "20260331", "1")
    assert (april_header[14], april_header[15], april_header[20]) == ("20260401", "20260407", "0")
    assert len(march) == 8 and {r["Festschreibung"] for r in march} == {"1"}
    assert len(april) == 1 and april[0]["Festschreibung"] == "0"
    assert [r for r in march + april if r["Festschreibung"] == "0"] == april
    assert len(march) + len(april) == len(rows)

    # The validator holds rows to their header: a fixed row in an unfixed batch would fix all of it.
    fixed = after["EXTF_Buchungsstapel_20260301_20260331.csv"]
    unfixed_header = _replace_first(r";(1);\"EUR\"", ';0;"EUR"', 0)(fixed)
    assert unfixed_header != fixed
    found = problems(unfixed_header.splitlines(keepends=True))
    assert any("Festschreibung: 1 differs from the header's '0'" in p for p in found), found


async def test_a_revaluation_is_booked_on_the_personal_account_of_each_item(db: Database) -> None:
    vendor, _ = await db.write(save_party, "vendor", None, PartyChanges(name="Cloud Inc."), CLI)
    boston, _ = await db.write(save_party, "customer", None, PartyChanges(name="Boston Corp"), CLI)
    chicago, _ = await db.write(save_party, "customer", None, PartyChanges(name="Chicago LLC"), CLI)
    for party, direction, number, gross, account in ((vendor, "payable", "P-1", "500.00", "4930"),
                                                     (boston, "receivable", "R-1", "220.00", "8400"),
                                                     (chicago, "receivable", "R-2", "220.00", "8400")):
        await db.write(create_invoice, InvoiceRequest(
            direction=direction, party_id=party.id, invoice_number=number, invoice_date="2026-11-10",
            due_date="2026-12-10", total_gross=gross, currency="USD", exchange_rate="1.1",
            lines=[InvoiceLineInput(net_amount=gross, account=account)]), CLI)
    await db.write(save_rate, RateInput(currency="USD", rate_date="2026-12-31", rate="1.0"), CLI)
    revalued = await db.write(revalue_open_items, RevaluationRequest(closing_date="2026-12-31"), CLI)
    assert (revalued.total_gain, revalued.total_loss) == ("40.00", "45.45")
    assert revalued.intent_id is not None

    def booked(data: bytes) -> list[tuple[str, ...]]:
        _, rows = _records(data)
        return sorted((r["Konto"], r["Gegenkonto (ohne BU-Schlüssel)"], r["Soll/Haben-Kennzeichen"],
                       r["Umsatz (ohne Soll/Haben-Kz)"], r["Belegfeld 1"], r["Generalumkehr (GU)"]) for r in rows)

    # revalue by the same amount on the same control account: each goes to its own Debitor.
    gain, loss = "2660", "2150"
    expected = [(vendor.number, loss, '"H"', "45,45", '"P-1"', '"0"'),
                (boston.number, gain, '"S"', "20,00", '"R-1"', '"0"'),
                (chicago.number, gain, '"S"', "20,00", '"R-2"', '"0"')]
    files = await db.read(datev_export, OPTIONS, "2026-12-31", "2026-12-31")
    try:
        assert booked(files[0].read_bytes()) == sorted(expected)
    finally:
        for f in files:
            f.discard()
    # Its Storno undoes it item by item, on the same personal accounts (Generalumkehr).
    await db.write(reverse_intent, ReversalRequest(intent_id=revalued.intent_id, reason="Auflösung"), CLI)
    files = await db.read(datev_export, OPTIONS, "2026-12-31", "2026-12-31")
    try:
        undone = [(*row[:5], '"1"') for row in expected]
        assert booked(files[0].read_bytes()) == sorted(expected + undone)
    finally:
        for f in files:
            f.discard()
