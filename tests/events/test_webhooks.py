"""Webhooks: signed deliveries from the outbox to a real receiver on 127.0.0.1, a retry after a 500, exactly
one delivery per event across a restart and between two workers, the SSRF refusals, replay, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace

import anyio
import pytest
from mcp import Client
from sqlmodel import select

from ledger_mcp.ledger import webhooks
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.delivery import Deliverer, DeliveryOptions
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.models import OutboxEvent, WebhookEndpoint
from ledger_mcp.server import build_server
from ledger_mcp.settings import Settings
from tests.conftest import CLI, book, call, fail, line
from tests.events.conftest import Receiver, receiving

pytestmark = pytest.mark.anyio
FAST = DeliveryOptions(backoff_base=0.05, backoff_cap=0.2, poll_seconds=0.1, max_attempts=3)


@pytest.fixture
def fast_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's worker retries at once and polls often, so tests do not sleep long."""
    monkeypatch.setenv("LEDGER_MCP_WEBHOOK_BACKOFF", "0.05")
    monkeypatch.setenv("LEDGER_MCP_WEBHOOK_BACKOFF_CAP", "0.2")
    monkeypatch.setenv("LEDGER_MCP_WEBHOOK_POLL", "0.1")
    monkeypatch.setenv("LEDGER_MCP_WEBHOOK_ATTEMPTS", "3")


async def _register(db: Database, receiver: Receiver, events: list[str] | None = None) -> str:
    endpoint = await db.write(webhooks.add_endpoint, receiver.url, events or ["*"], True, CLI)
    receiver.secret = endpoint.secret
    return endpoint.id


async def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.05)


async def test_signed_delivery_with_a_retry_after_500(settings: Settings, db: Database, fast_worker: None) -> None:
    async with receiving(Receiver(fail_next=1)) as receiver:
        await _register(db, receiver)
        async with Client(build_server(settings)) as client:
            booked = await book(client, line("4930", "1200", "119.00", "VSt19"), idempotency_key="hook-1")
            await _until(lambda: len(receiver.ids(200)) == 1)
        first, second = receiver.received
        assert (first["status"], second["status"]) == (500, 200)  # both signed correctly, the 500 was retried
        event = second["event"]
        assert first["event"] == event and second["headers"]["Ledger-MCP-Event-Id"] == event["id"]
        assert (event["type"], event["data"]["intent_id"], event["data"]["total_amount"], event["data"]["period"]) == (
            "intent.posted", booked["intent_id"], "119.00", "2026-03")
        log = await db.read(webhooks.list_deliveries, event["id"])
        assert [(d.status, d.attempts) for d in log] == [("delivered", 2)]
        assert [(a.attempt, a.status_code, a.error) for a in log[0].log] == [(1, 500, "HTTP 500"), (2, 200, None)]


async def test_a_restart_between_commit_and_delivery_delivers_once(settings: Settings, db: Database,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   fast_worker: None) -> None:
    async with receiving(Receiver()) as receiver:
        await _register(db, receiver, ["intent.posted"])
        monkeypatch.setenv("LEDGER_MCP_WEBHOOKS", "0")  # the first server stops before it delivers
        async with Client(build_server(settings)) as client:
            for n in range(3):
                await book(client, line("4930", "1200", f"{n + 1}.00"), idempotency_key=f"restart-{n}")
        assert receiver.received == []
        monkeypatch.setenv("LEDGER_MCP_WEBHOOKS", "1")
        async with Client(build_server(settings)):
            await _until(lambda: len(receiver.received) == 3)
            await anyio.sleep(0.5)  # a few more polls: nothing is sent twice
        async with Client(build_server(settings)):
            await anyio.sleep(0.5)
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == 3


async def test_two_workers_never_send_the_same_attempt(settings: Settings, db: Database) -> None:
    async with receiving(Receiver()) as receiver:
        await _register(db, receiver)
        async with Client(build_server(replace(settings, toolsets=frozenset({"bookkeeping"})))) as client:
            for n in range(12):
                await book(client, line("4930", "1200", f"{n + 1}.00"), idempotency_key=f"two-{n}")
        other = Database(settings.database_url)
        try:
            async with anyio.create_task_group() as group:
                for database in (db, other, db, other):
                    group.start_soon(Deliverer(database, FAST).deliver_once)
        finally:
            await other.dispose()
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == 12


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://localhost/hook",
                                 "https://[::1]/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest",
                                 "https://[fe80::1]/hook", "https://224.0.0.1/hook", "https://0.0.0.0/hook",
                                 "https://user:pw@example.com/hook", "ftp://example.com/hook"])
async def test_private_and_plain_urls_are_refused(db: Database, url: str) -> None:
    with pytest.raises(webhooks.WebhookUrlRefused) as refused:
        await db.write(webhooks.add_endpoint, url, ["*"], False, CLI)
    assert refused.value.hint
    assert await db.read(webhooks.list_endpoints) == []


async def test_an_address_that_became_private_is_refused_at_delivery(settings: Settings, db: Database) -> None:
    async with receiving(Receiver()) as receiver:
        endpoint_id = await _register(db, receiver)

        async def no_longer_private(session: object) -> None:
            endpoint = await session.get(WebhookEndpoint, endpoint_id)  # type: ignore[attr-defined]
            endpoint.allow_private = False
            session.add(endpoint)  # type: ignore[attr-defined]

        await db.write(no_longer_private)  # type: ignore[arg-type]
        async with Client(build_server(replace(settings, toolsets=frozenset({"bookkeeping"})))) as client:
            await book(client, line("4930", "1200", "5.00"))
        await Deliverer(db, replace(FAST, max_attempts=1)).deliver_once()
        assert receiver.received == []
        [delivery] = await db.read(webhooks.list_deliveries)
        assert delivery.status == "failed"
        assert "must be https" in (delivery.log[0].error or "")


async def test_failed_after_the_last_attempt_then_replayed(settings: Settings, db: Database) -> None:
    async with receiving(Receiver(fail_next=99)) as receiver:
        await _register(db, receiver)
        async with Client(build_server(replace(settings, toolsets=frozenset({"bookkeeping"})))) as client:
            await book(client, line("4930", "1200", "7.00"))
        deliverer = Deliverer(db, replace(FAST, backoff_base=0, max_attempts=2))
        assert await deliverer.deliver_once() == 2
        [failed] = await db.read(webhooks.list_deliveries)
        assert (failed.status, failed.attempts, len(receiver.received)) == ("failed", 2, 2)
        assert await deliverer.deliver_once() == 0  # given up: nothing is sent until a replay
        receiver.fail_next = 0
        assert await db.write(webhooks.replay, failed.event_id) == 1
        assert await deliverer.deliver_once() == 1
        [delivered] = await db.read(webhooks.list_deliveries, failed.event_id)
        assert (delivered.status, [a.status_code for a in delivered.log]) == ("delivered", [500, 500, 200])
        with pytest.raises(webhooks.EventNotFound):
            await db.write(webhooks.replay, "evt_missing")


async def test_an_endpoint_gets_only_the_events_it_chose(settings: Settings, db: Database) -> None:
    async with receiving(Receiver()) as receiver:
        await _register(db, receiver, ["period.locked"])
        async with Client(build_server(replace(settings, toolsets=frozenset({"bookkeeping"})))) as client:
            await book(client, line("4930", "1200", "7.00"))
        assert await Deliverer(db, FAST).deliver_once() == 0
    with pytest.raises(webhooks.ValidationFailed):
        webhooks.parse_events("intent.posted,invoice.paid")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger_mcp", "webhooks", *args, "--data-dir", str(settings.data_dir),
                           "--database-url", settings.database_url], capture_output=True, text=True, timeout=60)


async def test_the_cli(settings: Settings, db: Database, fast_worker: None) -> None:
    async with receiving(Receiver(fail_next=1)) as receiver:
        refused = _cli(settings, "add", receiver.url, "--events", "intent.posted")
        assert refused.returncode == 1 and "must be https" in refused.stderr
        added = _cli(settings, "add", receiver.url, "--events", "intent.posted,period.locked", "--allow-private")
        assert added.returncode == 0, added.stderr
        receiver.secret = added.stdout.strip()
        assert receiver.secret.startswith("whsec_") and "shown only now" in added.stderr
        endpoint_id = added.stderr.split()[1]
        listed = _cli(settings, "list")
        assert endpoint_id in listed.stdout and "intent.posted,period.locked" in listed.stdout
        async with Client(build_server(replace(settings, toolsets=frozenset({"bookkeeping"})))) as client:
            await book(client, line("4930", "1200", "7.00"))
        # The server's worker may have sent the first attempt (answered 500); the CLI sends what is due.
        while not receiver.ids(200):
            await anyio.sleep(0.1)
            deliver = await anyio.to_thread.run_sync(lambda: _cli(settings, "deliver"))
            assert deliver.returncode == 0, deliver.stderr
        event_id = receiver.ids(200)[0]
        log = _cli(settings, "deliveries", event_id)
        assert f"{event_id}  intent.posted  {endpoint_id}" in log.stdout and "delivered" in log.stdout
        assert "#1" in log.stdout and "500" in log.stdout
        replayed = _cli(settings, "replay", event_id)
        assert replayed.returncode == 0 and "1 delivery pending" in replayed.stdout
        assert _cli(settings, "deliver").returncode == 0
        assert receiver.ids(200) == [event_id, event_id]
        assert _cli(settings, "remove", endpoint_id).returncode == 0
        assert endpoint_id not in _cli(settings, "list").stdout
        assert _cli(settings, "remove", endpoint_id).returncode == 1
        assert _cli(settings, "replay", "evt_nope").returncode == 1
    stored = await db.read(lambda s: s.exec(select(WebhookEndpoint)))  # type: ignore[arg-type]
    assert json.dumps([e.url for e in stored.all()]) == json.dumps([receiver.url])


async def test_the_tool(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_MCP_WEBHOOKS", "0")  # nothing is sent: the address is not reachable from tests
    async with Client(build_server(settings)) as client:
        refused = await fail(client, "manage_webhooks", action="add", url="https://127.0.0.1/hook", events="*")
        assert refused["code"] == "WEBHOOK_URL_REFUSED" and "--allow-private" in refused["hint"]
        unknown = await fail(client, "manage_webhooks", action="add", url="https://8.8.8.8/hook", events="paid")
        assert unknown["code"] == "VALIDATION_ERROR" and "intent.posted" in unknown["hint"]
        added = await call(client, "manage_webhooks", action="add", url="https://8.8.8.8/hook",
                           events="intent.posted")
        [endpoint] = added["endpoints"]
        assert added["secret"].startswith("whsec_") and endpoint["events"] == ["intent.posted"]
        await book(client, line("4930", "1200", "3.00"))
        [pending] = (await call(client, "manage_webhooks", action="deliveries"))["deliveries"]
        assert (pending["status"], pending["endpoint_id"], pending["event_type"]) == (
            "pending", endpoint["id"], "intent.posted")
        listed = await call(client, "manage_webhooks", action="list")
        assert [(e["id"], e["pending"]) for e in listed["endpoints"]] == [(endpoint["id"], 1)]
        replayed = await call(client, "manage_webhooks", action="replay", id=pending["event_id"])
        assert [d["status"] for d in replayed["deliveries"]] == ["pending"]
        await call(client, "manage_webhooks", action="remove", id=endpoint["id"])
        assert (await call(client, "manage_webhooks", action="list"))["endpoints"] == []
        gone = await fail(client, "manage_webhooks", action="remove", id=endpoint["id"])
        assert gone["code"] == "WEBHOOK_NOT_FOUND"


async def test_prune_keeps_what_is_still_to_be_delivered(settings: Settings, db: Database,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_MCP_WEBHOOKS", "0")  # deliveries stay pending
    async with Client(build_server(settings)) as client:
        await book(client, line("4930", "1200", "7.00"))  # no endpoint yet: an event nobody waits for
        async with receiving(Receiver()) as receiver:
            await _register(db, receiver, ["intent.posted"])
            await book(client, line("4930", "1200", "8.00"))
    events = (await db.read(lambda s: s.exec(select(OutboxEvent.id).order_by(OutboxEvent.seq)))).all()  # type: ignore[arg-type]
    assert len(events) == 2
    assert (await db.write(webhooks.prune, 30))[0] == 0  # nothing that old
    pruned, _ = await db.write(webhooks.prune, 0)
    assert pruned == 1
    left = (await db.read(lambda s: s.exec(select(OutboxEvent.id)))).all()  # type: ignore[arg-type]
    assert left == [events[1]]  # the one with a pending delivery stays
    with pytest.raises(webhooks.EventNotFound):
        await db.write(webhooks.replay, events[0])
    with pytest.raises(ValidationFailed):
        await db.write(webhooks.prune, -1)
    cli = _cli(settings, "prune", "--older-than", "0")
    assert cli.returncode == 0 and cli.stdout.startswith("0 event(s)"), cli.stdout + cli.stderr
