"""Several companies in one instance: each company is a ledger of its own (database, documents, anchor
log); the home ledger ("default") keeps the catalog of the others (table `company`) and the API keys,
which name the companies they hold.

A company's ledger records who it is in its own `ledger_meta` (`company`, `company_name`), written with
its chart, so every row of that database is attributable to the company.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import ChartName, initialise, read_meta, set_company_name
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import CompanyExists, CompanyNotFound, ValidationFailed
from ledger_mcp.ledger.models import Company, LedgerMeta

log = logging.getLogger(__name__)

HOME = "default"
"""The slug of the home ledger: the instance's own database, which holds the catalog and the keys."""
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
HOME_NAME = "home ledger"


def endpoint(slug: str) -> str:
    """The path of a company's MCP endpoint over HTTP."""
    return "/mcp" if slug == HOME else f"/companies/{slug}/mcp"


def company_dir(home_data_dir: Path, slug: str) -> Path:
    """Where a company's SQLite file (by default), documents, inbox and anchor log live."""
    return home_data_dir / "companies" / slug


def check_slug(slug: str) -> str:
    slug = slug.strip()
    if not SLUG.fullmatch(slug):
        raise ValidationFailed(f"Invalid company slug {slug!r}.",
                               hint="Use 1-40 lower-case letters, digits and inner hyphens, e.g. 'mueller-gmbh'.")
    return slug


@dataclass(frozen=True)
class CompanyInfo:
    """A company of the catalog. database_url: None for the SQLite file in its company directory; never
    shown with its password (settings.display_url)."""

    slug: str
    name: str
    chart: str
    created_at: str
    database_url: str | None = None

    @classmethod
    def of(cls, row: Company) -> CompanyInfo:
        return cls(slug=row.slug, name=row.name, chart=row.chart, created_at=row.created_at,
                   database_url=row.database_url)


async def list_companies(session: AsyncSession) -> list[CompanyInfo]:
    """The catalog (read in the home ledger), by slug; the home ledger itself is not in it."""
    rows = (await session.exec(select(Company).order_by(col(Company.slug)))).all()
    return [CompanyInfo.of(row) for row in rows]


async def get_company(session: AsyncSession, slug: str) -> CompanyInfo:
    row = await session.get(Company, slug)
    if row is None:
        raise CompanyNotFound(f"No company {slug!r}.", hint="See `ledger-mcp companies list`.")
    return CompanyInfo.of(row)


async def rename_company(session: AsyncSession, slug: str, name: str) -> None:
    """The catalog's name of a company, kept equal to the name its own ledger has (`set_company_name`)."""
    row = await session.get(Company, slug)
    if row is None:
        raise CompanyNotFound(f"No company {slug!r}.", hint="See `ledger-mcp companies list`.")
    if row.name != name.strip():
        row.name = name.strip()
        session.add(row)
        await session.flush()


async def add_company(session: AsyncSession, slug: str, name: str, chart: str,
                      database_url: str | None = None) -> CompanyInfo:
    """Enter a company in the catalog (home ledger). Its own ledger is set up with `set_up_company`."""
    slug = check_slug(slug)
    if slug == HOME:
        raise CompanyExists(f"{HOME!r} is the home ledger.", hint="Choose another slug.")
    name = name.strip()
    if not name:
        raise ValidationFailed("A company needs a name.", hint="e.g. --name 'Müller GmbH'")
    if await session.get(Company, slug) is not None:
        raise CompanyExists(f"Company {slug!r} exists already.", hint="See `ledger-mcp companies list`.")
    row = Company(slug=slug, name=name, chart=chart, database_url=database_url, created_at=utc_now())
    session.add(row)
    await session.flush()
    return CompanyInfo.of(row)


async def set_up_company(session: AsyncSession, slug: str, name: str, chart: ChartName,
                         base_currency: str = "EUR") -> None:
    """In the company's own ledger: the chart, tax codes and who it is, in one transaction."""
    if not await initialise(session, chart, base_currency):
        meta = await read_meta(session)
        if meta.get("company") != slug:
            raise CompanyExists(f"The database for company {slug!r} holds another ledger "
                                f"({meta.get('company') or 'no company'}).",
                                hint="Give the company a database of its own (--database-url).")
        return
    session.add(LedgerMeta(key="company", value=slug))
    await set_company_name(session, name)


async def check_held(session: AsyncSession, slugs: Iterable[str]) -> tuple[str, ...]:
    """Slugs a key may hold: the home ledger and companies of the catalog; sorted, without duplicates."""
    names = sorted({check_slug(s) for s in slugs})
    if not names:
        raise ValidationFailed("A key needs at least one company.", hint=f"e.g. --companies {HOME}")
    known = {HOME, *(c.slug for c in await list_companies(session))}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CompanyNotFound(f"Unknown company(s): {', '.join(unknown)}.",
                              hint=f"Known: {', '.join(sorted(known))} (ledger-mcp companies list).",
                              details={"unknown_companies": unknown})
    return tuple(names)


class CompanyOverview(BaseModel):
    slug: str
    name: str
    endpoint: str = Field(description="Path of the company's MCP endpoint over HTTP.")
    reachable: bool = Field(description="false: its database did not answer; the counts are null.")
    currency: str | None = Field(description="Base currency of the amounts.")
    open_review_cases: int | None = Field(description="Review cases not yet approved or rejected.")
    overdue_items: int | None = Field(description="Open items past their due date today.")
    overdue_receivable: str | None
    overdue_payable: str | None


class CompanyList(BaseModel):
    companies: list[CompanyOverview]


async def _figures(session: AsyncSession) -> dict[str, object]:
    # Imported here: the API keys (and every server's start) need this module, not the booking modules.
    from ledger_mcp.ledger.open_items import open_items
    from ledger_mcp.ledger.review_cases import OPEN_STATES, count_cases

    cases = await count_cases(session)
    overdue = await open_items(session, overdue_only=True)
    return {"currency": overdue.currency,
            "open_review_cases": sum(n for state, n in cases.items() if state in OPEN_STATES),
            "overdue_items": len(overdue.open_items), "overdue_receivable": overdue.total_receivable,
            "overdue_payable": overdue.total_payable}


async def overview(home: Database, url_of: Callable[[CompanyInfo], str],
                   held: frozenset[str] | None) -> CompanyList:
    """The home ledger and each company in `held` (None: every one) with its open review cases and overdue
    open items. `url_of`: a company's database URL (Settings.for_company)."""
    catalog = [CompanyInfo(slug=HOME, name=HOME_NAME, chart="", created_at=""), *await home.read(list_companies)]
    result = []
    for company in catalog:
        if held is not None and company.slug not in held:
            continue
        figures: dict[str, object] = {"currency": None, "open_review_cases": None, "overdue_items": None,
                                      "overdue_receivable": None, "overdue_payable": None}
        reachable = True
        db = home if company.slug == HOME else Database(url_of(company))
        try:
            figures = await db.read(_figures)
        except Exception:  # one company's database down must not hide the others
            log.warning("company %s: its ledger cannot be read", company.slug, exc_info=True)
            reachable = False
        finally:
            if db is not home:
                await db.dispose()
        result.append(CompanyOverview(slug=company.slug, name=company.name, endpoint=endpoint(company.slug),
                                      reachable=reachable, **figures))  # type: ignore[arg-type]
    return CompanyList(companies=result)
