"""hledger / ledger-cli journals: the common subset, read without either program.

Supported: transactions `DATE [=DATE2] [*|!] [(CODE)] DESCRIPTION [; comment]` (dates YYYY-MM-DD,
YYYY/MM/DD or YYYY.MM.DD), indented postings `ACCOUNT  AMOUNT` separated by two spaces or a tab,
one posting per transaction without an amount (it takes the balance), amounts as `10.00 EUR`,
`EUR 10.00`, `€10.00`, `$10`, `-1,234.56 EUR` (one commodity per transaction), balance assertions
(`= AMOUNT`, ignored), comments (`;`, `#`, `*` at the start of a line; `;` after content), and the
directives `account`, `commodity`, `payee`, `tag`, `D` and `P` (skipped).

Not supported (the import stops and names the line): prices and costs (`@`, `@@`, `{...}`), virtual
postings (`(account)`, `[account]`), `include`, `alias`, automated (`=`) and periodic (`~`)
transactions, other directives, and several commodities in one transaction.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ledger_mcp.ledger.importers import NamedAccounts, SourceBooks, SourceTransaction, one_sided

_HEADER = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:=\S+)?\s*(?:([*!])\s*)?(?:\(([^)]*)\)\s*)?(.*)$")
_SKIPPED = ("account", "commodity", "payee", "tag", "D ", "P ", "decimal-mark", "end ", "apply ")
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_AMOUNT = re.compile(r"^(?P<pre>[^\d\s.,+-]*)\s*(?P<num>[-+]?[\d.,]+)\s*(?P<post>[^\d\s.,]*)$")
_SIGNED_PREFIX = re.compile(r"^-\s*(?P<pre>[^\d\s.,+-]+)\s*(?P<num>[\d.,]+)$")


def read(path: Path, account_map: dict[str, str]) -> SourceBooks:
    books = SourceBooks("journal")
    accounts = NamedAccounts(books, account_map)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        text = raw.rstrip()
        if not text or text[0] in ";#*%|" or text.startswith(_SKIPPED) or text.startswith("    ;"):
            continue
        if text[0].isspace():
            if not text.strip().startswith(";"):
                books.problems.append(f"line {i}: a posting outside a transaction")
            continue
        header = _HEADER.match(text)
        if header is None:
            books.problems.append(f"line {i}: not supported: {text[:60]!r}")
            continue
        start = i
        postings: list[tuple[str, str]] = []
        while i < len(lines) and lines[i][:1] in (" ", "\t"):
            body = lines[i].split(";", 1)[0].strip()
            i += 1
            if body:
                postings.append((f"line {i}", body))
        _transaction(books, accounts, header, f"line {start}", postings)
    return books


def _transaction(books: SourceBooks, accounts: NamedAccounts, header: re.Match[str], position: str,
                 postings: list[tuple[str, str]]) -> None:
    year, month, day, _, code, description = header.groups()
    try:
        when = date(int(year), int(month), int(day))
    except ValueError:
        books.problems.append(f"{position}: invalid date")
        return
    signed: list[tuple[str, Decimal | None]] = []
    commodities: set[str] = set()
    for where, body in postings:
        parts = re.split(r"\t|\s{2,}", body, maxsplit=1)
        name, amount_text = parts[0].strip(), (parts[1].split("=", 1)[0].strip() if len(parts) > 1 else "")
        if name[:1] in "([" or any(mark in amount_text for mark in ("@", "{")):
            books.problems.append(f"{where}: virtual postings, prices and costs are not supported")
            return
        number = accounts.number(name, where)
        if number is None:
            return
        if not amount_text:
            signed.append((number, None))
            continue
        parsed = _amount(amount_text)
        if parsed is None:
            books.problems.append(f"{where}: cannot read the amount {amount_text!r}")
            return
        signed.append((number, parsed[0]))
        if parsed[1]:
            commodities.add(parsed[1])
    if len(commodities) > 1:
        books.problems.append(f"{position}: several commodities in one transaction are not supported")
        return
    open_ = [n for n, a in signed if a is None]
    total = sum((a for _, a in signed if a is not None), Decimal(0))
    if len(open_) > 1 or (not open_ and total != 0):
        books.problems.append(f"{position}: the postings do not balance ({total})")
        return
    resolved = [(n, -total if a is None else a) for n, a in signed]
    books.transactions.append(SourceTransaction(
        position, when, description.split(";", 1)[0].strip()[:500] or "Journal import", code or None,
        commodities.pop() if commodities else None, one_sided(resolved)))


def _amount(text: str) -> tuple[Decimal, str | None] | None:
    """(signed amount, commodity or None) of `10.00 EUR`, `EUR -10`, `-€10.00`, `1,234.56`."""
    flat = text.replace(" ", "") if text[:1] in _SYMBOLS or text[1:2] in _SYMBOLS else text
    negative = _SIGNED_PREFIX.match(flat)
    found = _AMOUNT.match(flat) if negative is None else negative
    if found is None:
        return None
    commodity = (found.group("pre") or found.groupdict().get("post") or "").strip('"') or None
    number = found.group("num").replace(",", "") if "." in found.group("num") else found.group("num").replace(",", ".")
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    return (-value if negative else value), (_SYMBOLS.get(commodity, commodity) if commodity else None)
