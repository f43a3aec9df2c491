"""API keys for the HTTP transport: create (the secret is shown once), list, revoke, verify.

A key reads `lmk_<8 hex>_<43 url-safe chars>`. The first part (`lmk_<8 hex>`) is the public
prefix: it names the key in lists and in provenance. Only the sha256 of the whole key is stored;
256 random bits make a salted slow hash unnecessary.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.companies import HOME, check_held
from ledger_mcp.ledger.errors import ApiKeyNotFound, ValidationFailed
from ledger_mcp.ledger.models import ApiKey

KEY_PREFIX = "lmk_"

SCOPES: dict[str, str] = {
    "ledger:read": "read accounts, intents, journal, reports; verify the chain",
    "ledger:book": "post bookings and opening balances, reverse intents, create accounts",
    "ledger:reconcile": "match bank transactions with open items and intents",
    "ledger:approve": "approve review cases and payment runs (four-eyes second party)",
    "ledger:lock": "request and approve period locks",
    "ledger:admin": "everything, including tools that are not classified otherwise",
}
"""Every scope a key can hold, with what it allows. `ledger:admin` implies all others."""

ADMIN_SCOPE = "ledger:admin"


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as shown to an administrator: never the secret.

    prefix: the public part of the key; label: who or what uses it; scopes: granted scopes; companies:
    the slugs of the companies it may read and write ("default": the home ledger); created_at /
    revoked_at / last_used_at: UTC ISO timestamps (last use is updated at most once
    a minute per key)."""

    prefix: str
    label: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None
    companies: tuple[str, ...] = (HOME,)

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyInfo:
        return cls(prefix=row.prefix, label=row.label, scopes=tuple(row.scopes.split()), created_at=row.created_at,
                   revoked_at=row.revoked_at, last_used_at=row.last_used_at, companies=tuple(row.companies.split()))

    def holds(self, company: str) -> bool:
        return company in self.companies

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class CreatedKey:
    """The result of `create_api_key`: `secret` is the full key, returned this once only."""

    info: ApiKeyInfo
    secret: str


def prefix_of(secret: str) -> str:
    """The public prefix of a full key (its secret part may itself contain underscores)."""
    return secret[:len(KEY_PREFIX) + 8]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Comma- or space-separated scope names, checked against SCOPES; sorted, without duplicates."""
    names = scopes.replace(",", " ").split() if isinstance(scopes, str) else [s.strip() for s in scopes]
    unknown = sorted({n for n in names if n not in SCOPES})
    if unknown:
        raise ValidationFailed(f"Unknown scope(s): {', '.join(unknown)}.",
                               hint=f"Use any of: {', '.join(SCOPES)}.", details={"unknown_scopes": unknown})
    if not names:
        raise ValidationFailed("A key needs at least one scope.", hint="e.g. --scopes ledger:read,ledger:book")
    return tuple(sorted(set(names)))


async def create_api_key(session: AsyncSession, label: str, scopes: str | list[str] | tuple[str, ...],
                         companies: str | list[str] | tuple[str, ...] = (HOME,)) -> CreatedKey:
    """A new key in the home ledger; `companies`: comma-separated or a list of slugs it holds, each the home
    ledger ("default") or a company of the catalog."""
    label = label.strip()
    if not label:
        raise ValidationFailed("A key needs a label.", hint="Name who or what uses the key, e.g. 'invoice-agent'.")
    granted = parse_scopes(scopes)
    held = await check_held(session, companies.replace(",", " ").split() if isinstance(companies, str) else companies)
    prefix = f"{KEY_PREFIX}{secrets.token_hex(4)}"
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(prefix=prefix, secret_hash=hash_secret(secret), label=label, scopes=" ".join(granted),
                 companies=" ".join(held), created_at=utc_now())
    session.add(row)
    await session.flush()
    return CreatedKey(info=ApiKeyInfo.of(row), secret=secret)


async def list_api_keys(session: AsyncSession, *, include_revoked: bool = True) -> list[ApiKeyInfo]:
    query = select(ApiKey).order_by(col(ApiKey.created_at))
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return [ApiKeyInfo.of(row) for row in (await session.exec(query)).all()]


async def revoke_api_key(session: AsyncSession, prefix: str) -> ApiKeyInfo:
    """Revoke a key by its prefix; revoking a revoked key changes nothing."""
    row = await session.get(ApiKey, prefix.strip())
    if row is None:
        raise ApiKeyNotFound(f"No API key with prefix {prefix!r}.", hint="See `ledger-mcp keys list`.")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        session.add(row)
        await session.flush()
    return ApiKeyInfo.of(row)


async def verify_api_key(session: AsyncSession, secret: str) -> ApiKeyInfo | None:
    """The active key this secret belongs to, or None (unknown, malformed or revoked)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = (await session.exec(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))).first()
    # The hash lookup already matched; compare again in constant time against the stored value.
    if row is None or row.revoked_at is not None or not secrets.compare_digest(row.secret_hash, hash_secret(secret)):
        return None
    return ApiKeyInfo.of(row)


async def record_use(session: AsyncSession, prefix: str, at: str) -> None:
    row = await session.get(ApiKey, prefix)
    if row is not None:
        row.last_used_at = at
        session.add(row)
        await session.flush()
