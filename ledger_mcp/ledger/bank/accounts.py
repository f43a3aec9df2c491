"""Bank accounts: IBAN and BIC checked, each tied to its own ledger account (SKR03 1200ff, SKR04 1800ff),
which is created when the chart has no free one."""

from __future__ import annotations

from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta, require_accounts
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import (
    BankAccountExists,
    BankAccountNotFound,
    UnsupportedCurrency,
    ValidationFailed,
)
from ledger_mcp.ledger.models import Account, BankAccount
from ledger_mcp.ledger.money import minor_units
from ledger_mcp.ledger.parties import _bic_of, _normalise_bic, normalise_iban
from ledger_mcp.ledger.portable import binary
from ledger_mcp.ledger.provenance import Provenance

# Where a chart keeps its bank accounts: new ones are numbered inside this range.
BANK_RANGE = {"skr03": ("1200", "1299"), "skr04": ("1800", "1899")}


class BankAccountRequest(BaseModel):
    """A bank account to create, or (with bank_account_id) to rename."""

    model_config = ConfigDict(frozen=True)
    bank_account_id: str | None = None
    name: str = Field(min_length=1, max_length=200)
    iban: str | None = None
    bic: str | None = None
    account_number: str | None = Field(default=None, max_length=34)
    currency: str | None = None
    ledger_account: str | None = None


async def get_bank_account(session: AsyncSession, bank_account_id: str) -> BankAccount:
    account = await session.get(BankAccount, bank_account_id)
    if account is None:
        raise BankAccountNotFound(f"No bank account with id {bank_account_id!r}.",
                                  hint="List them with list_bank_accounts, or create one with save_bank_account.")
    return account


async def save_bank_account(session: AsyncSession, request: BankAccountRequest,
                            provenance: Provenance) -> tuple[BankAccount, bool]:
    """Create a bank account, or rename one (nothing else of an account with transactions changes).
    Returns (account, created)."""
    if request.bank_account_id:
        account = await get_bank_account(session, request.bank_account_id)
        account.name = request.name.strip()
        session.add(account)
        await session.flush()
        return account, False
    meta = await read_meta(session)
    currency = (request.currency or meta["base_currency"]).upper()
    minor_units(currency)
    if currency != meta["base_currency"]:
        raise UnsupportedCurrency(
            f"Bank accounts in {currency} are not supported yet; the ledger's base currency is "
            f"{meta['base_currency']}.", hint=f"Create the account in {meta['base_currency']}.")
    iban = normalise_iban(request.iban) if request.iban else None
    if iban is None and not request.account_number:
        raise ValidationFailed("A bank account needs an iban (or an account_number for non-SEPA accounts).",
                               hint="Pass the IBAN as printed on the statement, e.g. 'DE89 3704 0044 0532 0130 00'.")
    if iban:
        existing = (await session.exec(select(BankAccount).where(BankAccount.iban == iban))).first()
        if existing:
            raise BankAccountExists(f"IBAN {iban} is already bank account {existing.name!r}.",
                                    hint="Use that bank account's id.", details={"bank_account_id": existing.id})
    bic = _normalise_bic(request.bic) if request.bic else (_bic_of(iban) if iban else None)
    ledger_account = await _ledger_account(session, request, meta["chart"])
    account = BankAccount(id=str(uuid4()), name=request.name.strip(), iban=iban, bic=bic,
                          account_number=request.account_number, currency=currency, ledger_account=ledger_account,
                          created_at=utc_now(), created_by=provenance.actor_display[:300])
    session.add(account)
    await session.flush()
    return account, True


async def _ledger_account(session: AsyncSession, request: BankAccountRequest, chart: str) -> str:
    taken = set((await session.exec(select(BankAccount.ledger_account))).all())
    if request.ledger_account:
        number = request.ledger_account.strip()
        account = (await require_accounts(session, {number}))[number]
        if account.type != "asset" or account.category not in {"bank", "cash"}:
            raise ValidationFailed(f"Account {number} ({account.name}) is not a bank account.",
                                   hint="Name an asset account of category bank (SKR03 1200ff, SKR04 1800ff), or "
                                        "omit ledger_account to have one chosen or created.")
        if number in taken:
            raise BankAccountExists(f"Ledger account {number} already belongs to another bank account.",
                                    hint="Each bank account books on its own ledger account; omit ledger_account.")
        return number
    low, high = BANK_RANGE.get(chart, BANK_RANGE["skr03"])
    in_range = list((await session.exec(
        select(Account).where(col(Account.number) >= low, col(Account.number) <= high)
        .order_by(binary(Account.number)))).all())
    for account in in_range:
        if account.category == "bank" and account.is_active and account.number not in taken:
            return account.number
    used = {a.number for a in in_range}
    top = max((int(a.number) for a in in_range if a.category == "bank"), default=int(low))
    for candidate in [*range(top + 10 - top % 10, int(high) + 1, 10), *range(int(low), int(high) + 1)]:
        if str(candidate) not in used:
            name = (request.name.strip() or "Bank")[:200]
            session.add(Account(number=str(candidate), name=name, type="asset", category="bank",
                                report_group="bs.current_assets.cash", is_system=False, created_at=utc_now()))
            await session.flush()
            return str(candidate)
    raise ValidationFailed(f"No free account number between {low} and {high}.",
                           hint="Pass ledger_account naming an existing bank account of the chart.")
