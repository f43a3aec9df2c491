"""Several companies in one instance: a real HTTP server serving the home ledger and two companies, keys
that hold one or both, and `serve --company` over real stdio. On PostgreSQL each company has a database of
its own on the test server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters

from ledger_mcp.ledger import api_keys, companies
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.chain import verify_chain
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.models import Intent
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings
from tests.conftest import ON_POSTGRES, book, call, fresh_database_url, line
from tests.http.conftest import HttpLedger, connect, running

pytestmark = pytest.mark.anyio

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "MCP-Protocol-Version": "2025-06-18"}
ALL_SCOPES = "ledger:admin"


@dataclass
class Keys:
    a: str  # holds alpha
    ab: str  # holds alpha and beta


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as resources:
        yield resources


async def add_company(home: Settings, slug: str, stack: ExitStack, chart: str = "skr03") -> Settings:
    """What `ledger-mcp companies create` does: the company's own ledger, then its row in the catalog."""
    url = stack.enter_context(fresh_database_url(home.data_dir / slug)) if ON_POSTGRES else None
    company = home.for_company(slug, url, chart)
    company.prepare()
    db = Database(company.database_url)
    try:
        await db.create_schema()
        await db.write(companies.set_up_company, slug, f"{slug.title()} GmbH", chart)
    finally:
        await db.dispose()
    catalog = Database(home.database_url)
    try:
        await catalog.write(companies.add_company, slug, f"{slug.title()} GmbH", chart, url)
    finally:
        await catalog.dispose()
    return company


@pytest.fixture
async def two(settings: Settings, stack: ExitStack) -> dict[str, Settings]:
    settings.prepare()
    home = Database(settings.database_url)
    try:
        await prepare_ledger(home, settings.chart)
    finally:
        await home.dispose()
    return {"alpha": await add_company(settings, "alpha", stack), "beta": await add_company(settings, "beta", stack)}


@pytest.fixture
async def keys(settings: Settings, two: dict[str, Settings]) -> Keys:
    home = Database(settings.database_url)
    try:
        a = await home.write(api_keys.create_api_key, "agent-a", ALL_SCOPES, "alpha")
        ab = await home.write(api_keys.create_api_key, "agent-ab", ALL_SCOPES, "alpha,beta")
    finally:
        await home.dispose()
    return Keys(a=a.secret, ab=ab.secret)


@pytest.fixture
async def server(settings: Settings, two: dict[str, Settings]) -> AsyncIterator[HttpLedger]:
    async with running(settings) as ledger:
        yield ledger


def endpoint(server: HttpLedger, slug: str) -> str:
    return f"{server.base}/companies/{slug}/mcp"


async def state(company: Settings) -> dict[str, Any]:
    """What a company's ledger holds: the chain report (lines, record events, coverage per table)."""
    db = Database(company.database_url)
    try:
        report = await db.read(verify_chain)
    finally:
        await db.dispose()
    return {"ok": report.ok, "lines": report.lines_checked, "coverage": report.coverage}


async def raw(url: str, key: str | None, method: str, params: dict[str, Any]) -> httpx2.Response:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(url, headers={**HEADERS, **auth},
                               json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


async def test_a_key_is_refused_on_a_company_it_does_not_hold_for_every_tool_and_resource(
        server: HttpLedger, keys: Keys, two: dict[str, Settings]) -> None:
    beta = endpoint(server, "beta")
    async with connect(beta, keys.ab) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    assert {"post_booking", "list_companies", "lock_period"} <= set(tools)
    assert "ledger://companies" in resources and "ledger://intents/{intent_id}" in templates
    before = await state(two["beta"])
    calls = [("tools/call", {"name": name, "arguments": {"booking_date": "2026-03-02", "description": "x",
                                                         "lines": [line("4930", "1200", "1.00")]}})
             for name in tools]
    calls += [("resources/read", {"uri": uri}) for uri in resources]
    calls += [("resources/read", {"uri": re.sub(r"\{[^}]+\}", "x1", template)}) for template in templates]
    for method, params in calls:
        refused = await raw(beta, keys.a, method, params)
        assert refused.status_code == 403, (method, params, refused.status_code)
        assert refused.json() == {"error": "forbidden", "error_description": "This key does not hold this company."}
        # The same request with a key that holds beta gets past the gate: the refusal above is the key's.
        assert (await raw(beta, keys.ab, method, params)).status_code not in (401, 403, 404), (method, params)
    assert (await raw(beta, keys.a, "initialize", {})).status_code == 403
    after = await state(two["beta"])
    assert before == after and after["lines"] == 0  # nothing was written to beta by key A


async def test_refusals_do_not_tell_which_companies_exist(server: HttpLedger, keys: Keys) -> None:
    existing = await raw(endpoint(server, "beta"), keys.a, "initialize", {})
    missing = await raw(endpoint(server, "no-such-company"), keys.a, "initialize", {})
    assert (existing.status_code, existing.json()) == (missing.status_code, missing.json())
    # The home ledger is a company like the others: neither key holds it.
    assert (await raw(server.url, keys.ab, "initialize", {})).status_code == 403
    anonymous = await raw(endpoint(server, "beta"), None, "initialize", {})
    assert anonymous.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    assert metadata_url == f"{server.base}/.well-known/oauth-protected-resource/companies/beta/mcp"
    async with httpx2.AsyncClient(timeout=30) as http:
        metadata = (await http.get(metadata_url)).json()
        unknown = (await http.get(metadata_url.replace("beta", "no-such-company"))).json()
    assert metadata["resource"] == endpoint(server, "beta")
    assert set(metadata["scopes_supported"]) == set(api_keys.SCOPES)
    assert unknown["resource"] == endpoint(server, "no-such-company")
    assert (await raw(endpoint(server, "beta"), "lmk_00000000_wrong", "initialize", {})).status_code == 401


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_key_with_both_books_in_each_and_each_chain_verifies_alone(
        server: HttpLedger, keys: Keys, two: dict[str, Settings], settings: Settings, mode: str) -> None:
    booked = {}
    for slug, amount in (("alpha", "119.00"), ("beta", "238.00"), ("beta", "11.90")):
        async with connect(endpoint(server, slug), keys.ab, mode=mode) as client:
            result = await book(client, line("4930", "1200", amount, "VSt19"), description=f"{slug} {amount}")
            booked.setdefault(slug, []).append(result["intent_id"])
            assert (await call(client, "verify_chain"))["ok"]
            view = await call(client, "get_intent", intent_id=result["intent_id"])
            assert view["summary"]["provenance_summary"]["actor_label"] == "agent-ab"
    for slug, count in (("alpha", 1), ("beta", 2)):
        db = Database(two[slug].database_url, anchor_log=two[slug].anchor_log)
        try:
            ids = {i.id for i in await db.read(lambda s: _all(s, Intent))}
            meta = await db.read(read_meta)
            report = await db.read(verify_chain, anchors=[db.anchor_log.anchor()] if db.anchor_log else [])
        finally:
            await db.dispose()
        assert ids == set(booked[slug]) and len(ids) == count
        assert (meta["company"], meta["company_name"]) == (slug, f"{slug.title()} GmbH")
        assert report.ok and report.lines_checked == 2 * count, report.first_break
        assert two[slug].anchor_log is not None and two[slug].anchor_log.is_file()
    home = await state(settings)
    assert home["lines"] == 0


async def _all(session: Any, table: Any) -> list[Any]:
    from sqlmodel import select

    return list((await session.exec(select(table))).all())


async def test_list_companies_shows_only_the_companies_a_key_holds(
        server: HttpLedger, keys: Keys, two: dict[str, Settings]) -> None:
    async with connect(endpoint(server, "beta"), keys.ab) as client:
        party = (await call(client, "save_party", kind="customer", name="Late Payer AG"))["id"]
        await call(client, "create_invoice", direction="receivable", party_id=party, invoice_number="R-1",
                   invoice_date="2026-01-05", due_date="2026-01-19", total_gross="119.00",
                   lines=[{"net_amount": "100.00", "tax_code": "USt19", "account": "8400"}])
        listed = await call(client, "list_companies")
        resource = json.loads((await client.read_resource("ledger://companies")).contents[0].text)  # type: ignore[union-attr]
    assert listed == resource
    rows = {c["slug"]: c for c in listed["companies"]}
    assert set(rows) == {"alpha", "beta"}
    assert rows["beta"] == {
        "slug": "beta", "name": "Beta GmbH", "endpoint": "/companies/beta/mcp", "reachable": True, "currency": "EUR",
        "open_review_cases": 0, "overdue_items": 1, "overdue_receivable": "119.00", "overdue_payable": "0.00"}
    assert rows["alpha"]["overdue_items"] == 0
    async with connect(endpoint(server, "alpha"), keys.a) as client:
        assert [c["slug"] for c in (await call(client, "list_companies"))["companies"]] == ["alpha"]


async def test_a_company_created_while_serving_is_served_on_its_first_request(
        server: HttpLedger, settings: Settings, stack: ExitStack) -> None:
    gamma = await add_company(settings, "gamma", stack, chart="skr04")
    home = Database(settings.database_url)
    try:
        key = (await home.write(api_keys.create_api_key, "gamma-agent", "ledger:read,ledger:book", "gamma")).secret
    finally:
        await home.dispose()
    async with connect(endpoint(server, "gamma"), key) as client:
        found = await call(client, "search_accounts", query="1800")  # SKR04's bank account
        assert any(a["number"] == "1800" for a in found["accounts"])
        await book(client, line("6815", "1800", "10.00"))
    assert (await state(gamma))["lines"] == 1


async def test_keys_name_only_known_companies(settings: Settings, two: dict[str, Settings]) -> None:
    run = subprocess.run([sys.executable, "-m", "ledger_mcp", "keys", "create", "--label", "x", "--scopes",
                          "ledger:read", "--companies", "alpha,nope", "--data-dir", str(settings.data_dir),
                          "--database-url", settings.database_url], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "Unknown company(s): nope" in run.stderr


async def test_stdio_serve_company_books_into_that_company(settings: Settings, stack: ExitStack) -> None:
    env = {**os.environ, "LEDGER_MCP_DATABASE_URL": settings.database_url,
           "LEDGER_MCP_DATA_DIR": str(settings.data_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ledger_mcp", *args], capture_output=True, text=True, timeout=60,
                              env=env)

    assert cli("init").returncode == 0
    url = stack.enter_context(fresh_database_url(settings.data_dir / "delta")) if ON_POSTGRES else None
    created = cli("companies", "create", "delta", "--name", "Delta KG", "--chart", "skr04",
                  *(["--database-url", url] if url else []))
    assert created.returncode == 0, created.stderr
    assert "/companies/delta/mcp" in created.stdout
    listed = cli("companies", "list")
    assert listed.stdout.startswith("delta  Delta KG  skr04  ") and (url is None or "password" not in listed.stdout)
    params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--company", "delta",
                                                                 "--toolsets", "all"], env=env)
    async with Client(params) as client:
        booked = await book(client, line("6815", "1800", "10.00"), description="delta only")
        listed_tools = await call(client, "list_companies")
    assert [c["slug"] for c in listed_tools["companies"]] == ["default", "delta"]
    delta = settings.for_company("delta", url)
    db = Database(delta.database_url)
    try:
        assert [i.id for i in await db.read(lambda s: _all(s, Intent))] == [booked["intent_id"]]
    finally:
        await db.dispose()
    assert (await state(settings))["lines"] == 0
    verify = cli("verify", "--company", "delta")
    assert verify.returncode == 0 and '"lines_checked": 1' in verify.stdout, verify.stdout + verify.stderr
    assert cli("verify", "--company", "nope").returncode == 1
    renamed = cli("init", "--company", "delta", "--name", "Delta GmbH & Co. KG")
    assert renamed.returncode == 0 and "Delta GmbH & Co. KG" in renamed.stdout, renamed.stdout + renamed.stderr
    assert cli("companies", "list").stdout.startswith("delta  Delta GmbH & Co. KG  skr04  ")  # the catalog too
    assert cli("verify", "--company", "delta").returncode == 0 and cli("verify").returncode == 0


async def test_a_company_server_checks_the_key_itself(keys: Keys, two: dict[str, Settings]) -> None:
    """Behind the router's check, each company's server accepts only keys that hold it (fail closed)."""
    async with running(two["beta"]) as beta_alone:
        assert (await raw(beta_alone.url, keys.a, "initialize", {})).status_code == 401
        async with connect(beta_alone.url, keys.ab) as client:
            assert (await call(client, "verify_chain"))["ok"]
