"""The chart of accounts: initialisation from the shipped SKR charts, lookup, search, creation."""

from __future__ import annotations

import csv
import difflib
import io
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Literal, cast
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, or_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import AccountExists, NotInitialized, TaxCodeProtected, UnknownAccount, ValidationFailed
from ledger_mcp.ledger.models import Account, JournalLine, LedgerMeta, TaxCode
from ledger_mcp.ledger.portable import binary, lower

ChartName = Literal["skr03", "skr04"]
AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
ACCOUNT_TYPES: tuple[str, ...] = ("asset", "liability", "equity", "revenue", "expense")
# Accounts whose balance is normally on the debit side.
DEBIT_NORMAL = frozenset({"asset", "expense"})
SPECIAL_CATEGORIES = frozenset({"receivables", "payables", "opening_balance", "result", "input_vat", "output_vat",
                                "vat_settlement", "fx_gain", "fx_loss"})
"""Categories the ledger picks accounts by (control accounts of invoices, opening balance, year-end
result, VAT, exchange differences): a new account in one of them can redirect later postings, so only
an administrator may create one (server/access.py)."""


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("ledger_mcp.ledger").joinpath("charts", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


async def initialise(session: AsyncSession, chart: ChartName, base_currency: str = "EUR") -> bool:
    """Load the chart and tax codes into an empty ledger. Returns False if it was set up already."""
    if await read_meta(session, required=False):
        return False
    now = utc_now()
    for row in _read_csv(f"{chart}.csv"):
        session.add(Account(number=row["number"], name=row["name"], type=row["type"],
                            category=row["category"], report_group=row["report_group"],
                            is_system=True, created_at=now))
    await session.flush()
    for row in _read_csv("tax_codes.csv"):
        session.add(_tax_code(row, chart))
    for key, value in {"chart": chart, "base_currency": base_currency, "created_at": now}.items():
        session.add(LedgerMeta(key=key, value=value))
    return True


def _tax_code(row: dict[str, str], chart: str) -> TaxCode:
    return TaxCode(code=row["code"], label=row["label"], description=row["description"], rate=row["rate"],
                   kind=row["kind"], vat_account=row[f"{chart}_vat_account"] or None,
                   self_assess_account=row[f"{chart}_self_assess_account"] or None,
                   datev_bu_key=row["datev_bu_key"] or None)


async def chart_additions(session: AsyncSession) -> tuple[list[Account], list[TaxCode]]:
    """The shipped accounts and tax codes an existing ledger lacks (a later version ships more). Only
    numbers and codes not in the ledger are added; rows the ledger has, changed or not, stay as they are.
    A tax code whose VAT account number the ledger uses for something else (another category) is left out."""
    meta = await read_meta(session, required=False)
    if not meta:
        return [], []
    chart = meta["chart"]
    existing = {a.number: a for a in (await session.exec(select(Account))).all()}
    codes = set((await session.exec(select(TaxCode.code))).all())
    now = utc_now()
    accounts = [Account(number=row["number"], name=row["name"], type=row["type"], category=row["category"],
                        report_group=row["report_group"], is_system=True, created_at=now)
                for row in _read_csv(f"{chart}.csv") if row["number"] not in existing]
    usable = existing | {a.number: a for a in accounts}
    tax_codes = []
    for row in _read_csv("tax_codes.csv"):
        tax = _tax_code(row, chart)
        needs = {tax.vat_account: "output_vat" if tax.kind == "output" else "input_vat",
                 tax.self_assess_account: "output_vat"}
        if tax.code not in codes and all(number is None or (number in usable and usable[number].category == category)
                                         for number, category in needs.items()):
            tax_codes.append(tax)
    return accounts, tax_codes


async def complete_chart(session: AsyncSession) -> tuple[list[str], list[str]]:
    """Add what `chart_additions` finds; returns the account numbers and tax codes added."""
    accounts, tax_codes = await chart_additions(session)
    session.add_all(accounts)
    await session.flush()
    session.add_all(tax_codes)
    return [a.number for a in accounts], [t.code for t in tax_codes]


COMPANY_NAME = "company_name"
"""The ledger_meta key of the name printed on reports and SEPA files; a company may be renamed, so it is
read afresh each time, never from the cache below."""


async def company_name(session: AsyncSession) -> str | None:
    return (await session.exec(select(LedgerMeta.value).where(LedgerMeta.key == COMPANY_NAME))).first()


async def set_company_name(session: AsyncSession, name: str) -> bool:
    """Name the company whose books these are (or rename it); False if it already had that name."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A company name needs 1 to 200 characters.", hint='e.g. --name "Müller GmbH"')
    row = await session.get(LedgerMeta, COMPANY_NAME)
    if row is not None and row.value == name:
        return False
    if row is None:
        row = LedgerMeta(key=COMPANY_NAME, value=name)
    row.value = name
    session.add(row)
    await session.flush()
    return True


# Ledger facts never change once written: read them once per database (the company name aside).
_META_CACHE: WeakKeyDictionary[Engine, dict[str, str]] = WeakKeyDictionary()


def database_key(session: AsyncSession) -> Engine:
    """Which database a session works on, for caches per database: its engine, not its URL, so that a
    ledger created anew at the same place (by a new `Database`) is never served what the old one cached."""
    bind = session.bind  # an engine, or a connection (a write joining its group's transaction)
    return (bind if isinstance(bind, AsyncEngine) else cast(AsyncConnection, bind).engine).sync_engine


async def read_meta(session: AsyncSession, *, required: bool = True) -> dict[str, str]:
    database = database_key(session)
    if database in _META_CACHE:
        return _META_CACHE[database]
    rows = (await session.exec(select(LedgerMeta))).all()
    meta = {row.key: row.value for row in rows}
    if meta:  # written in one transaction with the chart: complete once present
        _META_CACHE[database] = meta
    if required and not meta:
        raise NotInitialized("This ledger has no chart of accounts yet.",
                             hint="Run `ledger-mcp init --chart skr03` (or skr04) first.")
    return meta


class AccountInfo(BaseModel):
    """An account as agents see it."""

    number: str
    name: str
    type: str
    category: str
    report_group: str
    is_system: bool
    is_active: bool

    @classmethod
    def of(cls, account: Account) -> AccountInfo:
        return cls.model_validate(account, from_attributes=True)


class NewAccount(BaseModel):
    """A custom account to add to the chart."""

    model_config = ConfigDict(frozen=True)
    number: str = Field(description="4 to 8 digits, unused, e.g. '4931'. Pick it in the range of its "
                                    "SKR neighbours so reports place it sensibly.")
    name: str = Field(min_length=1, max_length=200)
    type: AccountType
    category: str = Field(default="", description="e.g. office, bank, payables; defaults from type")
    report_group: str = Field(default="", description="balance sheet / P&L line; defaults from type")


_DEFAULT_GROUP = {"asset": "bs.current_assets.other", "liability": "bs.liabilities.other",
                  "equity": "bs.equity", "revenue": "pl.other_income", "expense": "pl.other_expenses"}


async def create_account(session: AsyncSession, new: NewAccount) -> AccountInfo:
    if not (new.number.isdigit() and 4 <= len(new.number) <= 8):
        raise ValidationFailed(f"Account number {new.number!r} must be 4 to 8 digits.",
                               hint="Use digits only, e.g. '4931'.")
    existing = await session.get(Account, new.number)
    if existing:
        raise AccountExists(f"Account {new.number} already exists ({existing.name}).",
                            hint="Use the existing account or choose a free number nearby.",
                            details={"account": AccountInfo.of(existing).model_dump()})
    account = Account(number=new.number, name=new.name.strip(), type=new.type,
                      category=new.category or new.type, report_group=new.report_group or _DEFAULT_GROUP[new.type],
                      is_system=False, created_at=utc_now())
    session.add(account)
    await session.flush()
    return AccountInfo.of(account)


async def search_accounts(session: AsyncSession, query: str = "", type: str | None = None,
                          category: str | None = None, limit: int = 50, offset: int = 0) -> list[Account]:
    stmt = select(Account).where(col(Account.is_active))
    if query:
        term = query.strip()
        # Escaped: % and _ in a query are text, not wildcards.
        stmt = stmt.where(or_(col(Account.number).startswith(term, autoescape=True),
                              lower(Account.name).contains(term.lower(), autoescape=True)))
    if type:
        stmt = stmt.where(Account.type == type)
    if category:
        stmt = stmt.where(Account.category == category)
    stmt = stmt.order_by(binary(Account.number)).offset(offset).limit(limit)
    return list((await session.exec(stmt)).all())


async def count_accounts(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Account))).one()


async def require_accounts(session: AsyncSession, numbers: set[str]) -> dict[str, Account]:
    """The accounts named, or UNKNOWN_ACCOUNT naming the closest existing ones."""
    found = {a.number: a for a in (await session.exec(
        select(Account).where(col(Account.number).in_(numbers)))).all()}
    missing = sorted(numbers - set(found))
    inactive = sorted(n for n, a in found.items() if not a.is_active)
    if missing:
        suggestions = await nearest_accounts(session, missing[0])
        listed = ", ".join(f"{a.number} {a.name}" for a in suggestions)
        raise UnknownAccount(
            f"Account {missing[0]} does not exist." + (f" Closest: {listed}." if listed else ""),
            hint="Use one of the suggested accounts, find one with search_accounts, or add it with create_account.",
            details={"missing": missing, "suggestions": [AccountInfo.of(a).model_dump() for a in suggestions]})
    if inactive:
        raise UnknownAccount(f"Account {inactive[0]} is deactivated.", hint="Book to an active account.")
    return found


async def nearest_accounts(session: AsyncSession, wanted: str, limit: int = 5) -> list[Account]:
    # In number order: ties in the ranking below are broken the same way on every database.
    accounts = list((await session.exec(
        select(Account).where(col(Account.is_active)).order_by(binary(Account.number)))).all())
    if wanted.isdigit():
        def distance(a: Account) -> tuple[int, int]:
            shared = len(_common_prefix(a.number, wanted))
            gap = abs(int(a.number) - int(wanted)) if a.number.isdigit() and len(a.number) == len(wanted) else 10**9
            return (-shared, gap)
        return sorted(accounts, key=distance)[:limit]
    by_name = {a.name.lower(): a for a in accounts}
    close = difflib.get_close_matches(wanted.lower(), list(by_name), n=limit, cutoff=0.3)
    return [by_name[name] for name in close]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


class TaxCodeInfo(BaseModel):
    code: str
    label: str
    description: str
    rate: str
    kind: str = Field(description="input, output, reverse_charge or exempt")
    vat_account: str | None
    self_assess_account: str | None
    datev_bu_key: str | None
    is_system: bool
    is_active: bool


class TaxCodeList(BaseModel):
    tax_codes: list[TaxCodeInfo]


async def list_tax_codes(session: AsyncSession, include_inactive: bool = False) -> TaxCodeList:
    stmt = select(TaxCode) if include_inactive else select(TaxCode).where(col(TaxCode.is_active))
    rows = (await session.exec(stmt.order_by(binary(TaxCode.code)))).all()
    return TaxCodeList(tax_codes=[TaxCodeInfo.model_validate(t, from_attributes=True) for t in rows])


TaxKind = Literal["input", "output", "reverse_charge", "exempt"]
# What a tax code means once lines carry it: these never change on a system code or a code in use.
_TAX_MEANING = ("rate", "kind", "vat_account", "self_assess_account", "datev_bu_key")
_VAT_ACCOUNT_TYPE = {"input": "asset", "output": "liability", "reverse_charge": "asset"}


class TaxCodeChanges(BaseModel):
    """A tax code to create, or the fields to change on one (null = unchanged)."""

    model_config = ConfigDict(frozen=True)
    code: str = Field(min_length=1, max_length=16, description="e.g. VSt16; letters, digits, _ and -")
    label: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    rate: str | None = Field(default=None, description="Percentage as a decimal string, e.g. '19' or '5.5'.")
    kind: TaxKind | None = None
    vat_account: str | None = Field(default=None, description="Input VAT (asset) or output VAT (liability) "
                                                              "account; the input VAT account for reverse charge.")
    self_assess_account: str | None = Field(default=None, description="Reverse charge: the output VAT account.")
    datev_bu_key: str | None = Field(default=None, max_length=4)
    is_active: bool | None = None


async def save_tax_code(session: AsyncSession, changes: TaxCodeChanges) -> tuple[TaxCodeInfo, bool]:
    """Create a tax code, or change one. System codes and codes already on journal lines keep their
    meaning (rate, kind, accounts, BU key): a different treatment is a new code. Returns (info, created)."""
    code = changes.code.strip()
    if not code.replace("_", "").replace("-", "").isalnum():
        raise ValidationFailed(f"Tax code {code!r} may contain only letters, digits, '_' and '-'.",
                               hint="e.g. VSt16 or USt5_5")
    given = changes.model_dump(exclude_none=True, exclude={"code"})
    existing = await session.get(TaxCode, code)
    if existing is None:
        missing = [f for f in ("label", "rate", "kind") if f not in given]
        if missing:
            raise ValidationFailed(f"A new tax code needs {', '.join(missing)}.",
                                   hint="Pass label, rate (e.g. '19') and kind (input, output, reverse_charge, "
                                        "exempt), and the VAT account(s) the kind needs.")
        tax = TaxCode(code=code, label=given["label"], rate="0", kind=given["kind"], is_system=False)
        created = True
    else:
        tax, created = existing, False
        changed = [f for f in _TAX_MEANING if f in given and given[f] != getattr(existing, f)]
        if changed and (existing.is_system or await _tax_code_in_use(session, code)):
            why = "is a system code" if existing.is_system else "is already on journal lines"
            raise TaxCodeProtected(f"Tax code {code} {why}; its {', '.join(changed)} cannot change.",
                                   hint="Create a new tax code with the new treatment and deactivate this one.",
                                   details={"fields": changed})
        if existing.is_system and given.get("is_active") is False:
            raise TaxCodeProtected(f"Tax code {code} is a system code and stays active.",
                                   hint="Simply do not use it; system codes cannot be deactivated.")
    for field, value in given.items():
        setattr(tax, field, value.strip() if isinstance(value, str) else value)
    tax.rate = _normalise_rate(tax.rate)
    await _check_tax_accounts(session, tax)
    session.add(tax)
    await session.flush()
    return TaxCodeInfo.model_validate(tax, from_attributes=True), created


def _normalise_rate(text: str) -> str:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        rate = Decimal(-1)
    if not (0 <= rate <= 100) or rate.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationFailed(f"rate {text!r} is not a percentage between 0 and 100 with at most 2 decimals.",
                               hint="e.g. '19', '7' or '5.5'")
    return str(rate.normalize()) if rate != rate.to_integral() else str(int(rate))


async def _check_tax_accounts(session: AsyncSession, tax: TaxCode) -> None:
    needs = {"input": ["vat_account"], "output": ["vat_account"], "reverse_charge": ["vat_account",
             "self_assess_account"], "exempt": []}[tax.kind]
    # A system input code at 0 % is the tax itself (EUSt: import VAT as the customs notice states it).
    if tax.kind != "exempt" and Decimal(tax.rate) == 0 and not tax.is_system:
        raise ValidationFailed(f"A {tax.kind} tax code needs a rate above 0.", hint="Use kind exempt for 0 %.")
    for field in needs:
        if not getattr(tax, field):
            raise ValidationFailed(f"A {tax.kind} tax code needs {field}.",
                                   hint="Find the VAT accounts with search_accounts category input_vat/output_vat.")
    named = {n for n in (tax.vat_account, tax.self_assess_account) if n}
    accounts = await require_accounts(session, named) if named else {}
    expected = {"vat_account": _VAT_ACCOUNT_TYPE.get(tax.kind), "self_assess_account": "liability"}
    for field in needs:
        account = accounts[getattr(tax, field)]
        if account.type != expected[field]:
            raise ValidationFailed(f"{field} {account.number} ({account.name}) is a {account.type} account; a "
                                   f"{tax.kind} code needs a {expected[field]} account there.",
                                   hint="Input VAT is an asset (Vorsteuer), output VAT a liability (Umsatzsteuer).")


async def _tax_code_in_use(session: AsyncSession, code: str) -> bool:
    return (await session.exec(select(JournalLine.journal_number).where(JournalLine.tax_code == code)
                               .limit(1))).first() is not None
