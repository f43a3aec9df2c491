"""The journal as a Beancount file, so that the books can be taken to plain-text accounting tools.

- Accounts: `Assets:1200-Bank` style, the root from the account type, then the number and the name
  (ASCII, CamelCase); each is opened on the journal's first day.
- One transaction per intent, in journal order: narration the intent's description, the tag of its
  category (#booking, #opening_balance, #reversal, ...), the link `^intent-<id>` (a Storno carries
  the original's link as well, so the pair is found together) and the intent id as metadata.
- Each journal line is two postings. A foreign-currency line is posted in its currency at the total
  price of its base amount (`100.00 USD @@ 92.11 EUR`), so each account's weight in the base currency
  is exactly ours.
- A `balance` assertion the day after the last booking for every account booked only in the base
  currency: `bean-check` then confirms the balances equal the ledger's.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import date, timedelta
from typing import IO, Any

from sqlalchemy import func, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.exports.files import ExportFile, Progress, temporary_file
from ledger_mcp.ledger.exports.pages import intent_pages
from ledger_mcp.ledger.journal import date_range
from ledger_mcp.ledger.models import Account, Intent, JournalLine
from ledger_mcp.ledger.money import format_amount

MIME = "text/plain; charset=utf-8"
ROOTS = {"asset": "Assets", "liability": "Liabilities", "equity": "Equity", "revenue": "Income",
         "expense": "Expenses"}


def account_name(number: str, name: str, type_: str) -> str:
    """`Expenses:4930-Buerobedarf`: Beancount wants each component to start with a capital or a digit
    and to hold letters, digits and dashes only."""
    ascii_name = unicodedata.normalize("NFKD", name.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe")
                                       .replace("ü", "ue").replace("Ä", "Ae").replace("Ö", "Oe")
                                       .replace("Ü", "Ue")).encode("ascii", "ignore").decode()
    words = [w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", ascii_name) if w]
    slug = "".join(words)[:48]
    return f"{ROOTS.get(type_, 'Equity')}:{number}" + (f"-{slug}" if slug else "")


def _string(text: str) -> str:
    return '"' + " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


async def beancount_export(session: AsyncSession, end_date: str | None = None,
                           progress: Progress | None = None) -> ExportFile:
    """The journal up to end_date (the whole journal without one)."""
    _, end = date_range(None, end_date)
    base = (await read_meta(session))["base_currency"]
    used: Any = union_all(select(col(JournalLine.debit_account).label("n")), select(col(JournalLine.credit_account)))
    numbers = set((await session.exec(select(used.subquery().c.n).distinct())).all())
    accounts = {a.number: account_name(a.number, a.name, a.type)
                for a in (await session.exec(select(Account).where(col(Account.number).in_(numbers)))).all()}
    bounds = select(func.min(JournalLine.booking_date), func.max(JournalLine.booking_date))
    if end:
        bounds = bounds.where(col(JournalLine.booking_date) <= end)
    first, last = (await session.exec(bounds)).one()
    in_range = select(func.count()).select_from(JournalLine)
    total = (await session.exec(in_range.where(col(JournalLine.booking_date) <= end) if end else in_range)).one()
    done_lines = 0
    path, handle = temporary_file(".beancount")
    count = 0
    with handle:
        _write(handle, f'option "title" "ledger-mcp journal"\noption "operating_currency" "{base}"\n')
        if first is not None:
            for number in sorted(accounts):
                _write(handle, f"{first.isoformat()} open {accounts[number]}")
            _write(handle, "")
        totals: dict[str, int] = defaultdict(int)
        foreign: set[str] = set()
        conditions = (col(JournalLine.booking_date) <= end,) if end else ()
        async for groups in intent_pages(session, *conditions):
            ids = {group[0].intent_id for group in groups}
            intents = {i.id: i for i in (await session.exec(select(Intent).where(col(Intent.id).in_(ids)))).all()}
            for group in groups:
                _transaction(handle, intents[group[0].intent_id], group, accounts, base)
                count += 1
                for li in group:
                    totals[li.debit_account] += li.base_amount
                    totals[li.credit_account] -= li.base_amount
                    if li.currency != base:
                        foreign.update((li.debit_account, li.credit_account))
                done_lines += len(group)
            if progress:
                await progress(done_lines, total, f"{done_lines} of {total} journal lines exported")
        if last is not None:
            check_day: date = last + timedelta(days=1)
            for number in sorted(accounts):
                if number not in foreign:
                    _write(handle, f"{check_day.isoformat()} balance {accounts[number]}  "
                                   f"{_signed(totals[number], base)} {base}")
    return ExportFile(f"ledger-{(end or last or date.today()).isoformat()}.beancount", MIME, path, count)


def _signed(units: int, currency: str) -> str:
    return format_amount(units, currency) if units >= 0 else "-" + format_amount(-units, currency)


def _transaction(handle: IO[bytes], intent: Intent, lines: list[JournalLine], accounts: dict[str, str],
                 base: str) -> None:
    links = [f"^intent-{intent.id}"] + ([f"^intent-{intent.reverses_intent_id}"] if intent.reverses_intent_id else [])
    tag = "#" + re.sub(r"[^A-Za-z0-9_-]", "-", intent.category)
    out = [f"{intent.booking_date.isoformat()} * {_string(intent.description)} {tag} {' '.join(links)}",
           f'  intent_id: "{intent.id}"']
    if intent.external_reference:
        out.append(f"  external_reference: {_string(intent.external_reference)}")
    for li in lines:
        amount = format_amount(li.amount, li.currency)
        price = f" @@ {format_amount(li.base_amount, base)} {base}" if li.currency != base else ""
        out.append(f"  {accounts[li.debit_account]}  {amount} {li.currency}{price}")
        out.append(f"  {accounts[li.credit_account]}  -{amount} {li.currency}{price}")
    _write(handle, "\n".join(out) + "\n")


def _write(handle: IO[bytes], text: str) -> None:
    handle.write((text + "\n").encode())
