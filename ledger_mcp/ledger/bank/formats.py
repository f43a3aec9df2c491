"""Statement formats: CAMT.052/053/054 (ISO 20022 XML), MT940, CSV with a column mapping (presets for
German online banking exports) and JSON rows, all read into one shape, `ParsedStatement`.

A file that cannot be read at all raises STATEMENT_MALFORMED; a single bad row becomes a `RowError`
and the other rows still count. XML is parsed with entities and network access refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger_mcp.ledger.errors import LedgerError, StatementMalformed
from ledger_mcp.ledger.money import MAX_AMOUNT_UNITS, minor_units

StatementFormat = Literal["auto", "camt", "mt940", "csv", "json"]
CsvPreset = Literal["sparkasse_camt", "dkb", "commerzbank"]
MAX_TEXT = 1000


@dataclass(frozen=True)
class StatementRow:
    """One transaction as the statement states it; `amount` signed minor units, positive = money in."""

    booking_date: date
    amount: int
    currency: str
    value_date: date | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_bic: str | None = None
    remittance_information: str | None = None
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    mandate_reference: str | None = None
    creditor_id: str | None = None
    transaction_code: str | None = None


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based row (entry) number in the file
    code: str
    message: str


@dataclass
class ParsedStatement:
    format: str
    rows: list[StatementRow | RowError]
    account_iban: str | None = None
    currency: str | None = None
    statement_id: str | None = None
    opening: tuple[date, int] | None = None
    closing: tuple[date, int] | None = None


def malformed(fmt: str, message: str, hint: str = "") -> StatementMalformed:
    return StatementMalformed(f"The {fmt} statement cannot be read: {message}",
                              hint=hint or "Check that the file is a complete, unmodified export of the bank and "
                                           "that format (and for CSV the preset or mapping) is right.",
                              details={"format": fmt})


# --- values ---------------------------------------------------------------------------------------------


def signed_units(text: str, currency: str, *, decimal_comma: bool = False) -> int:
    """'-1.234,56' (decimal comma) or '-1234.56' to signed minor units; ValueError if it is not an amount."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace("€", "").replace("EUR", "")
    if decimal_comma:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
    if not re.fullmatch(r"-?[0-9]{1,15}(\.[0-9]+)?", cleaned):  # ASCII digits only
        raise ValueError(f"{text!r} is not an amount")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{text!r} is not an amount") from None
    places = minor_units(currency)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {places} decimals")
    if abs(scaled) > MAX_AMOUNT_UNITS:  # the ledger's bound, so sums over transactions stay in 64 bits
        raise ValueError(f"{text!r} exceeds the largest amount the ledger books")
    return int(scaled)


def parse_day(text: str, fmt: str | None = None) -> date:
    text = text.strip()
    if fmt:
        return datetime.strptime(text, fmt).date()
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}.*", text):
        return date.fromisoformat(text[:10])
    for pattern in ("%d.%m.%Y", "%d.%m.%y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date")


# Control, zero-width and bidirectional formatting characters: nothing a statement needs, and what hides text.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def _clean(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """Statement text is data: hidden characters removed, whitespace collapsed, length bounded."""
    if text is None:
        return None
    cleaned = " ".join(_HIDDEN.sub(" ", text).split())
    return cleaned[:limit] or None


def _iban(text: str | None) -> str | None:
    cleaned = re.sub(r"\s+", "", text or "").upper()
    return cleaned[:34] or None


# --- detection ------------------------------------------------------------------------------------------


def detect(data: bytes, filename: str | None) -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \r\n\t")
    if head.startswith(b"<"):
        return "camt"
    if head.startswith((b"[", b"{")):
        return "json"
    if b":20:" in head and (b":25:" in head or b":60F:" in head or b":60M:" in head):
        return "mt940"
    name = (filename or "").lower()
    if name.endswith((".sta", ".mt940", ".940")):
        return "mt940"
    return "csv"


def parse(data: bytes, fmt: StatementFormat, *, filename: str | None = None, default_currency: str = "EUR",
          csv_preset: CsvPreset | None = None, csv_mapping: CsvMapping | None = None) -> ParsedStatement:
    kind = detect(data, filename) if fmt == "auto" else fmt
    if kind == "camt":
        return parse_camt(data)
    if kind == "mt940":
        return parse_mt940(data, default_currency)
    if kind == "json":
        return parse_json_rows(_json(data), default_currency)
    return parse_csv(data, csv_mapping or _preset_or_refuse(csv_preset), default_currency)


def _json(data: bytes) -> list[Any]:
    try:
        rows = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise malformed("json", str(exc)) from None
    if isinstance(rows, dict):
        rows = rows.get("transactions")
    if not isinstance(rows, list):
        raise malformed("json", "expected a list of transactions (or an object with 'transactions').")
    return rows


# --- CAMT -----------------------------------------------------------------------------------------------

_PARSER_OPTIONS: dict[str, Any] = {"resolve_entities": False, "no_network": True, "load_dtd": False,
                                   "huge_tree": True, "remove_comments": True, "remove_pis": True}


@dataclass
class _Xml:
    """Paths written with {*} for the namespace, resolved once to the message's own namespace: lxml's
    wildcard search is several times slower than a qualified one."""

    namespace: str
    paths: dict[str, str]

    def q(self, path: str) -> str:
        resolved = self.paths.get(path)
        if resolved is None:
            resolved = self.paths[path] = path.replace("{*}", self.namespace)
        return resolved

    def text(self, node: Any, path: str) -> str | None:
        found = node.find(self.q(path))
        return found.text.strip() if found is not None and found.text and found.text.strip() else None


def parse_camt(data: bytes) -> ParsedStatement:
    """camt.053 (Stmt), camt.052 (Rpt) or camt.054 (Ntfctn), any version: elements are found by local
    name. Booked entries only (Sts BOOK, or no status); one row per entry, its details' texts joined."""
    from lxml import etree  # imported with the first camt statement, not when the server starts

    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise malformed("camt", f"not well-formed XML ({exc}).") from None
    if root.getroottree().docinfo.doctype:
        raise malformed("camt", "a DOCTYPE is not allowed in a bank statement.")
    namespace = etree.QName(root).namespace
    x = _Xml(f"{{{namespace}}}" if namespace else "", {})
    statements = [el for tag in ("Stmt", "Rpt", "Ntfctn") for el in root.iter(x.q(f"{{*}}{tag}"))]
    if not statements:
        raise malformed("camt", "no Stmt, Rpt or Ntfctn element; this is not a camt.052/053/054 message.")
    parsed = ParsedStatement(format="camt", rows=[])
    entries = 0
    for statement in statements:
        parsed.statement_id = parsed.statement_id or x.text(statement, "{*}Id")
        parsed.account_iban = parsed.account_iban or _iban(x.text(statement, "{*}Acct/{*}Id/{*}IBAN"))
        parsed.currency = parsed.currency or x.text(statement, "{*}Acct/{*}Ccy")
        for balance in statement.iterfind(x.q("{*}Bal")):
            _camt_balance(x, parsed, balance)
        for entry in statement.iterfind(x.q("{*}Ntry")):
            entries += 1
            try:
                parsed.rows.extend(_camt_entry(x, entry))
            except (ValueError, LedgerError) as exc:
                parsed.rows.append(RowError(entries, "INVALID_ROW", str(exc)))
    return parsed


def _camt_balance(x: _Xml, parsed: ParsedStatement, balance: Any) -> None:
    code = x.text(balance, "{*}Tp/{*}CdOrPrtry/{*}Cd")
    amount_node = balance.find(x.q("{*}Amt"))
    day = x.text(balance, "{*}Dt/{*}Dt") or x.text(balance, "{*}Dt/{*}DtTm")
    if code not in {"OPBD", "CLBD", "PRCD"} or amount_node is None or not day:
        return
    currency = amount_node.get("Ccy") or parsed.currency or "EUR"
    units = signed_units(amount_node.text or "", currency)
    if x.text(balance, "{*}CdtDbtInd") == "DBIT":
        units = -units
    if code == "CLBD":
        parsed.closing = (parse_day(day), units)
    elif parsed.opening is None:
        parsed.opening = (parse_day(day), units)


def _flatten(entry: Any, strip: int) -> tuple[dict[str, str], list[str]]:
    """One walk over an entry: the first text at each path (local names joined by '/', attributes as
    'path@name'), and every remittance text of every transaction detail. One walk costs less than a
    dozen searches."""
    found: dict[str, str] = {}
    texts: list[str] = []
    prefixes = {entry: ""}  # lxml hands out the same proxy for a node while one is held
    for node in entry.iterdescendants():
        tag = node.tag
        if not isinstance(tag, str):
            continue
        path = prefixes[node.getparent()] + tag[strip:]
        prefixes[node] = path + "/"
        text = node.text.strip() if node.text else ""
        if text:
            if path.endswith(("RmtInf/Ustrd", "/CdtrRefInf/Ref")):
                texts.append(text)
            elif path not in found:
                found[path] = text
        for name, value in node.attrib.items():
            found.setdefault(f"{path}@{name}", value)
    return found, texts


def _camt_entry(x: _Xml, entry: Any) -> list[StatementRow]:
    """The rows of one booked entry: one, or one per transaction detail of a batch booking
    (Sammelbuchung) whose details carry their own amounts adding up to the entry's."""
    strip = len(x.namespace)
    f, texts = _flatten(entry, strip)
    status = f.get("Sts") or f.get("Sts/Cd")
    if status and status != "BOOK":
        return []
    currency = f.get("Amt@Ccy")
    if not currency or "Amt" not in f:
        raise ValueError("entry without Amt and its Ccy")
    indicator = f.get("CdtDbtInd")
    if indicator not in {"CRDT", "DBIT"}:
        raise ValueError("entry without CdtDbtInd CRDT or DBIT")
    reversal = f.get("RvslInd") == "true"
    units = _signed(f["Amt"], currency, indicator, reversal)
    day = f.get("BookgDt/Dt") or f.get("BookgDt/DtTm")
    if not day:
        raise ValueError("entry without BookgDt")
    value_day = f.get("ValDt/Dt") or f.get("ValDt/DtTm")
    common = {"booking_date": parse_day(day), "value_date": parse_day(value_day) if value_day else None,
              "currency": currency,
              "transaction_code": _clean(f.get("BkTxCd/Prtry/Cd") or f.get("BkTxCd/Domn/Fmly/SubFmlyCd"), 64)}
    reference = f.get("AcctSvcrRef")
    details = entry.findall(x.q("{*}NtryDtls/{*}TxDtls"))
    if len(details) > 1:
        parts = [_flatten(detail, strip) for detail in details]
        amounts = [d.get("AmtDtls/TxAmt/Amt") or d.get("Amt") for d, _ in parts]
        if all(amounts):
            split = [_signed(str(amount), currency, d.get("CdtDbtInd") or indicator, reversal)
                     for amount, (d, _) in zip(amounts, parts, strict=True)]
            if sum(split) == units:
                return [_camt_row(d, t, "", amount, common, d.get("Refs/AcctSvcrRef") or (
                    f"{reference}/{number}" if reference else None), None)
                        for number, (amount, (d, t)) in enumerate(zip(split, parts, strict=True), start=1)]
    return [_camt_row(f, texts, "NtryDtls/TxDtls/", units, common,
                      reference or f.get("NtryDtls/TxDtls/Refs/AcctSvcrRef"), f.get("AddtlNtryInf"))]


def _signed(text: str, currency: str, indicator: str, reversal: bool) -> int:
    units = signed_units(text, currency)
    return -units if (indicator == "DBIT") != reversal else units


def _camt_row(f: dict[str, str], texts: list[str], tx: str, units: int, common: dict[str, Any],
              reference: str | None, fallback_text: str | None) -> StatementRow:
    # The counterparty is the debtor of money coming in and the creditor of money going out.
    party = "Dbtr" if units > 0 else "Cdtr"
    name = f.get(f"{tx}RltdPties/{party}/Nm") or f.get(f"{tx}RltdPties/{party}/Pty/Nm")
    bic = f.get(f"{tx}RltdAgts/{party}Agt/FinInstnId/BIC") or f.get(f"{tx}RltdAgts/{party}Agt/FinInstnId/BICFI")
    e2e = f.get(f"{tx}Refs/EndToEndId")
    return StatementRow(
        amount=units, counterparty_name=_clean(name, 200),
        counterparty_iban=_iban(f.get(f"{tx}RltdPties/{party}Acct/Id/IBAN")), counterparty_bic=_clean(bic, 11),
        remittance_information=_clean(" ".join(texts) or fallback_text), bank_reference=_clean(reference, 200),
        end_to_end_id=_clean(e2e if e2e != "NOTPROVIDED" else None, 200),
        mandate_reference=_clean(f.get(f"{tx}Refs/MndtId"), 200),
        creditor_id=_clean(f.get(f"{tx}RltdPties/Cdtr/Id/PrvtId/Othr/Id"), 64), **common)


# --- MT940 ----------------------------------------------------------------------------------------------


def parse_mt940(data: bytes, default_currency: str) -> ParsedStatement:
    """SWIFT MT940 through the `mt-940` package, with the German :86: sub-fields (?20-?29 purpose,
    ?31 BIC, ?32/?33 name, ?38 IBAN)."""
    import mt940  # loaded on first use: only MT940 imports need it

    text = _decode(data)
    try:
        transactions = mt940.models.Transactions(
            processors={"post_transaction_details": [mt940.processors.transaction_details_post_processor]},
            options=mt940.Options(applicant_iban=True, strip_bom=True))
        transactions.parse(text)
    except Exception as exc:  # the parser raises plain exceptions of many kinds on broken input
        raise malformed("mt940", f"{type(exc).__name__}: {exc}") from None
    if not transactions.data and not transactions.transactions:
        raise malformed("mt940", "no :20:/:25:/:60F: statement found.")
    parsed = ParsedStatement(format="mt940", rows=[])
    info = transactions.data
    account = str(info.get("account_identification") or "")
    parsed.account_iban = _iban(account.split("/")[0]) if re.match(r"^[A-Z]{2}\d{2}", account) else None
    parsed.statement_id = _clean(str(info.get("transaction_reference") or "") or None, 200)
    for key, target in (("final_opening_balance", "opening"), ("final_closing_balance", "closing")):
        balance = info.get(key)
        if balance is not None:
            amount = balance.amount
            parsed.currency = parsed.currency or amount.currency
            units = signed_units(str(amount.amount), amount.currency)
            day = balance.date
            setattr(parsed, target, (date(day.year, day.month, day.day), units))
    for number, transaction in enumerate(transactions.transactions, start=1):
        row = transaction.data
        try:
            amount = row["amount"]
            currency = amount.currency or parsed.currency or default_currency
            details = {k: row.get(k) for k in ("purpose", "applicant_name", "applicant_iban", "applicant_bin")}
            remittance = details["purpose"] or row.get("transaction_details")
            reference = row.get("bank_reference") or (row.get("customer_reference")
                                                      if row.get("customer_reference") not in (None, "NONREF")
                                                      else None)
            booked, valued = row.get("entry_date") or row["date"], row.get("date")
            parsed.rows.append(StatementRow(
                booking_date=date(booked.year, booked.month, booked.day),
                value_date=date(valued.year, valued.month, valued.day) if valued else None,
                amount=signed_units(str(amount.amount), currency), currency=currency,
                counterparty_name=_clean(details["applicant_name"], 200),
                counterparty_iban=_iban(details["applicant_iban"]),
                counterparty_bic=_clean(details["applicant_bin"], 11),
                remittance_information=_clean(remittance), bank_reference=_clean(reference, 200),
                transaction_code=_clean(row.get("id"), 64)))
        except (KeyError, ValueError, AttributeError, LedgerError) as exc:
            parsed.rows.append(RowError(number, "INVALID_ROW", str(exc)))
    return parsed


# --- CSV ------------------------------------------------------------------------------------------------


class CsvMapping(BaseModel):
    """Which column holds what. Column names as in the header row (matched case-insensitively)."""

    model_config = ConfigDict(frozen=True)
    booking_date: str = Field(description="Column of the booking date, e.g. 'Buchungstag'.")
    amount: str | None = Field(default=None, description="Column of the signed amount, e.g. 'Betrag'. Or give "
                                                         "credit_amount and debit_amount.")
    credit_amount: str | None = Field(default=None, description="Column of money in (when amounts are split).")
    debit_amount: str | None = Field(default=None, description="Column of money out, positive or negative.")
    value_date: str | None = Field(default=None, description="Column of value date (Valuta).")
    currency: str | None = Field(default=None, description="Column of the currency; default the account's.")
    counterparty_name: str | None = Field(default=None, description="Column of the counterparty; 'A|B': payer "
                                                                    "column A for money in, payee B for money out.")
    counterparty_iban: str | None = Field(default=None, description="Column of the counterparty's IBAN.")
    counterparty_bic: str | None = Field(default=None, description="Column of the counterparty's BIC.")
    remittance_information: str | None = Field(default=None, description="Column of the purpose text "
                                                                         "(Verwendungszweck).")
    bank_reference: str | None = Field(default=None, description="Column of the bank's reference.")
    end_to_end_id: str | None = Field(default=None, description="Column of the SEPA end-to-end id.")
    mandate_reference: str | None = Field(default=None, description="Column of the SEPA mandate reference.")
    creditor_id: str | None = Field(default=None, description="Column of the SEPA creditor id.")
    transaction_code: str | None = Field(default=None, description="e.g. 'Buchungstext' (Gutschrift, "
                                                                   "Lastschrift, ...).")
    delimiter: str = Field(default=";", min_length=1, max_length=1, description="Column separator.")
    decimal_comma: bool = Field(default=True, description="Amounts like '1.234,56' (German exports).")
    date_format: str | None = Field(default=None, description="strptime format, e.g. '%d.%m.%y'; default: "
                                                              "ISO or dd.mm.yyyy / dd.mm.yy.")
    encoding: str | None = Field(default=None, description="Default: UTF-8, else cp1252.")


PRESETS: dict[str, CsvMapping] = {
    # Sparkasse "CSV-CAMT" export (CSV-CAMT V2): cp1252, dates dd.mm.yy.
    "sparkasse_camt": CsvMapping(
        booking_date="Buchungstag", value_date="Valutadatum", amount="Betrag", currency="Waehrung",
        counterparty_name="Beguenstigter/Zahlungspflichtiger", counterparty_iban="Kontonummer/IBAN",
        counterparty_bic="BIC (SWIFT-Code)", remittance_information="Verwendungszweck",
        end_to_end_id="Kundenreferenz (End-to-End)", mandate_reference="Mandatsreferenz",
        creditor_id="Glaeubiger ID", transaction_code="Buchungstext"),
    # DKB export since 2023: a few lines of account data above the header, amounts in a "Betrag (€)" column.
    "dkb": CsvMapping(
        booking_date="Buchungsdatum", value_date="Wertstellung", amount="Betrag (€)",
        counterparty_name="Zahlungspflichtige*r|Zahlungsempfänger*in", counterparty_iban="IBAN",
        remittance_information="Verwendungszweck", end_to_end_id="Kundenreferenz",
        mandate_reference="Mandatsreferenz", creditor_id="Gläubiger-ID", transaction_code="Umsatztyp"),
    # Commerzbank-style export: dd.mm.yyyy, one purpose column.
    "commerzbank": CsvMapping(
        booking_date="Buchungstag", value_date="Wertstellung", amount="Betrag", currency="Währung",
        remittance_information="Buchungstext", counterparty_iban="IBAN Auftraggeberkonto",
        transaction_code="Umsatzart"),
}


def _preset_or_refuse(preset: str | None) -> CsvMapping:
    if preset is None:
        raise malformed("csv", "a CSV statement needs csv_preset or csv_mapping.",
                        hint=f"Pass csv_preset ({', '.join(PRESETS)}) or csv_mapping naming the columns.")
    return PRESETS[preset]


def _decode(data: bytes, encoding: str | None = None) -> str:
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise malformed("csv", f"not readable as {encoding}: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_csv(data: bytes, mapping: CsvMapping, default_currency: str) -> ParsedStatement:
    lines = _decode(data, mapping.encoding).splitlines()
    wanted = {name.strip().lower() for name in mapping.booking_date.split("|")}
    header_at = next((i for i, line in enumerate(lines[:30])
                      if wanted & {c.strip().strip('"').lower() for c in line.split(mapping.delimiter)}), None)
    if header_at is None:
        raise malformed("csv", f"no header row with the column {mapping.booking_date!r} in the first 30 lines.",
                        hint="Check csv_preset/csv_mapping and the delimiter against the file's header row.")
    reader = csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=mapping.delimiter)
    header = [h.strip().lower() for h in next(reader)]

    def column(spec: str | None) -> list[int]:
        if not spec:
            return []
        return [header.index(n.strip().lower()) for n in spec.split("|") if n.strip().lower() in header]

    fields = {name: column(getattr(mapping, name)) for name in (
        "booking_date", "amount", "credit_amount", "debit_amount", "value_date", "currency", "counterparty_name",
        "counterparty_iban", "counterparty_bic", "remittance_information", "bank_reference", "end_to_end_id",
        "mandate_reference", "creditor_id", "transaction_code")}
    if not fields["amount"] and not (fields["credit_amount"] or fields["debit_amount"]):
        raise malformed("csv", "the mapping's amount column(s) are not in the header row.",
                        hint=f"Header columns: {', '.join(header)}.")
    for name in ("value_date", "counterparty_name", "counterparty_iban", "remittance_information"):
        if getattr(mapping, name) and not fields[name]:
            raise malformed("csv", f"the {name} column {getattr(mapping, name)!r} is not in the header row.",
                            hint=f"Header columns: {', '.join(header)}.")
    parsed = ParsedStatement(format="csv", rows=[])
    for number, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        try:
            parsed.rows.append(_csv_row(cells, fields, mapping, default_currency))
        except (ValueError, IndexError, LedgerError) as exc:
            parsed.rows.append(RowError(number, "INVALID_ROW", str(exc)))
    return parsed


def _csv_row(cells: list[str], fields: dict[str, list[int]], mapping: CsvMapping, default_currency: str
             ) -> StatementRow:
    def get(name: str) -> str | None:
        for index in fields[name]:
            if index < len(cells) and cells[index].strip():
                return cells[index].strip()
        return None

    currency = (get("currency") or default_currency).upper()
    if fields["amount"]:
        raw = get("amount")
        if raw is None:
            raise ValueError("no amount")
        units = signed_units(raw, currency, decimal_comma=mapping.decimal_comma)
    else:
        credit, debit = get("credit_amount"), get("debit_amount")
        units = (abs(signed_units(credit, currency, decimal_comma=mapping.decimal_comma)) if credit else 0) - (
            abs(signed_units(debit, currency, decimal_comma=mapping.decimal_comma)) if debit else 0)
    day = get("booking_date")
    if day is None:
        raise ValueError("no booking date")
    value_day = get("value_date")
    names = fields["counterparty_name"]
    if len(names) == 2:  # payer's column for money in, payee's for money out
        index = names[0] if units >= 0 else names[1]
        fields = {**fields, "counterparty_name": [index]}
    return StatementRow(
        booking_date=parse_day(day, mapping.date_format), amount=units, currency=currency,
        value_date=parse_day(value_day, mapping.date_format) if value_day else None,
        counterparty_name=_clean(get("counterparty_name"), 200), counterparty_iban=_iban(get("counterparty_iban")),
        counterparty_bic=_clean(get("counterparty_bic"), 11),
        remittance_information=_clean(get("remittance_information")),
        bank_reference=_clean(get("bank_reference"), 200), end_to_end_id=_clean(get("end_to_end_id"), 200),
        mandate_reference=_clean(get("mandate_reference"), 200), creditor_id=_clean(get("creditor_id"), 64),
        transaction_code=_clean(get("transaction_code"), 64))


# --- JSON rows ------------------------------------------------------------------------------------------


class JsonRow(BaseModel):
    """One transaction given as data."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    booking_date: str = Field(description="YYYY-MM-DD")
    amount: str = Field(description="Signed decimal string: '119.00' money in, '-42.50' money out.")
    currency: str | None = Field(default=None, description="Default: the bank account's currency.")
    value_date: str | None = Field(default=None, description="Value date (Valuta), YYYY-MM-DD.")
    counterparty_name: str | None = Field(default=None, description="Payer or payee.")
    counterparty_iban: str | None = Field(default=None, description="Their IBAN.")
    counterparty_bic: str | None = Field(default=None, description="Their BIC.")
    remittance_information: str | None = Field(default=None, description="Purpose text (Verwendungszweck).")
    bank_reference: str | None = Field(default=None, description="The bank's own reference; identifies the "
                                                                 "transaction across imports.")
    end_to_end_id: str | None = Field(default=None, description="SEPA end-to-end id.")
    mandate_reference: str | None = Field(default=None, description="SEPA mandate reference.")
    creditor_id: str | None = Field(default=None, description="SEPA creditor id.")
    transaction_code: str | None = Field(default=None, description="e.g. Lastschrift, Gutschrift.")


def parse_json_rows(rows: Iterable[Any], default_currency: str) -> ParsedStatement:
    parsed = ParsedStatement(format="json", rows=[])
    for number, raw in enumerate(rows, start=1):
        try:
            row = raw if isinstance(raw, JsonRow) else JsonRow.model_validate(raw)
            currency = (row.currency or default_currency).upper()
            parsed.rows.append(StatementRow(
                booking_date=parse_day(row.booking_date), amount=signed_units(row.amount, currency), currency=currency,
                value_date=parse_day(row.value_date) if row.value_date else None,
                counterparty_name=_clean(row.counterparty_name, 200), counterparty_iban=_iban(row.counterparty_iban),
                counterparty_bic=_clean(row.counterparty_bic, 11),
                remittance_information=_clean(row.remittance_information),
                bank_reference=_clean(row.bank_reference, 200), end_to_end_id=_clean(row.end_to_end_id, 200),
                mandate_reference=_clean(row.mandate_reference, 200), creditor_id=_clean(row.creditor_id, 64),
                transaction_code=_clean(row.transaction_code, 64)))
        except ValidationError as exc:
            message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            parsed.rows.append(RowError(number, "INVALID_ROW", message[:300]))
            continue
        except (ValueError, LedgerError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            parsed.rows.append(RowError(number, "INVALID_ROW", message[:300]))
    return parsed
