"""HTTP with API keys: 401 without a valid key, scopes checked per tool and resource, provenance
names the key that wrote each line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from mcp import MCPError
from mcp_types import PromptReference

from ledger_mcp.ledger import api_keys
from ledger_mcp.ledger.api_keys import prefix_of
from ledger_mcp.ledger.db import Database
from ledger_mcp.settings import Settings
from tests.conftest import book, call, confirming_human, fail, line
from tests.http.conftest import HttpLedger, connect, running

pytestmark = pytest.mark.anyio

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _post(ledger: HttpLedger, key: str | None, **headers: str) -> httpx2.Response:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(ledger.url, json=INITIALIZE, headers={**HEADERS, **auth, **headers})


async def test_without_a_key_401_points_to_the_resource_metadata(http_ledger: HttpLedger) -> None:
    response = await _post(http_ledger, None)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer") and "resource_metadata=" in challenge
    metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    async with httpx2.AsyncClient(timeout=30) as http:
        metadata = (await http.get(metadata_url)).json()
    assert metadata["resource"] == http_ledger.url
    assert set(metadata["scopes_supported"]) == set(api_keys.SCOPES)


@pytest.mark.parametrize("key", ["lmk_00000000_not-a-real-key", "something-else", "lmk_"])
async def test_unknown_keys_get_401(http_ledger: HttpLedger, new_key: Callable[..., Any], key: str) -> None:
    await new_key("real")
    assert (await _post(http_ledger, key)).status_code == 401


async def test_a_revoked_key_gets_401(http_ledger: HttpLedger, new_key: Callable[..., Any],
                                      settings: Settings) -> None:
    key = await new_key("to-revoke")
    assert (await _post(http_ledger, key)).status_code == 200
    db = Database(settings.database_url)
    try:
        await db.write(api_keys.revoke_api_key, prefix_of(key))
    finally:
        await db.dispose()
    assert (await _post(http_ledger, key)).status_code == 401


async def test_a_foreign_host_header_is_refused(http_ledger: HttpLedger, new_key: Callable[..., Any]) -> None:
    key = await new_key("agent")
    assert (await _post(http_ledger, key, Host="evil.example:80")).status_code == 421
    assert (await _post(http_ledger, key, Origin="http://evil.example")).status_code == 403


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_read_key_sees_and_calls_only_reading_tools(http_ledger: HttpLedger, new_key: Callable[..., Any],
                                                            mode: str) -> None:
    key = await new_key("auditor", "ledger:read")
    async with connect(http_ledger.url, key, mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "get_intent" in names and "post_booking" not in names and "reverse_intent" not in names
        error = await fail(client, "post_booking", booking_date="2026-03-02", description="x",
                           lines=[line("4930", "1200", "1.00")])
        assert error["code"] == "MISSING_SCOPE"
        assert error["details"]["required_scope"] == "ledger:book"
        assert "ledger:book" in error["message"] and "ledger:book" in error["hint"]
        assert (await call(client, "verify_chain"))["lines_checked"] == 0
        accounts = await client.read_resource("ledger://accounts/1200")
        assert json.loads(accounts.contents[0].text)["number"] == "1200"  # type: ignore[union-attr]


async def test_a_key_without_read_cannot_read_resources(http_ledger: HttpLedger, new_key: Callable[..., Any]) -> None:
    key = await new_key("writer-only", "ledger:book")
    async with connect(http_ledger.url, key) as client:
        booked = await book(client, line("4930", "1200", "1.00"))
        with pytest.raises(MCPError) as refused:
            await client.read_resource(f"ledger://intents/{booked['intent_id']}")
        assert "MISSING_SCOPE" in str(refused.value) and "ledger:read" in str(refused.value)
        error = await fail(client, "get_intent", intent_id=booked["intent_id"])
        assert error["details"]["required_scope"] == "ledger:read"


async def test_admin_implies_every_scope(http_ledger: HttpLedger, new_key: Callable[..., Any]) -> None:
    key = await new_key("admin", "ledger:admin")
    async with connect(http_ledger.url, key) as client:
        assert {"post_booking", "get_intent", "create_account"} <= {t.name for t in (await client.list_tools()).tools}
        await book(client, line("4930", "1200", "1.00"))


async def test_every_line_names_the_key_that_wrote_it(http_ledger: HttpLedger, new_key: Callable[..., Any]) -> None:
    keys = {label: await new_key(label) for label in ("invoice-agent", "bank-agent")}
    booked: dict[str, str] = {}
    for label, key in keys.items():
        async with connect(http_ledger.url, key) as client:
            booked[label] = (await book(client, line("4930", "1200", "119.00", "VSt19"),
                                         external_reference=label))["intent_id"]
    approver = await new_key("owner", "ledger:read,ledger:approve")
    async with connect(http_ledger.url, keys["invoice-agent"], elicitation_callback=confirming_human) as client:
        # Over HTTP the asking client could answer its own question: another key with ledger:approve grants.
        pending = await fail(client, "reverse_intent", intent_id=booked["bank-agent"], reason="wrong account")
        assert pending["code"] == "CONFIRMATION_REQUIRED"
        confirmation_id = pending["details"]["confirmation_id"]
        assert (await fail(client, "decide_confirmation", confirmation_id=confirmation_id,
                           decision="grant"))["code"] == "MISSING_SCOPE"
        async with connect(http_ledger.url, approver) as owner:
            listed = await call(owner, "list_confirmations")
            assert [c["id"] for c in listed["confirmations"]] == [confirmation_id]
            granted = await call(owner, "decide_confirmation", confirmation_id=confirmation_id, decision="grant")
            assert granted["decided_by"] == f"api_key:{prefix_of(approver)}"
        reversal = await call(client, "reverse_intent", intent_id=booked["bank-agent"], reason="wrong account",
                              confirmation_id=confirmation_id)
        for label, intent_id in [*booked.items(), ("invoice-agent", reversal["intent_id"])]:
            view = await call(client, "get_intent", intent_id=intent_id)
            prefix = prefix_of(keys[label])
            summaries = [view["summary"]["provenance_summary"], *(e["provenance_summary"] for e in view["entries"])]
            assert {(s["actor_type"], s["actor_label"], s["actor_key_prefix"]) for s in summaries} == {
                ("api_key", label, prefix)}
            assert f"{label} ({prefix}…)" in summaries[0]["actor_display"]
            resource = await client.read_resource(f"ledger://intents/{intent_id}")
            audit = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
            assert audit["summary"]["provenance_summary"]["actor_key_prefix"] == prefix


async def test_a_key_cannot_grant_its_own_confirmation(http_ledger: HttpLedger,
                                                       new_key: Callable[..., Any]) -> None:
    both = await new_key("agent-with-everything", "ledger:read,ledger:book,ledger:approve")
    async with connect(http_ledger.url, both, elicitation_callback=confirming_human) as client:
        booked = await book(client, line("4930", "1200", "10.00"))
        pending = await fail(client, "reverse_intent", intent_id=booked["intent_id"], reason="x")
        error = await fail(client, "decide_confirmation", confirmation_id=pending["details"]["confirmation_id"],
                           decision="grant")
        assert error["code"] == "FOUR_EYES_REQUIRED"
        assert (await fail(client, "reverse_intent", intent_id=booked["intent_id"], reason="x",
                           confirmation_id=pending["details"]["confirmation_id"]))["code"] == "CONFIRMATION_INVALID"


async def test_completion_needs_the_read_scope(http_ledger: HttpLedger, new_key: Callable[..., Any]) -> None:
    ref = PromptReference(type="ref/prompt", name="explain_account")
    async with connect(http_ledger.url, await new_key("writer", "ledger:book")) as client:
        assert (await client.complete(ref, {"name": "account", "value": "12"})).completion.values == []
    async with connect(http_ledger.url, await new_key("reader", "ledger:read")) as client:
        assert "1200" in (await client.complete(ref, {"name": "account", "value": "12"})).completion.values


async def test_an_allowed_host_passes_the_rebinding_check(settings: Settings, new_key: Callable[..., Any]) -> None:
    key = await new_key("behind-proxy")
    async with running(settings, allowed_hosts=("ledger.example.com:443",)) as ledger:
        assert (await _post(ledger, key, Host="ledger.example.com:443")).status_code == 200
        assert (await _post(ledger, key, Host="other.example.com:443")).status_code == 421


async def test_use_of_a_key_is_recorded(http_ledger: HttpLedger, new_key: Callable[..., Any],
                                        settings: Settings) -> None:
    used, unused = await new_key("used"), await new_key("unused")
    assert (await _post(http_ledger, used)).status_code == 200
    db = Database(settings.database_url)
    try:
        keys = {k.prefix: k for k in await db.read(api_keys.list_api_keys)}
    finally:
        await db.dispose()
    assert keys[prefix_of(used)].last_used_at is not None
    assert keys[prefix_of(unused)].last_used_at is None


async def test_four_eyes_with_two_keys_and_no_lock_for_the_booking_agent(http_ledger: HttpLedger,
                                                                          new_key: Callable[..., Any]) -> None:
    booker = await new_key("invoice-agent", "ledger:read,ledger:book")
    alice = await new_key("alice", "ledger:read,ledger:lock")
    bob = await new_key("bob", "ledger:read,ledger:lock")
    async with connect(http_ledger.url, booker) as agent:
        await book(agent, line("4930", "1200", "10.00"), date="2026-01-15")
        assert "lock_period" not in {t.name for t in (await agent.list_tools()).tools}
        error = await fail(agent, "lock_period", action="request_lock", period="2026-01")
        assert (error["code"], error["details"]["required_scope"]) == ("MISSING_SCOPE", "ledger:lock")
    async with connect(http_ledger.url, alice, elicitation_callback=confirming_human) as requester:
        requested = await call(requester, "lock_period", action="request_lock", period="2026-01")
        error = await fail(requester, "lock_period", action="approve_lock", period="2026-01",
                           request_id=requested["request_id"])
        assert error["code"] == "FOUR_EYES_REQUIRED"
    async with connect(http_ledger.url, bob, elicitation_callback=confirming_human) as approver:
        locked = await call(approver, "lock_period", action="approve_lock", period="2026-01",
                            request_id=requested["request_id"])
    assert locked["status"] == "locked" and locked["closing_hash"]
    assert (locked["requested_by"], locked["approved_by"]) == (f"api_key:{prefix_of(alice)}",
                                                               f"api_key:{prefix_of(bob)}")
