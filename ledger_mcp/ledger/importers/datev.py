"""DATEV EXTF Buchungsstapel (format category 21): cp1252, `;`-separated, decimal comma.

Row 1 is the header (fiscal year start, account length, date range, currency); row 2 names the
columns; every further row is one booking: Umsatz (positive, gross with a BU key), Soll/Haben-
Kennzeichen relative to Konto, Konto, Gegenkonto, BU-Schlüssel, Belegdatum (TTMM, the year taken
from the header's date range), Belegfeld 1 (the reference), Buchungstext. BU keys become the ledger's
tax codes through the DATEV key of each tax code (ledger_mcp/ledger/charts/tax_codes.csv).

Not supported (the import stops and names the row): foreign-currency rows (WKZ Umsatz other than the
header's currency), BU keys with no tax code, Generalumkehr; other columns (KOST, Skonto, ...) are
not read.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ledger_mcp.ledger.importers import SourceAccount, SourceBooks, SourceLine, SourceTransaction

# Personal accounts are one digit longer than the account length: Debitoren from 10000, Kreditoren
# from 70000 (with account length 4).
_DEBTOR, _CREDITOR = ("asset", "receivables"), ("liability", "payables")


def read(path: Path, bu_keys: dict[str, str]) -> SourceBooks:
    """`bu_keys`: DATEV BU key (digits, no leading zeros) -> tax code."""
    books = SourceBooks("datev")
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("cp1252")), delimiter=";"))
    if len(rows) < 2 or rows[0][:1] != ["EXTF"] or len(rows[0]) < 22 or rows[0][3] != "Buchungsstapel":
        books.problems.append("row 1: not a DATEV EXTF Buchungsstapel header (\"EXTF\";700;21;\"Buchungsstapel\";...)")
        return books
    header, columns = rows[0], [c.strip() for c in rows[1]]
    try:
        length = int(header[13] or 4)
        first, last = _yyyymmdd(header[14]), _yyyymmdd(header[15])
    except ValueError:
        books.problems.append("row 1: the account length or the date range (fields 14-16) cannot be read")
        return books
    currency = header[21].strip() or "EUR"
    wanted = ["Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "Konto", "Gegenkonto (ohne BU-Schlüssel)",
              "BU-Schlüssel", "Belegdatum", "Belegfeld 1", "Buchungstext", "WKZ Umsatz"]
    missing = [name for name in wanted if name not in columns]
    if missing:
        books.problems.append(f"row 2: columns missing: {', '.join(missing)}")
        return books
    at = {name: columns.index(name) for name in wanted}
    for number, row in enumerate(rows[2:], start=3):
        if not any(cell.strip() for cell in row):
            continue
        cell = {name: (row[i].strip() if i < len(row) else "") for name, i in at.items()}
        problem = _booking(books, f"row {number}", cell, length, first, last, currency, bu_keys)
        if problem:
            books.problems.append(f"row {number}: {problem}")
    return books


def _booking(books: SourceBooks, position: str, cell: dict[str, str], length: int, first: date, last: date,
             currency: str, bu_keys: dict[str, str]) -> str | None:
    try:
        amount = Decimal(cell["Umsatz (ohne Soll/Haben-Kz)"].replace(".", "").replace(",", "."))
    except InvalidOperation:
        return f"Umsatz {cell['Umsatz (ohne Soll/Haben-Kz)']!r} is not an amount"
    side = cell["Soll/Haben-Kennzeichen"].upper()
    account, contra = cell["Konto"], cell["Gegenkonto (ohne BU-Schlüssel)"]
    if side not in ("S", "H") or not account.isdigit() or not contra.isdigit() or amount <= 0:
        return "needs a positive Umsatz, S or H, and numeric Konto and Gegenkonto"
    if cell["WKZ Umsatz"] and cell["WKZ Umsatz"] != currency:
        return f"currency {cell['WKZ Umsatz']} differs from the file's {currency} (not supported)"
    key = cell["BU-Schlüssel"].lstrip("0")
    if key and key not in bu_keys:
        known = ", ".join(sorted(bu_keys))
        return f"BU-Schlüssel {cell['BU-Schlüssel']} has no tax code in this ledger (known: {known})"
    when = _belegdatum(cell["Belegdatum"], first, last)
    if when is None:
        return f"Belegdatum {cell['Belegdatum']!r} is not a TTMM date within {first} - {last}"
    for number in (account, contra):
        if number not in books.accounts:
            kind = (_DEBTOR if number[0] in "123456" else _CREDITOR) if len(number) > length else (None, None)
            books.accounts[number] = SourceAccount(number, f"DATEV {number}", kind[0], kind[1])
    debit, credit = (account, contra) if side == "S" else (contra, account)
    reference = cell["Belegfeld 1"] or None
    text = cell["Buchungstext"] or (f"DATEV {reference}" if reference else "DATEV import")
    books.transactions.append(SourceTransaction(position, when, text, reference, currency, (
        SourceLine(debit, credit, amount, bu_keys.get(key) if key else None),)))
    return None


def _yyyymmdd(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _belegdatum(text: str, first: date, last: date) -> date | None:
    """TTMM in the header's date range (which may cross a year end)."""
    if len(text) not in (3, 4) or not text.isdigit():
        return None
    text = text.zfill(4)
    for year in range(first.year, last.year + 1):
        try:
            candidate = date(year, int(text[2:]), int(text[:2]))
        except ValueError:
            continue
        if first <= candidate <= last:
            return candidate
    return None
