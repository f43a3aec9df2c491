"""A validator for DATEV EXTF files (Buchungsstapel and Debitoren/Kreditoren), built from DATEV's
published format rules; every export is checked with it before it leaves the ledger.

It reads the bytes as DATEV does: cp1252, CRLF line ends, `;` between fields, text in double quotes
(inner quotes doubled), numbers unquoted. Row 1 is the header (31 fields), row 2 the column headings,
then one record per row. Every field is checked against its column's pattern (datev_format), and the
rules that span fields: amounts not zero, account numbers no longer than the Sachkontenlänge (a
personal account exactly one digit longer: Debitoren 1..., up to 6..., Kreditoren 7... to 9...),
Konto and Gegenkonto different, Belegdatum inside the header's date range, currency fields complete
(Kurs with a foreign WKZ Umsatz; Basis-Umsatz with its WKZ), unique accounts in master data, and
no text written as UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.exports import datev_format as fmt

MAX_PROBLEMS = 20


class DatevFileInvalid(LedgerError):
    """An export that breaks DATEV's format rules (a defect of the export, never of the caller's input)."""

    code = "DATEV_FORMAT_INVALID"


def validate_file(path: Path) -> None:
    """Raise DatevFileInvalid naming the first problems, if there are any."""
    with path.open("rb") as handle:
        found = problems(handle)
    if found:
        raise DatevFileInvalid(
            f"The DATEV file {path.name} breaks the format in {len(found)} place(s): {found[0]}",
            hint="This is a defect of the export, not of your call; report it with the details.",
            details={"problems": found[:MAX_PROBLEMS]})


def problems(raw_lines: Iterable[bytes]) -> list[str]:
    """Every rule a DATEV file breaks, as 'row N, field: what' messages (at most MAX_PROBLEMS)."""
    out: list[str] = []
    state: dict[str, object] = {}
    for number, raw in enumerate(raw_lines, start=1):
        if len(out) >= MAX_PROBLEMS:
            break
        if not raw.endswith(b"\r\n"):
            if raw.endswith(b"\n") or number == 1 or raw.strip():
                out.append(f"row {number}: does not end with CRLF")
            line_bytes = raw.rstrip(b"\r\n")
        else:
            line_bytes = raw[:-2]
        if b"\r" in line_bytes:
            out.append(f"row {number}: a bare CR inside the row")
        try:
            line = line_bytes.decode(fmt.ENCODING)
        except UnicodeDecodeError as exc:
            out.append(f"row {number}: not cp1252 ({exc.reason} at byte {exc.start})")
            continue
        if not line_bytes.isascii() and _is_utf8(line_bytes):
            out.append(f"row {number}: the text is UTF-8, DATEV reads cp1252")
        try:
            fields = split(line)
        except ValueError as exc:
            out.append(f"row {number}: {exc}")
            continue
        if number == 1:
            out += _header(fields, state)
        elif number == 2:
            columns = state.get("columns")
            if isinstance(columns, tuple) and line != fmt.heading(columns):
                out.append("row 2: the column headings are not those of the format")
        else:
            out += _record(number, fields, state)
    else:
        if "columns" not in state and not out:
            out.append("row 1: the file is empty")
    return out[:MAX_PROBLEMS]


def _is_utf8(data: bytes) -> bool:
    """Non-ASCII bytes that form valid UTF-8: umlauts written as UTF-8 (cp1252 text almost never does)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def split(line: str) -> list[tuple[str, bool]]:
    """Fields of one row as (value, was quoted)."""
    fields: list[tuple[str, bool]] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            value, i = [], i + 1
            while True:
                j = line.find('"', i)
                if j < 0:
                    raise ValueError("a quoted field is not closed")
                value.append(line[i:j])
                if j + 1 < n and line[j + 1] == '"':
                    value.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            fields.append(("".join(value), True))
            if i < n and line[i] != ";":
                raise ValueError(f"text after a closing quote at column {i + 1}")
        else:
            j = line.find(";", i)
            j = n if j < 0 else j
            value_text = line[i:j]
            if '"' in value_text:
                raise ValueError(f"a quote inside an unquoted field at column {i + 1}")
            fields.append((value_text, False))
            i = j
        if i >= n:
            return fields
        i += 1  # the separator


def _fields(row: int, columns: tuple[fmt.Column, ...], fields: list[tuple[str, bool]],
            what: str) -> tuple[list[str], list[str]]:
    if len(fields) != len(columns):
        return [], [f"row {row}: {len(fields)} fields, the {what} has {len(columns)}"]
    out = []
    for column, (value, quoted) in zip(columns, fields, strict=True):
        if value and quoted != column.text:
            wrong = "text must be quoted" if column.text else "a number is not quoted"
            out.append(f"row {row}, {column.name}: {wrong}")
        problem = column.check(value)
        if problem:
            out.append(f"row {row}, {column.name}: {problem}")
    return [v for v, _ in fields], out


def _header(fields: list[tuple[str, bool]], state: dict[str, object]) -> list[str]:
    values, out = _fields(1, fmt.HEADER_COLUMNS, fields, "header")
    if not values:
        return out
    category = (int(values[2]) if values[2].isdigit() else 0, values[3], int(values[4]) if values[4].isdigit() else 0)
    if category not in (fmt.BOOKINGS, fmt.PARTIES):
        return [*out, f"row 1: format {category} is neither {fmt.BOOKINGS} nor {fmt.PARTIES}"]
    state["columns"] = fmt.BOOKING_COLUMNS if category == fmt.BOOKINGS else fmt.PARTY_COLUMNS
    state["length"] = int(values[13]) if values[13].isdigit() else 4
    if category == fmt.BOOKINGS:
        try:
            start = date(int(values[14][:4]), int(values[14][4:6]), int(values[14][6:]))
            end = date(int(values[15][:4]), int(values[15][4:6]), int(values[15][6:]))
            fiscal = date(int(values[12][:4]), int(values[12][4:6]), int(values[12][6:]))
        except ValueError:
            return [*out, "row 1, Datum vom/Datum bis/WJ-Beginn: not dates (YYYYMMDD)"]
        if start > end:
            out.append("row 1, Datum vom: after Datum bis")
        if not fiscal <= start or end >= date(fiscal.year + 1, fiscal.month, 1):
            out.append("row 1: Datum vom..Datum bis must lie in the fiscal year starting at WJ-Beginn")
        state["span"] = (start, end)
        state["currency"] = values[21]
        state["fixed"] = values[20]
        for index, name in ((18, "Buchungstyp"), (19, "Rechnungslegungszweck"), (20, "Festschreibung"),
                            (21, "WKZ")):
            if not values[index]:
                out.append(f"row 1, {name}: is required in a Buchungsstapel")
    return out


def _account(row: int, name: str, value: str, length: int) -> list[str]:
    if not value.isdigit():
        return []
    if len(value) > length + 1:
        return [f"row {row}, {name}: {value} is longer than the Sachkontenlänge {length} + 1"]
    if len(value) == length + 1 and value[0] == "0":
        return [f"row {row}, {name}: personal account {value} starts with 0"]
    return []


def _record(row: int, fields: list[tuple[str, bool]], state: dict[str, object]) -> list[str]:
    columns = state.get("columns")
    if not isinstance(columns, tuple):
        return [f"row {row}: no valid header"]
    values, out = _fields(row, columns, fields, "format")
    if not values:
        return out
    length = int(state.get("length", 4))  # type: ignore[call-overload]
    v = dict(zip((c.name for c in columns), values, strict=False))
    if columns is fmt.PARTY_COLUMNS:
        seen = state.setdefault("accounts", set())
        assert isinstance(seen, set)
        if v["Konto"] in seen:
            out.append(f"row {row}, Konto: {v['Konto']} appears twice")
        seen.add(v["Konto"])
        if v["Konto"].isdigit() and len(v["Konto"]) != length + 1:
            out.append(f"row {row}, Konto: a personal account has {length + 1} digits, not {len(v['Konto'])}")
        if bool(v["EU-Mitgliedstaat"]) != bool(v["EU-USt-IdNr."]):
            out.append(f"row {row}, EU-USt-IdNr.: needs EU-Mitgliedstaat and the number together")
        return out
    return out + _booking_rules(row, v, length, state)


def _booking_rules(row: int, v: dict[str, str], length: int, state: dict[str, object]) -> list[str]:
    out: list[str] = []
    amount, konto, gegen = v["Umsatz (ohne Soll/Haben-Kz)"], v["Konto"], v["Gegenkonto (ohne BU-Schlüssel)"]
    if amount and amount.strip("0,") == "":
        out.append(f"row {row}, Umsatz: must not be zero")
    out += _account(row, "Konto", konto, length) + _account(row, "Gegenkonto", gegen, length)
    if konto and konto == gegen:
        out.append(f"row {row}, Gegenkonto: equals Konto {konto}")
    if v["Festschreibung"] and v["Festschreibung"] != state.get("fixed"):
        # One row with 1 fixes the whole batch: rows and header must agree.
        out.append(f"row {row}, Festschreibung: {v['Festschreibung']} differs from the header's "
                   f"{state.get('fixed')!r}; locked and open periods belong in separate files")
    span = state.get("span")
    day = v["Belegdatum"]
    if isinstance(span, tuple) and len(day) == 4 and day.isdigit():
        start, end = span
        try:
            when = date(start.year, int(day[2:]), int(day[:2]))
        except ValueError:
            out.append(f"row {row}, Belegdatum: {day} is no day of {start.year}")
        else:
            if not start <= when <= end:
                out.append(f"row {row}, Belegdatum: {when} outside {start}..{end} of the header")
    rate, base, base_currency, currency = v["Kurs"], v["Basis-Umsatz"], v["WKZ Basis-Umsatz"], v["WKZ Umsatz"]
    if rate:
        if rate.strip("0,") == "":
            out.append(f"row {row}, Kurs: must not be zero")
        if not currency or currency == (base_currency or state.get("currency")):
            out.append(f"row {row}, Kurs: needs a foreign WKZ Umsatz")
        if not base:
            out.append(f"row {row}, Basis-Umsatz: required with a Kurs")
    if bool(base) != bool(base_currency):
        out.append(f"row {row}, Basis-Umsatz: needs WKZ Basis-Umsatz and the amount together")
    if rate and base and amount and rate.strip("0,"):
        expected = Decimal(amount.replace(",", ".")) / Decimal(rate.replace(",", "."))
        given = Decimal(base.replace(",", "."))
        if abs(expected - given) > max(Decimal("0.05"), given * Decimal("0.001")):
            out.append(f"row {row}, Basis-Umsatz: {base} is not Umsatz {amount} / Kurs {rate}")
    return out
