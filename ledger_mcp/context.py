"""What tools and resources share: the open ledger and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context

from ledger_mcp.ledger.api_keys import ADMIN_SCOPE, SCOPES
from ledger_mcp.ledger.companies import HOME, CompanyInfo, CompanyList, overview
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.documents import DocumentStore
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.settings import Settings


@dataclass(frozen=True)
class Caller:
    """Who makes the current request. actor_type "api_key" (HTTP, with the key's label and prefix)
    or the configured local actor (stdio: every scope). companies: the companies the key holds; None for
    the local actor, who runs the instance and reaches every company."""

    actor_type: str
    actor_label: str
    key_prefix: str | None
    scopes: frozenset[str]
    companies: frozenset[str] | None = None

    def has(self, scope: str) -> bool:
        return ADMIN_SCOPE in self.scopes or scope in self.scopes


@dataclass(frozen=True)
class AppContext:
    """One per server. actor/actor_type: the identity this instance books for when no API key is
    used (stdio). requires_key: HTTP with authentication, where a request without a verified key
    has no scope at all (fail closed). confirm_policy: see `Settings.confirm_policy`. documents: the
    store invoices are ingested into. approval_confirm_above: review-case approvals above this gross
    amount ask the user to confirm. company: the company this server's ledger is (ledger.companies.HOME for
    the home ledger); home: the home ledger's database (API keys, catalog of companies) when this server is
    another company's, else None; home_settings: the home ledger's settings (where each company's ledger is)."""

    db: Database
    actor: str
    documents: DocumentStore
    actor_type: str = "user"
    requires_key: bool = False
    confirm_policy: str = "pending"
    approval_confirm_above: str = "1000.00"
    transport: str = "stdio"  # or "http"
    company: str = HOME
    home: Database | None = None
    home_settings: Settings | None = None

    @property
    def catalog(self) -> Database:
        """The database that holds the API keys and the catalog of companies."""
        return self.home or self.db

    async def companies(self) -> CompanyList:
        """The home ledger and the companies of its catalog that the caller holds, with their open review
        cases and overdue open items (ledger://companies, list_companies)."""
        home = self.home_settings
        assert home is not None

        def url_of(company: CompanyInfo) -> str:
            return home.for_company(company.slug, company.database_url).database_url

        return await overview(self.catalog, url_of, self.caller().companies)

    def caller(self) -> Caller:
        token = get_access_token()
        if token is not None:
            label = str((token.claims or {}).get("label") or token.client_id)
            held = (token.claims or {}).get("companies") or ()
            return Caller("api_key", label, token.client_id, frozenset(token.scopes), frozenset(held))
        if self.requires_key:
            return Caller("anonymous", "anonymous", None, frozenset())
        return Caller(self.actor_type, self.actor, None, frozenset(SCOPES))


def provenance(ctx: Context[Any, Any], app: AppContext) -> Provenance:
    """Channel MCP, the caller (API key label and prefix on HTTP, else the configured actor), and the
    client as it introduced itself."""
    params = getattr(ctx.request_context.session, "client_params", None)
    info = getattr(params, "client_info", None)
    caller = app.caller()
    return Provenance(surface="mcp", channel=Channel.MCP, actor_type=caller.actor_type, actor_label=caller.actor_label,
                      actor_key_prefix=caller.key_prefix, client_name=getattr(info, "name", None),
                      client_version=getattr(info, "version", None))
