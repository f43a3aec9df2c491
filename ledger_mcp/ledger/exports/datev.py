"""DATEV EXTF export: the Buchungsstapel (one file per fiscal year) and the Debitoren/Kreditoren file.

How the journal becomes DATEV rows (one row per amount line of an intent):
- A line with an input or output tax code is exported gross with the code's BU key; its share of the
  intent's tax line of that code (same counter account) is added to it, and the tax line itself is
  left to DATEV, whose automatic VAT accounts book it again from the BU key. Reverse charge lines are
  exported net with their BU key; the self-assessment line is DATEV's to book as well.
- The receivables/payables line of an invoice, of its payments and of their Stornos is booked on the
  party's personal account (Debitor 10000-69999, Kreditor 70000-99999), with the invoice number in
  Belegfeld 1, the key DATEV matches open items by.
- The personal account, or the account without tax, is Konto; the taxed account is Gegenkonto (the one
  the BU key applies to); Soll/Haben refers to Konto.
- A revaluation of open items (ledger.revaluation) books one line per item on the control account:
  each goes on its item's personal account with the invoice number, so DATEV's open item carries it.
- A Storno (reversal intent) is written as the original booking with Generalumkehr 1.
- Foreign-currency lines carry the amount in their currency (WKZ Umsatz), the rate (Kurs, units per
  1 base unit) and the base amount (Basis-Umsatz).
- Festschreibung is 1 for the intents of finally locked periods, else 0. One row with 1 fixes the
  whole Buchungsstapel in DATEV, so a fiscal year is cut at the end of the locked periods: the locked
  months go into a file of their own (header and rows 1), the open ones into another (0).
Every file is checked with `datev_validate` before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import IO

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.exports import datev_format as fmt
from ledger_mcp.ledger.exports.datev_validate import validate_file
from ledger_mcp.ledger.exports.files import ExportFile, Progress, temporary_file
from ledger_mcp.ledger.exports.pages import PAGE, intent_pages
from ledger_mcp.ledger.fiscal import fiscal_year_bounds, period_bounds
from ledger_mcp.ledger.invoices import asset_like
from ledger_mcp.ledger.journal import date_range
from ledger_mcp.ledger.models import (
    Account,
    Intent,
    Invoice,
    JournalLine,
    Party,
    RevaluationItem,
    Settlement,
    TaxCode,
)
from ledger_mcp.ledger.money import minor_units
from ledger_mcp.ledger.periods import locked_through

MIME = "text/csv; charset=windows-1252"
CONTROL_CATEGORIES = ("receivables", "payables")


@dataclass(frozen=True)
class DatevOptions:
    """consultant_number: the tax advisor's Beraternummer (1001-9999999). client_number: the
    Mandantennummer (1-99999). account_length: Sachkontenlänge (4-8); personal accounts are one digit
    longer. Default: the length of the chart's account numbers (4 for SKR03 and SKR04)."""

    consultant_number: int
    client_number: int
    account_length: int | None = None


def check_options(options: DatevOptions) -> None:
    if not 1001 <= options.consultant_number <= 9999999:
        raise ValidationFailed(f"datev_consultant_number {options.consultant_number} is not a DATEV Beraternummer.",
                               hint="Pass the tax advisor's Beraternummer, 1001 to 9999999, e.g. 29098.",
                               details={"field": "datev_consultant_number"})
    if not 1 <= options.client_number <= 99999:
        raise ValidationFailed(f"datev_client_number {options.client_number} is not a DATEV Mandantennummer.",
                               hint="Pass the Mandantennummer the tax advisor gave this company, 1 to 99999.",
                               details={"field": "datev_client_number"})
    if options.account_length is not None and not 4 <= options.account_length <= 8:
        raise ValidationFailed(f"account length {options.account_length} is not 4 to 8.",
                               hint="Omit it to use the chart's account length.")


@dataclass(frozen=True)
class _Line:
    """A journal line as exported: debit/credit already with personal accounts, in the original's
    direction for a Storno."""

    debit: str
    credit: str
    amount: int
    base: int
    currency: str
    rate: str | None
    tax_code: str | None
    role: str
    text: str


@dataclass
class _Context:
    """What a page of intents needs beyond its lines."""

    intents: dict[str, Intent] = field(default_factory=dict)
    invoice: dict[str, Invoice] = field(default_factory=dict)  # by intent id (the invoice's own intent)
    settled: dict[str, list[Invoice]] = field(default_factory=dict)  # by payment intent id
    parties: dict[str, Party] = field(default_factory=dict)
    revalued: dict[str, list[RevaluationItem]] = field(default_factory=dict)  # by revaluation intent id
    revalued_invoice: dict[str, Invoice] = field(default_factory=dict)  # by invoice id


def datev_amount(units: int, currency: str) -> str:
    value = Decimal(units).scaleb(-minor_units(currency))
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)).replace(".", ",")


def datev_rate(rate: str) -> str:
    value = Decimal(rate)
    places = min(max(-value.normalize().as_tuple().exponent, 2), 6)  # type: ignore[operator]
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)).replace(".", ",")


def document_field(text: str | None) -> str:
    """Belegfeld 1: DATEV allows letters without umlauts, digits and $ & % * + - /; others become '-'.
    Longer numbers keep their last 36 characters, where numbers of a series differ."""
    return re.sub(r"[^A-Za-z0-9$&%*+\-/]", "-", (text or "").strip())[-36:].strip("-") if text else ""


def plain_text(text: str, limit: int) -> str:
    """Text as cp1252 can carry it, on one line, at most `limit` characters."""
    one_line = " ".join(text.split())
    return one_line.encode(fmt.ENCODING, "replace").decode(fmt.ENCODING)[:limit]


def _allocate(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, the shares adding up exactly (largest remainder)."""
    whole = sum(weights)
    if not whole:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: -(total * weights[i] % whole))
    for i in order[:total - sum(shares)]:
        shares[i] += 1
    return shares


class _Rows:
    """Turns the lines of one intent into DATEV rows."""

    def __init__(self, tax_codes: dict[str, TaxCode], control: set[str], base: str) -> None:
        self.tax_codes, self.control, self.base = tax_codes, control, base

    def rows(self, intent: Intent, lines: list[JournalLine], ctx: _Context) -> list[dict[str, str]]:
        storno = intent.category == "reversal"
        source = ctx.intents.get(intent.reverses_intent_id or "", intent) if storno else intent
        if source.id in ctx.revalued:
            return self._revaluation_rows(intent, lines, list(ctx.revalued[source.id]), storno, ctx)
        personal, document, due = self._party(source, ctx)
        # A payment of several items: each line on the personal account names its invoice.
        numbers = {inv.invoice_number for inv in ctx.settled.get(source.id, [])}
        out = [self._line(li, storno, personal) for li in lines]
        rows: list[dict[str, str]] = []
        for line, tax, skip in self._merge_tax(out):
            if skip:
                continue
            own = document_field(line.text) if len(numbers) > 1 and line.text in numbers else document
            rows.append(self._row(intent, line, tax, own, due, storno, personal))
        return rows

    def _revaluation_rows(self, intent: Intent, lines: list[JournalLine], items: list[RevaluationItem],
                          storno: bool, ctx: _Context) -> list[dict[str, str]]:
        """Each line of a revaluation on the personal account of the item it revalues."""
        rows = []
        for li in lines:
            item = _revalued_item(li, items, ctx.revalued_invoice, storno)
            personal, document = None, ""
            if item is not None:
                items.remove(item)
                invoice = ctx.revalued_invoice[item.invoice_id]
                personal, document = ctx.parties[invoice.party_id].number, document_field(invoice.invoice_number)
            rows.append(self._row(intent, self._line(li, storno, personal), None, document, None, storno, personal))
        return rows

    def _party(self, intent: Intent, ctx: _Context) -> tuple[str | None, str, date | None]:
        """The personal account, Belegfeld 1 and due date of an invoice or of a payment of one party's items."""
        invoice = ctx.invoice.get(intent.id)
        if invoice is not None:
            return ctx.parties[invoice.party_id].number, document_field(invoice.invoice_number), invoice.due_date
        settled = ctx.settled.get(intent.id, [])
        parties = {inv.party_id for inv in settled}
        if len(parties) == 1:
            number = ctx.parties[parties.pop()].number
            return number, document_field(settled[0].invoice_number) if len(settled) == 1 else "", None
        return None, document_field(intent.external_reference), None

    def _line(self, li: JournalLine, storno: bool, personal: str | None) -> _Line:
        debit, credit = (li.credit_account, li.debit_account) if storno else (li.debit_account, li.credit_account)
        if personal:
            debit = personal if debit in self.control else debit
            credit = personal if credit in self.control else credit
        return _Line(debit, credit, li.amount, li.base_amount, li.currency, li.exchange_rate, li.tax_code,
                     li.line_role, li.description)

    def _merge_tax(self, lines: list[_Line]) -> Iterable[tuple[_Line, TaxCode | None, bool]]:
        """(line with its tax share added, its tax code when DATEV books the tax, skip) per line."""
        gross = list(lines)
        skip = [False] * len(lines)
        taxed: dict[int, TaxCode] = {}
        for i, li in enumerate(lines):
            code = self.tax_codes.get(li.tax_code or "")
            if code is None or not code.datev_bu_key or li.role != "amount":
                continue
            taxed[i] = code
        for i, li in enumerate(lines):
            code = self.tax_codes.get(li.tax_code or "")
            if code is None or li.role == "amount":
                continue
            if li.role == "self_assessment":
                skip[i] = any(lines[j].tax_code == li.tax_code for j in taxed)
                continue
            # A tax line: its VAT account on one side, the counter account (shared with its amount lines) on the other.
            vat_is_debit = li.debit == code.vat_account
            members = [j for j in taxed if lines[j].tax_code == li.tax_code
                       and (lines[j].credit == li.credit if vat_is_debit else lines[j].debit == li.debit)]
            if not members:
                continue
            skip[i] = True
            amounts = _allocate(li.amount, [lines[j].amount for j in members])
            bases = _allocate(li.base, [lines[j].base for j in members])
            for j, amount, base_share in zip(members, amounts, bases, strict=True):
                gross[j] = replace(gross[j], amount=gross[j].amount + amount, base=gross[j].base + base_share)
        return [(gross[i], taxed.get(i), skip[i]) for i in range(len(lines))]

    def _row(self, intent: Intent, line: _Line, tax: TaxCode | None, document: str, due: date | None,
             storno: bool, personal: str | None) -> dict[str, str]:
        # Konto: the personal account, else the side without tax; Gegenkonto: the taxed account.
        if tax is not None:
            taxed_debit = _taxed_is_debit(line, tax, personal)
            konto, gegen, side = (line.credit, line.debit, "H") if taxed_debit else (line.debit, line.credit, "S")
        elif personal and line.credit == personal:
            konto, gegen, side = line.credit, line.debit, "H"
        else:
            konto, gegen, side = line.debit, line.credit, "S"
        row = {
            "Umsatz (ohne Soll/Haben-Kz)": datev_amount(line.amount, line.currency),
            "Soll/Haben-Kennzeichen": side,
            "WKZ Umsatz": line.currency,
            "Konto": konto,
            "Gegenkonto (ohne BU-Schlüssel)": gegen,
            "BU-Schlüssel": tax.datev_bu_key.zfill(4) if tax is not None and tax.datev_bu_key else "",
            "Belegdatum": intent.booking_date.strftime("%d%m"),
            "Belegfeld 1": document,
            "Buchungstext": plain_text(line.text or intent.description, 60),
            "Generalumkehr (GU)": "1" if storno else "0",
        }
        if line.currency != self.base:
            row.update({"Kurs": datev_rate(line.rate or "1"), "Basis-Umsatz": datev_amount(line.base, self.base),
                        "WKZ Basis-Umsatz": self.base})
        if due is not None and personal in (konto, gegen):
            row["Fälligkeit"] = due.strftime("%d%m%Y")
        return row


def _revalued_item(li: JournalLine, items: list[RevaluationItem], invoices: dict[str, Invoice],
                   storno: bool) -> RevaluationItem | None:
    """The item a revaluation line books: same amount, its control account on the side its change
    implies (a rise of a receivable is a debit); of equal candidates the one the line's text names."""
    def fits(item: RevaluationItem) -> bool:
        invoice = invoices[item.invoice_id]
        on_debit = ((item.base_delta > 0) == asset_like(invoice)) != storno
        control = li.debit_account if on_debit else li.credit_account
        return li.base_amount == abs(item.base_delta) and control == invoice.control_account
    fitting = [item for item in items if fits(item)]
    named = [item for item in fitting if invoices[item.invoice_id].invoice_number in li.description]
    return next(iter(named or fitting), None)


def _taxed_is_debit(line: _Line, tax: TaxCode, personal: str | None) -> bool:
    """Which side of an amount line is the taxed (P&L) account: the side that is not the personal
    account; without one, the side the code's kind implies (input tax with the debit)."""
    if personal in (line.debit, line.credit):
        return line.credit == personal
    return tax.kind != "output"


async def _context(session: AsyncSession, intent_ids: set[str]) -> _Context:
    ctx = _Context()
    ctx.intents = {i.id: i for i in (await session.exec(select(Intent).where(col(Intent.id).in_(intent_ids)))).all()}
    originals = {i.reverses_intent_id for i in ctx.intents.values() if i.reverses_intent_id}
    missing = originals - set(ctx.intents)
    if missing:
        ctx.intents.update({i.id: i for i in (await session.exec(
            select(Intent).where(col(Intent.id).in_(missing)))).all()})
    ids = set(ctx.intents)
    for inv in (await session.exec(select(Invoice).where(col(Invoice.intent_id).in_(ids)))).all():
        ctx.invoice[inv.intent_id] = inv
    settled = (await session.exec(select(Settlement.payment_intent_id, Invoice)
                                  .join(Invoice, col(Invoice.id) == Settlement.invoice_id)
                                  .where(col(Settlement.payment_intent_id).in_(ids)))).all()
    for payment_id, inv in settled:
        ctx.settled.setdefault(payment_id, []).append(inv)
    revalued = (await session.exec(select(RevaluationItem, Invoice)
                                   .join(Invoice, col(Invoice.id) == RevaluationItem.invoice_id)
                                   .where(col(RevaluationItem.intent_id).in_(ids)))).all()
    for item, inv in revalued:
        ctx.revalued.setdefault(item.intent_id, []).append(item)
        ctx.revalued_invoice[inv.id] = inv
    party_ids = ({inv.party_id for inv in ctx.invoice.values()} | {inv.party_id for _, inv in settled}
                 | {inv.party_id for inv in ctx.revalued_invoice.values()})
    if party_ids:
        ctx.parties = {p.id: p for p in (await session.exec(select(Party).where(col(Party.id).in_(party_ids)))).all()}
    return ctx


def _slices(start: date, end: date, locked_until: date | None) -> list[tuple[date, date, bool]]:
    """[start, end] cut at fiscal year boundaries (DATEV takes one Buchungsstapel per fiscal year) and
    after `locked_until`, the last locked day; each slice with whether it is locked (Festschreibung)."""
    out = []
    for year in range(start.year, end.year + 1):
        first, last = fiscal_year_bounds(year)
        low, high = max(start, first), min(end, last)
        if locked_until is not None and low <= locked_until < high:
            out += [(low, locked_until, True), (locked_until + timedelta(days=1), high, False)]
        else:
            out.append((low, high, locked_until is not None and high <= locked_until))
    return out


def header(category: tuple[int, str, int], options: DatevOptions, account_length: int, chart: str,
           fiscal_start: date, span: tuple[date, date] | None, label: str, currency: str, fixed: bool = False) -> str:
    created = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
    number, name, version = category
    values = ["EXTF", str(fmt.HEADER_VERSION), str(number), name, str(version), created, "", fmt.ORIGIN,
              fmt.EXPORTED_BY, "", str(options.consultant_number), str(options.client_number),
              fiscal_start.strftime("%Y%m%d"), str(account_length),
              span[0].strftime("%Y%m%d") if span else "", span[1].strftime("%Y%m%d") if span else "",
              label, "", "1" if span else "", "0" if span else "", ("1" if fixed else "0") if span else "",
              currency if span else "",
              "", "", "", "", chart[-2:], "", "", "", ""]
    return fmt.render(fmt.HEADER_COLUMNS, values)


async def _account_length(session: AsyncSession, options: DatevOptions) -> int:
    if options.account_length:
        return options.account_length
    numbers = (await session.exec(select(Account.number))).all()
    return max((len(n) for n in numbers if n.isdigit()), default=4)


async def datev_export(session: AsyncSession, options: DatevOptions, start_date: str | None = None,
                       end_date: str | None = None, progress: Progress | None = None) -> list[ExportFile]:
    """The Buchungsstapel files (one per fiscal year in the range; the whole journal without a range)
    and the Debitoren/Kreditoren file, each validated. The caller discards the files when done."""
    check_options(options)
    start, end = date_range(start_date, end_date)
    meta = await read_meta(session)
    base, chart = meta["base_currency"], meta.get("chart", "skr03")
    length = await _account_length(session, options)
    misfit = (await session.exec(select(Party.number).where(func.length(Party.number) != length + 1).limit(1))).first()
    if misfit:
        raise ValidationFailed(f"Personal account {misfit} does not have {length + 1} digits: DATEV wants personal "
                               f"accounts one digit longer than the Sachkontenlänge {length}.",
                               hint=f"Export with the Sachkontenlänge {len(misfit) - 1}.",
                               details={"account_length": length, "personal_account": misfit})
    first_day, last_day = start, end
    if first_day is None or last_day is None:
        low, high = (await session.exec(select(func.min(JournalLine.booking_date),
                                               func.max(JournalLine.booking_date)))).one()
        today = datetime.now(UTC).date()
        first_day = first_day or low or fiscal_year_bounds(today.year)[0]
        last_day = last_day or high or fiscal_year_bounds(today.year)[1]
    if first_day > last_day:
        raise ValidationFailed(f"The journal has no lines between {start_date} and {end_date}.",
                               hint="Pass both start_date and end_date.")
    tax_codes = {t.code: t for t in (await session.exec(select(TaxCode))).all()}
    control = set((await session.exec(select(Account.number).where(
        col(Account.category).in_(CONTROL_CATEGORIES)))).all())
    builder = _Rows(tax_codes, control, base)
    total = (await session.exec(select(func.count()).select_from(JournalLine).where(
        col(JournalLine.booking_date) >= first_day, col(JournalLine.booking_date) <= last_day))).one()
    counter = _Counter(total, progress)
    files: list[ExportFile] = []
    try:
        through = await locked_through(session)
        locked_until = period_bounds(through)[1] if through else None
        for low, high, fixed in _slices(first_day, last_day, locked_until):
            files.append(await _bookings_file(session, builder, options, length, chart, base, (low, high), fixed,
                                              counter))
        files.append(await _parties_file(session, options, length, chart, base, first_day))
        for exported in files:
            validate_file(exported.path)
    except BaseException:
        for exported in files:
            exported.discard()
        raise
    return files


@dataclass
class _Counter:
    total: int
    progress: Progress | None
    done: int = 0

    async def add(self, lines: int) -> None:
        self.done += lines
        if self.progress:
            await self.progress(self.done, self.total, f"{self.done} of {self.total} journal lines exported")


async def _bookings_file(session: AsyncSession, builder: _Rows, options: DatevOptions, length: int, chart: str,
                         base: str, span: tuple[date, date], fixed: bool, counter: _Counter) -> ExportFile:
    fiscal_start = fiscal_year_bounds(span[0].year)[0]
    label = f"Buchungen {span[0]:%Y%m%d}-{span[1]:%Y%m%d}"
    path, handle = temporary_file(".csv")
    count = 0
    with handle:
        _write(handle, header(fmt.BOOKINGS, options, length, chart, fiscal_start, span, label, base, fixed))
        _write(handle, fmt.heading(fmt.BOOKING_COLUMNS))
        in_span = (col(JournalLine.booking_date) >= span[0], col(JournalLine.booking_date) <= span[1])
        async for groups in intent_pages(session, *in_span):
            ctx = await _context(session, {group[0].intent_id for group in groups})
            for group in groups:
                for row in builder.rows(ctx.intents[group[0].intent_id], group, ctx):
                    row["Festschreibung"] = "1" if fixed else "0"
                    _write(handle, fmt.render(fmt.BOOKING_COLUMNS, row))
                    count += 1
            await counter.add(sum(len(group) for group in groups))
    return ExportFile(f"EXTF_Buchungsstapel_{span[0]:%Y%m%d}_{span[1]:%Y%m%d}.csv", MIME, path, count)


async def _parties_file(session: AsyncSession, options: DatevOptions, length: int, chart: str, base: str,
                        first_day: date) -> ExportFile:
    path, handle = temporary_file(".csv")
    count = 0
    with handle:
        fiscal_start = fiscal_year_bounds(first_day.year)[0]
        _write(handle, header(fmt.PARTIES, options, length, chart, fiscal_start, None, "Debitoren und Kreditoren",
                              base))
        _write(handle, fmt.heading(fmt.PARTY_COLUMNS))
        after = ""
        while True:
            page = list((await session.exec(select(Party).where(col(Party.number) > after)
                                            .order_by(col(Party.number)).limit(PAGE))).all())
            for party in page:
                _write(handle, fmt.render(fmt.PARTY_COLUMNS, party_row(party)))
                count += 1
            if len(page) < PAGE:
                break
            after = page[-1].number
    return ExportFile("EXTF_Debitoren_Kreditoren.csv", MIME, path, count)


def party_row(party: Party) -> dict[str, str]:
    row = {"Konto": party.number, "Name (Adressatentyp Unternehmen)": plain_text(party.name, 50),
           "Adressatentyp": "2", "Kurzbezeichnung": plain_text(party.name, 15)}
    if party.vat_id and re.fullmatch(r"[A-Z]{2}[A-Z0-9+*]{2,13}", party.vat_id):
        row["EU-Mitgliedstaat"], row["EU-USt-IdNr."] = party.vat_id[:2], party.vat_id[2:]
    if party.iban:
        row.update({"IBAN-Nr. 1": party.iban, "Kennz. Hauptbankverb. 1": "1"})
        if party.bic:
            row["SWIFT-Code 1"] = party.bic
    if party.tax_id:
        row["Steuernummer"] = plain_text(party.tax_id, 20)
    if party.address:
        row["Anschrift individuell (Korrespondenzadresse)"] = plain_text(party.address, 306)
        row["Anschrift manuell geändert (Korrespondenzadresse)"] = "1"
    if party.payment_terms_days is not None:
        days = str(min(party.payment_terms_days, 999))
        row["Fälligkeit in Tagen (Debitor)" if party.kind == "customer" else "Kreditoren-Ziel 3 Brutto (Tage)"] = days
    return row


def _write(handle: IO[bytes], row: str) -> None:
    handle.write((row + fmt.NEWLINE).encode(fmt.ENCODING))
