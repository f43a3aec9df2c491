"""Vendors and customers: the parties invoices and payments belong to.

Parties are master data: they can be corrected and deactivated, never deleted, because their
invoices and payments reference them. IBAN, BIC and VAT IDs are checked with schwifty and
python-stdnum and stored in their compact form.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import require_accounts
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import InvalidIban, InvalidVatId, PartyExists, PartyNotFound, ValidationFailed
from ledger_mcp.ledger.models import Party
from ledger_mcp.ledger.portable import binary, lower
from ledger_mcp.ledger.provenance import Provenance

PartyKind = Literal["vendor", "customer"]

# Personal account ranges as DATEV numbers them: Debitoren 10000-69999, Kreditoren 70000-99999.
FIRST_NUMBER = {"customer": 10000, "vendor": 70000}
DEFAULT_PAYMENT_TERMS_DAYS = 30


class PartyChanges(BaseModel):
    """Fields of a vendor or customer. On update, fields left out (null) stay as they are and an empty
    string clears an optional field."""

    model_config = ConfigDict(frozen=True)
    name: str | None = Field(default=None, max_length=200)
    tax_id: str | None = Field(default=None, max_length=64, description="Steuernummer")
    vat_id: str | None = Field(default=None, max_length=32, description="USt-IdNr., e.g. DE136695976")
    iban: str | None = Field(default=None, max_length=50)
    bic: str | None = Field(default=None, max_length=20, description="Derived from a German IBAN when omitted.")
    address: str | None = Field(default=None, max_length=1000)
    default_account: str | None = Field(default=None, max_length=16,
                                        description="Expense (vendor) or revenue (customer) account used for "
                                                    "invoice lines that name none.")
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    notes: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = Field(default=None, description="false deactivates the party (it is never deleted).")


class PartyInfo(BaseModel):
    id: str
    kind: str
    number: str = Field(description="Personal account number (DATEV Debitor/Kreditor).")
    name: str
    tax_id: str | None
    vat_id: str | None
    iban: str | None
    bic: str | None
    address: str | None
    default_account: str | None
    payment_terms_days: int
    notes: str | None
    is_active: bool
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str
    open_amount: str | None = Field(default=None, description="Sum of the party's open items (credit notes "
                                                               "negative); filled where the caller asks.")

    @classmethod
    def of(cls, party: Party, open_amount: str | None = None) -> PartyInfo:
        data = party.model_dump()
        data["payment_terms_days"] = party.payment_terms_days or DEFAULT_PAYMENT_TERMS_DAYS
        return cls(**data, open_amount=open_amount)


async def save_party(session: AsyncSession, kind: PartyKind, party_id: str | None, changes: PartyChanges,
                     provenance: Provenance) -> tuple[Party, bool]:
    """Create a party (party_id None) or apply `changes` to one. Returns (party, created)."""
    values = await _clean(session, changes)
    now, who = utc_now(), provenance.actor_display
    if party_id is None:
        if not values.get("name"):
            raise ValidationFailed("A new party needs a name.", hint="Pass name, e.g. 'Muster GmbH'.")
        party = Party(id=str(uuid4()), kind=kind, number=await _next_number(session, kind), name=str(values["name"]),
                      created_at=now, created_by=who, updated_at=now, updated_by=who)
        created = True
    else:
        party = await get_party(session, party_id, kind)
        created = False
    for field, value in values.items():
        setattr(party, field, value)
    if not party.name:
        raise ValidationFailed("A party's name cannot be cleared.", hint="Pass a new name instead.")
    await _refuse_twin(session, party)
    party.updated_at, party.updated_by = now, who
    session.add(party)
    await session.flush()
    return party, created


async def get_party(session: AsyncSession, party_id: str, kind: str | None = None) -> Party:
    party = await session.get(Party, party_id)
    if party is None or (kind and party.kind != kind):
        what = kind or "party"
        raise PartyNotFound(f"No {what} with id {party_id!r}.",
                            hint=f"Find it with find_parties (kind {kind or 'vendor/customer'}), or create it "
                                 "with save_party.")
    return party


async def search_parties(session: AsyncSession, kind: str | None = None, search: str = "",
                         is_active: bool | None = True, limit: int = 50, offset: int = 0) -> list[Party]:
    """By name, number, VAT ID or IBAN (case-insensitive substring), name order."""
    stmt = select(Party)
    if kind:
        stmt = stmt.where(Party.kind == kind)
    if is_active is not None:
        stmt = stmt.where(Party.is_active == is_active)
    text = search.strip()
    if text:
        compact = text.replace(" ", "").upper()
        stmt = stmt.where(or_(lower(Party.name).contains(text.lower(), autoescape=True),
                              col(Party.number).startswith(text, autoescape=True),
                              col(Party.vat_id).contains(compact, autoescape=True),
                              col(Party.iban).contains(compact, autoescape=True)))
    stmt = stmt.order_by(binary(lower(Party.name)), binary(Party.number)).offset(offset).limit(limit)
    return list((await session.exec(stmt)).all())


async def _clean(session: AsyncSession, changes: PartyChanges) -> dict[str, object]:
    """The given fields, trimmed and validated; '' becomes None (cleared)."""
    values: dict[str, object] = {}
    for field, raw in changes.model_dump(exclude_none=True).items():
        values[field] = (raw.strip() or None) if isinstance(raw, str) else raw
    if values.get("iban"):
        values["iban"] = normalise_iban(str(values["iban"]))
        if not changes.bic:
            values["bic"] = _bic_of(str(values["iban"]))
    if values.get("bic"):
        values["bic"] = _normalise_bic(str(values["bic"]))
    if values.get("vat_id"):
        values["vat_id"] = normalise_vat_id(str(values["vat_id"]))
    if values.get("default_account"):
        await require_accounts(session, {str(values["default_account"])})
    return values


# schwifty and python-stdnum load their registries on import: they are imported where a party is checked,
# not when the server starts.


def normalise_iban(text: str) -> str:
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        return str(IBAN(text).compact)
    except SchwiftyException as exc:
        raise InvalidIban(f"IBAN {text!r} is not valid: {exc}.",
                          hint="Check the IBAN for typos (country code, check digits, length).") from None


def _bic_of(iban: str) -> str | None:
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        bic = IBAN(iban).bic
    except SchwiftyException:
        return None
    return str(bic.compact) if bic else None


def _normalise_bic(text: str) -> str:
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    try:
        return str(BIC(text).compact)
    except SchwiftyException as exc:
        raise ValidationFailed(f"BIC {text!r} is not valid: {exc}.",
                               hint="A BIC has 8 or 11 characters, e.g. COBADEFFXXX; or omit it.") from None


def normalise_vat_id(text: str) -> str:
    """EU VAT IDs (and other countries' that python-stdnum knows) in compact form, check digits verified."""
    from stdnum.eu import vat as eu_vat
    from stdnum.exceptions import ValidationError as StdnumError

    compact = "".join(ch for ch in text.upper() if ch.isalnum())
    country = compact[:2].lower()
    module = eu_vat if country in eu_vat.MEMBER_STATES or country in ("el", "xi") else _vat_module(country)
    if module is None:
        raise InvalidVatId(f"VAT ID {text!r} has no known country prefix.",
                           hint="Start the VAT ID with its country code, e.g. DE136695976.")
    try:
        validated: str = module.validate(compact if module is eu_vat else compact[2:])
    except StdnumError as exc:
        raise InvalidVatId(f"VAT ID {text!r} is not valid: {exc}.",
                           hint="Check the VAT ID for typos; German ones are DE plus 9 digits.") from None
    return validated if module is eu_vat else compact[:2] + validated


def _vat_module(country: str) -> Any:
    from stdnum import get_cc_module

    try:
        return get_cc_module(country, "vat")
    except (ImportError, ValueError):
        return None


async def _next_number(session: AsyncSession, kind: str) -> str:
    last = (await session.exec(select(func.max(Party.number)).where(Party.kind == kind))).one()
    return str(int(last) + 1 if last else FIRST_NUMBER[kind])


async def _refuse_twin(session: AsyncSession, party: Party) -> None:
    """One party per VAT ID and per IBAN within a kind: a second one is almost always a duplicate."""
    for field in ("vat_id", "iban"):
        value = getattr(party, field)
        if not value:
            continue
        twin = (await session.exec(select(Party).where(Party.kind == party.kind, getattr(Party, field) == value,
                                                       Party.id != party.id))).first()
        if twin:
            raise PartyExists(f"{party.kind.capitalize()} {twin.name} ({twin.number}) already has {field} {value}.",
                              hint=f"Update that {party.kind} (party_id {twin.id}) instead of creating another.",
                              details={"party_id": twin.id, "field": field})
