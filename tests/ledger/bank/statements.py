"""Statement writers for tests, examples and the bench: camt.053.001.02 (valid against its XSD), MT940
with German :86: sub-fields, and the CSV layouts of the presets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass(frozen=True)
class Line:
    """One statement line; amount signed (negative: money out)."""

    booking_date: date
    amount: Decimal
    name: str = ""
    iban: str = ""
    text: str = ""
    reference: str = ""
    end_to_end_id: str = ""


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAMT_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _path(parent: etree._Element, *tags: str, text: str | None = None) -> etree._Element:
    for tag in tags[:-1]:
        parent = _sub(parent, tag)
    return _sub(parent, tags[-1], text)


def _balance(stmt: etree._Element, code: str, amount: Decimal, day: date) -> None:
    bal = _sub(stmt, "Bal")
    _path(bal, "Tp", "CdOrPrtry", "Cd", text=code)
    _sub(bal, "Amt", f"{abs(amount):.2f}", Ccy="EUR")
    _sub(bal, "CdtDbtInd", "CRDT" if amount >= 0 else "DBIT")
    _path(bal, "Dt", "Dt", text=day.isoformat())


def camt053(iban: str, lines: list[Line], opening: Decimal | None = None, statement_id: str = "STMT-1") -> bytes:
    root = etree.Element(f"{{{CAMT_NS}}}Document", nsmap={None: CAMT_NS})
    message = _sub(root, "BkToCstmrStmt")
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", f"MSG-{statement_id}")
    _sub(header, "CreDtTm", "2026-04-01T08:00:00")
    stmt = _sub(message, "Stmt")
    _sub(stmt, "Id", statement_id)
    _sub(stmt, "CreDtTm", "2026-04-01T08:00:00")
    account = _sub(stmt, "Acct")
    _path(account, "Id", "IBAN", text=iban)
    _sub(account, "Ccy", "EUR")
    if opening is not None and lines:
        first, last = min(li.booking_date for li in lines), max(li.booking_date for li in lines)
        _balance(stmt, "OPBD", opening, first)
        _balance(stmt, "CLBD", opening + sum((li.amount for li in lines), Decimal(0)), last)
    for line in lines:
        entry = _sub(stmt, "Ntry")
        _sub(entry, "Amt", f"{abs(line.amount):.2f}", Ccy="EUR")
        credit = line.amount >= 0
        _sub(entry, "CdtDbtInd", "CRDT" if credit else "DBIT")
        _sub(entry, "Sts", "BOOK")
        _path(entry, "BookgDt", "Dt", text=line.booking_date.isoformat())
        _path(entry, "ValDt", "Dt", text=line.booking_date.isoformat())
        if line.reference:
            _sub(entry, "AcctSvcrRef", line.reference)
        code = _path(entry, "BkTxCd", "Domn")
        _sub(code, "Cd", "PMNT")
        family = _sub(code, "Fmly")
        _sub(family, "Cd", "RCDT" if credit else "ICDT")
        _sub(family, "SubFmlyCd", "ESCT")
        details = _path(entry, "NtryDtls", "TxDtls")
        if line.end_to_end_id:
            _path(details, "Refs", "EndToEndId", text=line.end_to_end_id)
        if line.name or line.iban:
            parties = _sub(details, "RltdPties")
            role = "Dbtr" if credit else "Cdtr"
            if line.name:
                _path(parties, role, "Nm", text=line.name)
            if line.iban:
                _path(parties, f"{role}Acct", "Id", "IBAN", text=line.iban)
        if line.text:
            _path(details, "RmtInf", "Ustrd", text=line.text[:140])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def mt940(iban: str, lines: list[Line], opening: Decimal = Decimal(0)) -> bytes:
    def amount(value: Decimal) -> str:
        return f"{abs(value):.2f}".replace(".", ",")

    day0 = min(li.booking_date for li in lines)
    out = [":20:STARTUMS", f":25:{iban}", ":28C:00001/001",
           f":60F:{'C' if opening >= 0 else 'D'}{day0:%y%m%d}EUR{amount(opening)}"]
    balance = opening
    for line in lines:
        balance += line.amount
        mark = "C" if line.amount >= 0 else "D"
        ref = line.reference or "NONREF"
        out.append(f":61:{line.booking_date:%y%m%d}{line.booking_date:%m%d}{mark}{amount(line.amount)}N166{ref}")
        text = line.text[:27]
        out.append(f":86:166?00SEPA-UEBERWEISUNG?20{text}?30COBADEFFXXX?31{line.iban}?32{line.name[:27]}")
    last = max(li.booking_date for li in lines)
    out.append(f":62F:{'C' if balance >= 0 else 'D'}{last:%y%m%d}EUR{amount(balance)}")
    out.append("-")
    return ("\r\n".join(out) + "\r\n").encode("latin-1")


def sparkasse_csv(account_iban: str, lines: list[Line]) -> bytes:
    """Sparkasse CSV-CAMT V2 layout, cp1252, dates dd.mm.yy, decimal comma."""
    header = ('"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";"Glaeubiger ID";'
              '"Mandatsreferenz";"Kundenreferenz (End-to-End)";"Sammlerreferenz";"Lastschrift Ursprungsbetrag";'
              '"Auslagenersatz Ruecklastschrift";"Beguenstigter/Zahlungspflichtiger";"Kontonummer/IBAN";'
              '"BIC (SWIFT-Code)";"Betrag";"Waehrung";"Info"')
    rows = [header]
    for li in lines:
        day = f"{li.booking_date:%d.%m.%y}"
        kind = "GUTSCHR. UEBERWEISUNG" if li.amount >= 0 else "FOLGELASTSCHRIFT"
        value = f"{li.amount:.2f}".replace(".", ",")
        rows.append(f'"{account_iban}";"{day}";"{day}";"{kind}";"{li.text}";"";"";"{li.end_to_end_id}";"";"";"";'
                    f'"{li.name}";"{li.iban}";"";"{value}";"EUR";"Umsatz gebucht"')
    return ("\r\n".join(rows) + "\r\n").encode("cp1252")


def dkb_csv(account_iban: str, lines: list[Line]) -> bytes:
    """DKB export (2023 layout): account lines above the header, UTF-8, amounts like '-1.234,56'."""
    rows = [f'"Girokonto";"{account_iban}"', '""', '"Kontostand vom 31.03.2026:";"1.000,00 €"', '""',
            '"Buchungsdatum";"Wertstellung";"Status";"Zahlungspflichtige*r";"Zahlungsempfänger*in";'
            '"Verwendungszweck";"Umsatztyp";"IBAN";"Betrag (€)";"Gläubiger-ID";"Mandatsreferenz";"Kundenreferenz"']
    for li in lines:
        day = f"{li.booking_date:%d.%m.%y}"
        incoming = li.amount >= 0
        value = f"{li.amount:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        payer, payee = (li.name, "Meine Firma") if incoming else ("Meine Firma", li.name)
        rows.append(f'"{day}";"{day}";"Gebucht";"{payer}";"{payee}";"{li.text}";'
                    f'"{"Eingang" if incoming else "Ausgang"}";"{li.iban}";"{value}";"";"";"{li.end_to_end_id}"')
    return ("\n".join(rows) + "\n").encode("utf-8")
