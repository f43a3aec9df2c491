"""Beancount files, read with the beancount library (its loader: includes, plugins, interpolation).

Booked: transactions whose postings are in one commodity, without cost or price (`{...}`, `@`).
Pad entries the loader generates are booked like transactions. Not booked: prices, balance
assertions (checked by bean-check, not here), notes, documents, events; a transaction with costs,
prices or several commodities is a problem that stops the import.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from ledger_mcp.ledger.importers import NamedAccounts, SourceBooks, SourceTransaction, one_sided


def read(path: Path, account_map: dict[str, str]) -> SourceBooks:
    os.environ.setdefault("BEANCOUNT_DISABLE_LOAD_CACHE", "1")  # no pickle cache beside the user's file
    from beancount import loader
    from beancount.core import data

    entries, errors, _ = loader.load_file(str(path))
    books = SourceBooks("beancount")
    books.problems += [f"{_where(e.source)}: {e.message}" for e in errors]
    accounts = NamedAccounts(books, account_map)
    for entry in entries:
        if not isinstance(entry, data.Transaction):
            continue
        position = _where(entry.meta)
        commodities = {p.units.currency for p in entry.postings if p.units is not None}
        if len(commodities) != 1 or any(p.cost is not None or p.price is not None or p.units is None
                                        or p.units.number is None for p in entry.postings):
            books.problems.append(f"{position}: costs, prices or several commodities in one transaction are not "
                                  "supported")
            continue
        postings: list[tuple[str, Decimal]] = []
        for posting in entry.postings:
            number = accounts.number(posting.account, position)
            if number is not None and posting.units is not None and posting.units.number is not None:
                postings.append((number, Decimal(posting.units.number)))
        text = " | ".join(t for t in (entry.payee, entry.narration) if t) or "Beancount import"
        books.transactions.append(SourceTransaction(
            position, entry.date, text[:500], sorted(entry.links)[0] if entry.links else None, commodities.pop(),
            one_sided(postings)))
    return books


def _where(meta: object) -> str:
    if isinstance(meta, dict):
        return f"{Path(str(meta.get('filename', '?'))).name}:{meta.get('lineno', '?')}"
    return "?"
