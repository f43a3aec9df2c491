"""The German VAT pre-return (Umsatzsteuer-Voranmeldung, UStVA) for a month or a quarter.

Every journal line carrying a tax code adds to the Kennzahlen that code names in tax_codes.csv
(`ustva_base`, `ustva_tax`, `ustva_input_tax`): net lines (role `amount`) to the base, tax lines to
the tax, self-assessed lines (reverse charge, intra-EU acquisition) to the tax *and* the input tax.
A line of an input code booked on that code's own VAT account is input tax as it stands (import VAT,
code EUSt: the customs notice assesses it, nothing is split).
A line counts positive in its code's normal direction (a sale credits revenue, a purchase debits an
expense) and negative in the other (credit notes, Stornos), so a reversed invoice nets out. Figures
are exact to the cent; the form itself wants the bases in whole euros.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.models import Account, JournalLine, TaxCode
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.reports.periods import report_period

KENNZAHL_LABELS = {  # as on the form (Vordruckmuster USt 1 A)
    "81": "Steuerpflichtige Umsätze zu 19 %",
    "86": "Steuerpflichtige Umsätze zu 7 %",
    "35": "Umsätze zu anderen Steuersätzen (Bemessungsgrundlage)",
    "36": "Steuer auf Umsätze zu anderen Steuersätzen",
    "41": "Innergemeinschaftliche Lieferungen an Abnehmer mit USt-IdNr.",
    "44": "Innergemeinschaftliche Lieferungen neuer Fahrzeuge an Abnehmer ohne USt-IdNr.",
    "48": "Steuerfreie Umsätze ohne Vorsteuerabzug",
    "21": "Nicht steuerbare sonstige Leistungen im übrigen Gemeinschaftsgebiet (§ 18b Satz 1 Nr. 2 UStG)",
    "89": "Innergemeinschaftliche Erwerbe zu 19 %",
    "93": "Innergemeinschaftliche Erwerbe zu 7 %",
    "46": "Sonstige Leistungen eines im übrigen Gemeinschaftsgebiet ansässigen Unternehmers (§ 13b Abs. 1)",
    "47": "Steuer auf Leistungen nach § 13b Abs. 1",
    "84": "Andere Leistungen nach § 13b Abs. 2 Nr. 1, 2, 4 bis 12 UStG (Bemessungsgrundlage)",
    "85": "Steuer auf andere Leistungen nach § 13b Abs. 2",
    "66": "Vorsteuerbeträge aus Rechnungen von anderen Unternehmern",
    "61": "Vorsteuerbeträge aus dem innergemeinschaftlichen Erwerb",
    "62": "Entstandene Einfuhrumsatzsteuer (§ 15 Abs. 1 Nr. 2 UStG)",
    "67": "Vorsteuerbeträge aus Leistungen im Sinne des § 13b UStG",
    "83": "Verbleibende Umsatzsteuer-Vorauszahlung (negativ: Überschuss)",
}
_NORMAL_SIDE = {"output": "credit", "exempt": "credit", "input": "debit", "reverse_charge": "debit"}
_PNL = {"revenue", "expense"}


def kennzahlen_of_codes() -> dict[str, tuple[str, str, str]]:
    """Tax code -> (base, tax, input tax) Kennzahlen, from tax_codes.csv ('' = none)."""
    text = resources.files("ledger_mcp.ledger").joinpath("charts", "tax_codes.csv").read_text(encoding="utf-8")
    return {row["code"]: (row["ustva_base"], row["ustva_tax"], row["ustva_input_tax"])
            for row in csv.DictReader(io.StringIO(text))}


class Kennzahl(BaseModel):
    kennzahl: str
    label: str
    base: str | None = Field(description="Bemessungsgrundlage (net), if the Kennzahl has one.")
    tax: str | None = Field(description="Tax (output tax, or input tax for 66/61/67), if any.")
    tax_codes: list[str] = Field(description="Codes behind the figure: query_journal on `accounts` finds the lines.")
    accounts: list[str] = Field(description="Accounts of those lines (VAT accounts and, for bases, the net accounts).")


class VatReturn(BaseModel):
    period: str = Field(description="YYYY-MM or YYYY-Qn.")
    start_date: str
    end_date: str
    currency: str
    kennzahlen: list[Kennzahl]
    output_tax: str = Field(description="Sum of output tax, self-assessed tax included.")
    input_tax: str
    payable: str = Field(description="Kennzahl 83: output minus input tax; negative = refund.")
    unmapped_tax_codes: list[str] = Field(description="Codes with lines but no Kennzahl in tax_codes.csv.")


async def vat_return(session: AsyncSession, period: str) -> VatReturn:
    p = report_period(period)
    if p.kind == "year":
        raise ValidationFailed(f"A VAT pre-return covers a month or a quarter, not {period!r}.",
                               hint="Pass period as YYYY-MM or YYYY-Qn, e.g. '2026-10' or '2026-Q3'.")
    currency = (await read_meta(session))["base_currency"]
    codes = {t.code: t for t in (await session.exec(select(TaxCode))).all()}
    mapping = kennzahlen_of_codes()
    debit, credit = aliased(Account), aliased(Account)
    columns: list[Any] = [JournalLine.tax_code, JournalLine.line_role, JournalLine.debit_account,
                          JournalLine.credit_account, debit.type, credit.type]
    stmt: Any = (select(*columns, func.sum(JournalLine.base_amount))  # type: ignore[call-overload]
                 .join(debit, col(debit.number) == JournalLine.debit_account)
                 .join(credit, col(credit.number) == JournalLine.credit_account)
                 .where(col(JournalLine.tax_code).is_not(None), col(JournalLine.booking_date) >= p.start,
                        col(JournalLine.booking_date) <= p.end)
                 .group_by(*columns))
    base: dict[str, int] = defaultdict(int)
    tax: dict[str, int] = defaultdict(int)
    sources: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    unmapped: set[str] = set()
    output_tax = input_tax = 0
    for code, role, dr, cr, dr_type, cr_type, amount in (await session.exec(stmt)).all():
        tc = codes.get(code)
        if tc is None or code not in mapping:
            unmapped.add(code)
            continue
        base_kz, tax_kz, input_kz = mapping[code]
        amount = int(amount)
        if role == "amount" and tc.kind == "input" and tc.vat_account in (dr, cr):
            # Input tax assessed elsewhere (import VAT of a customs notice), booked on the VAT account as is.
            sign = 1 if dr == tc.vat_account else -1
            if input_kz:
                tax[input_kz] += sign * amount
                _note(sources, input_kz, code, tc.vat_account or "")
            input_tax += sign * amount
        elif role == "amount":
            taxed = _taxed_side(dr_type, cr_type, _NORMAL_SIDE[tc.kind])
            sign = 1 if taxed == _NORMAL_SIDE[tc.kind] else -1
            if base_kz:
                base[base_kz] += sign * amount
                _note(sources, base_kz, code, dr if taxed == "debit" else cr)
        elif role == "tax":
            sign = 1 if (cr if tc.kind == "output" else dr) == tc.vat_account else -1
            kz = tax_kz if tc.kind == "output" else input_kz
            if kz:
                tax[kz] += sign * amount
                _note(sources, kz, code, tc.vat_account or "")
            if tc.kind == "output":
                output_tax += sign * amount
            else:
                input_tax += sign * amount
        else:  # self_assessment: owed as tax and deducted as input tax
            sign = 1 if dr == tc.vat_account else -1
            for kz in (tax_kz, input_kz):
                if kz:
                    tax[kz] += sign * amount
            _note(sources, tax_kz, code, tc.self_assess_account or "")
            _note(sources, input_kz, code, tc.vat_account or "")
            output_tax += sign * amount
            input_tax += sign * amount
    rows = [Kennzahl(kennzahl=kz, label=KENNZAHL_LABELS.get(kz, ""),
                     base=format_amount(base[kz], currency) if kz in base else None,
                     tax=format_amount(tax[kz], currency) if kz in tax else None,
                     tax_codes=sorted(sources[kz][0]), accounts=sorted(sources[kz][1]))
            for kz in sorted(set(base) | set(tax), key=int)]
    payable = output_tax - input_tax
    rows.append(Kennzahl(kennzahl="83", label=KENNZAHL_LABELS["83"], base=None,
                         tax=format_amount(payable, currency), tax_codes=[], accounts=[]))
    return VatReturn(period=p.name, start_date=p.start.isoformat(), end_date=p.end.isoformat(), currency=currency,
                     kennzahlen=rows, output_tax=format_amount(output_tax, currency),
                     input_tax=format_amount(input_tax, currency), payable=format_amount(payable, currency),
                     unmapped_tax_codes=sorted(unmapped))


def _taxed_side(debit_type: str, credit_type: str, normal: str) -> str:
    """The side of the net line's taxed account, as posting decided it: the P&L side, else the
    side the code's kind implies."""
    if (debit_type in _PNL) != (credit_type in _PNL):
        return "debit" if debit_type in _PNL else "credit"
    return normal


def _note(sources: dict[str, tuple[set[str], set[str]]], kz: str, code: str, account: str) -> None:
    if kz:
        sources[kz][0].add(code)
        if account:
            sources[kz][1].add(account)



