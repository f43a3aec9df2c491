"""Resource subscriptions: after a committed write, subscribed clients get notifications/resources/updated
for what it changed, in-process on both protocol eras, over real stdio and over real HTTP."""

from __future__ import annotations

import sys

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from ledger_mcp.ledger import api_keys
from ledger_mcp.ledger.db import Database
from ledger_mcp.server import build_server
from ledger_mcp.settings import Settings
from tests.conftest import book, call, confirming_human, line
from tests.events.conftest import Notes, subscribed
from tests.http.conftest import connect, running

pytestmark = pytest.mark.anyio


async def _book_and_check(client: Client, notes: Notes) -> None:
    async with subscribed(client, notes, "ledger://intents", "ledger://open-items", "ledger://periods"):
        booked = await book(client, line("4930", "1200", "119.00", "VSt19"))
        await notes.wait_for("ledger://intents")
        assert f"ledger://intents/{booked['intent_id']}" not in notes.updated  # not subscribed to it
        assert "ledger://open-items" not in notes.updated  # a plain booking opens no item
        party = await call(client, "save_party", kind="vendor", name="Papier GmbH")
        await call(client, "create_invoice", direction="payable", party_id=party["id"], invoice_number="RE-1",
                   invoice_date="2026-03-03", total_gross="119.00",
                   lines=[{"net_amount": "100.00", "account": "4930", "tax_code": "VSt19"}])
        await notes.wait_for("ledger://open-items")
    assert notes.list_changed >= 1  # a new intent is a new resource


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_in_process(settings: Settings, mode: str) -> None:
    notes = Notes()
    async with Client(build_server(settings), mode=mode, message_handler=notes.handler) as client:
        await _book_and_check(client, notes)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_over_stdio(settings: Settings, mode: str) -> None:
    notes = Notes()
    server = StdioServerParameters(command=sys.executable, args=[
        "-m", "ledger_mcp", "serve", "--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
        "--toolsets", "all"])
    async with Client(server, mode=mode, message_handler=notes.handler) as client:
        await _book_and_check(client, notes)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_over_http(settings: Settings, mode: str) -> None:
    notes = Notes()
    async with running(settings, require_key=False) as ledger, \
            connect(ledger.url, None, mode=mode, message_handler=notes.handler) as client:
        await _book_and_check(client, notes)


async def test_a_single_intent(settings: Settings) -> None:
    notes = Notes()
    async with Client(build_server(settings), mode="legacy", message_handler=notes.handler,
                      elicitation_callback=confirming_human) as client:
        booked = await book(client, line("4930", "1200", "50.00"))
        uri = f"ledger://intents/{booked['intent_id']}"
        async with subscribed(client, notes, uri):
            await call(client, "reverse_intent", intent_id=booked["intent_id"], reason="wrong account")
            await notes.wait_for(uri)


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
async def test_subscribing_needs_a_resource(settings: Settings) -> None:
    async with Client(build_server(settings), mode="legacy") as client:
        with pytest.raises(MCPError, match="No resource"):
            await client.subscribe_resource("ledger://nothing-here")
    async with Client(build_server(settings), mode="auto") as client:
        with pytest.raises(MCPError, match="No resource"):
            async with client.listen(resource_subscriptions=["ledger://nothing-here"]):
                pass


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
async def test_subscribing_needs_the_resources_scope(settings: Settings, db: Database, mode: str) -> None:
    booker = (await db.write(api_keys.create_api_key, "booker", "ledger:book")).secret
    reader = (await db.write(api_keys.create_api_key, "reader", "ledger:read")).secret
    async with running(settings) as ledger:
        async with connect(ledger.url, booker, mode=mode) as client:
            with pytest.raises(MCPError, match="lacks scope ledger:read"):
                async with subscribed(client, Notes(), "ledger://intents"):
                    pass
        async with connect(ledger.url, reader, mode=mode) as client, \
                subscribed(client, Notes(), "ledger://intents"):
            pass


async def test_writes_of_another_server_are_notified_from_the_outbox(settings: Settings) -> None:
    notes = Notes()
    async with Client(build_server(settings), mode="legacy", message_handler=notes.handler) as watcher, \
            Client(build_server(settings), mode="auto") as other:
        async with subscribed(watcher, notes, "ledger://intents", "ledger://periods"):
            await book(other, line("4930", "1200", "12.00"))
            await notes.wait_for("ledger://intents")
        assert "ledger://periods" not in notes.updated
