"""Moving existing books in: Beancount files, hledger/ledger journals and DATEV EXTF Buchungsstapel.

Each reader turns a file into `SourceBooks`: transactions of one currency each, with positive
amounts on a debit or a credit side, and the accounts they name with a type guessed from the
source. `importer.import_books` then books them through the bulk write path.

Account names: the ledger's accounts are numbers (SKR03/SKR04). A DATEV file names them directly;
in Beancount and ledger files the account's number is the first number in its name, read from the
leaf up (`Expenses:4930-Buerobedarf`, `Assets:Bank:1200`), or given by an account map (CSV
`source_account,number`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from ledger_mcp.ledger import chain
from ledger_mcp.ledger.errors import ValidationFailed

# Beancount's and ledger's account roots, and the account type each implies.
ROOT_TYPES = {"assets": "asset", "liabilities": "liability", "equity": "equity", "income": "revenue",
              "revenue": "revenue", "revenues": "revenue", "expenses": "expense", "expense": "expense"}
_NUMBER = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")


@dataclass(frozen=True)
class SourceLine:
    """One side or both sides of a posting: a positive amount moved from `credit` to `debit`."""

    debit: str | None
    credit: str | None
    amount: Decimal
    tax_code: str | None = None


@dataclass(frozen=True)
class SourceTransaction:
    """One transaction of the source file. `position`: where it is (for messages); `key`: derived from
    its content and its occurrence among identical transactions, the same on every run."""

    position: str
    booking_date: date
    description: str
    reference: str | None
    currency: str | None
    lines: tuple[SourceLine, ...]
    key: str = ""


@dataclass(frozen=True)
class SourceAccount:
    """An account the source names: our number, the source's name and the type guessed from it
    (None: guessed later from the ledger's neighbouring account)."""

    number: str
    name: str
    type: str | None
    category: str | None = None


@dataclass
class SourceBooks:
    """What a reader found: transactions in file order, the accounts they name, and what it could not
    read (each with its position); an import with problems writes nothing."""

    format: str
    transactions: list[SourceTransaction] = field(default_factory=list)
    accounts: dict[str, SourceAccount] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def with_keys(books: SourceBooks, source: str) -> SourceBooks:
    """Give every transaction its idempotency key: `import:<hash of its content>:<occurrence>`, so the
    same file (or the same transactions in a longer file) imports nothing twice."""
    seen: dict[str, int] = {}
    keyed = []
    for t in books.transactions:
        content = chain.sha256_hex(chain.canonical_json([
            source, t.booking_date.isoformat(), t.description, t.reference, t.currency,
            [[line.debit, line.credit, str(line.amount), line.tax_code] for line in t.lines]]))[:40]
        seen[content] = seen.get(content, 0) + 1
        keyed.append(SourceTransaction(t.position, t.booking_date, t.description, t.reference, t.currency, t.lines,
                                       f"import:{content}:{seen[content]}"))
    books.transactions = keyed
    return books


def read_account_map(path: Path | None) -> dict[str, str]:
    """source account name -> account number, from a CSV file with the columns source_account,number."""
    if path is None:
        return {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"source_account", "number"} <= set(rows[0]):
        raise ValidationFailed(f"{path} needs the columns source_account,number.",
                               hint="One row per source account, e.g. Expenses:Office,4930.")
    return {row["source_account"].strip(): row["number"].strip() for row in rows}


class NamedAccounts:
    """Source account names turned into account numbers, remembering the names and guessed types."""

    def __init__(self, books: SourceBooks, account_map: dict[str, str]) -> None:
        self.books = books
        self.account_map = account_map

    def number(self, name: str, position: str) -> str | None:
        number = self.account_map.get(name) or _number_in(name)
        if number is None:
            self.books.problems.append(f"{position}: account {name!r} has no account number in its name "
                                       "(e.g. Expenses:4930-Office) and is not in the account map")
            return None
        if number not in self.books.accounts:
            root = name.split(":", 1)[0].strip().lower()
            self.books.accounts[number] = SourceAccount(number, name, ROOT_TYPES.get(root))
        return number


def _number_in(name: str) -> str | None:
    for part in reversed(name.split(":")):
        found = _NUMBER.search(part)
        if found:
            return found.group(1)
    return None


def one_sided(postings: list[tuple[str, Decimal]]) -> tuple[SourceLine, ...]:
    """Signed postings (positive = debit) as one-sided lines; zero postings are left out."""
    return tuple(SourceLine(account, None, amount, None) if amount > 0 else SourceLine(None, account, -amount, None)
                 for account, amount in postings if amount != 0)
