"""Events in the server: resource subscriptions and the webhook worker.

After each committed write (`Database.listeners`) the topics it changed become resource URIs, and
`notifications/resources/updated` goes to every client subscribed to one of them: on the 2026-07-28
protocol through `subscriptions/listen` streams (the SDK's bus), on the handshake protocols through
`resources/subscribe` per session. A write that adds an addressable item (an intent, an invoice, a
review case, ...) also sends `notifications/resources/list_changed`, to listen streams that asked for
it and to handshake sessions that subscribed to anything. Subscribing needs the resource's scope.

Writes other processes commit (the CLI, another server on the same ledger) are noticed in the outbox
every WATCH_SECONDS and notified from their events. The webhook worker (ledger_mcp.ledger.delivery)
runs beside the server for as long as it runs, unless LEDGER_MCP_WEBHOOKS=0 or the server is read-only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from ledger_mcp.ledger.delivery import Deliverer, DeliveryOptions
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.events import CREATING, Committed, events_after, last_seq, topics_of

if TYPE_CHECKING:
    from ledger_mcp.server.app import LedgerServer

log = logging.getLogger(__name__)
WATCH_SECONDS = 2.0
OUTBOX_BATCH = 500  # outbox events read per look

# Topic kind -> the resources that show it ({key}: the topic's key).
_URIS: dict[str, tuple[str, ...]] = {
    "intent": ("ledger://intents", "ledger://intents/{key}"),
    "invoice": ("ledger://invoices/{key}",),
    "open_items": ("ledger://open-items", "ledger://open-items/{key}s"),
    "party": ("ledger://parties/{key}", "ledger://vendors", "ledger://customers"),
    "review_case": ("ledger://review-cases", "ledger://review-cases/{key}"),
    "period": ("ledger://periods", "ledger://periods/{key}"),
    "bank_account": ("ledger://bank-accounts", "ledger://bank-accounts/{key}",
                     "ledger://bank-accounts/{key}/reconciliation"),
    "payment_run": ("ledger://payment-runs", "ledger://payment-runs/{key}"),
    "document": ("ledger://documents/{key}/extraction",),
}


def changed_uris(topics: frozenset[str]) -> list[str]:
    """The resource URIs whose content the topics of a commit changed."""
    uris: set[str] = set()
    for topic in topics:
        kind, _, key = topic.partition(":")
        uris.update(u.replace("{key}", key) for u in _URIS.get(kind, ()))
    return sorted(uris)


class Subscriptions:
    """Who is subscribed to what, and the notifications after each commit."""

    def __init__(self, server: LedgerServer) -> None:
        self.server = server
        # Handshake-era subscriptions: URI -> client connections (a closed one drops out by itself).
        self._connections: dict[str, weakref.WeakSet[Connection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._own: set[str] = set()  # ids of events this server committed and has notified already

    def _check(self, uri: str) -> None:
        template = self.server._resource_key(uri)
        if template is None:
            raise MCPError(INVALID_PARAMS, f"No resource {uri}; subscribe to a URI from resources/list or a "
                                           "resource template.")
        try:
            self.server.access.check_resource(template, self.server.app.caller())
        except LedgerError as refused:
            raise MCPError(INVALID_PARAMS, refused.message, data=refused.to_dict()) from None

    async def subscribe(self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        self._check(params.uri)
        self._connections.setdefault(params.uri, weakref.WeakSet()).add(_connection(ctx))
        return EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
        self._connections.get(params.uri, weakref.WeakSet()).discard(_connection(ctx))
        return EmptyResult()

    def guard_listen(self, listen: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """The SDK's `subscriptions/listen` handler, with the scope check of `subscribe`."""
        async def guarded(ctx: ServerRequestContext[Any, Any],
                          params: SubscriptionsListenRequestParams) -> Any:
            for uri in params.notifications.resource_subscriptions or ():
                self._check(uri)
            return await listen(ctx, params)
        return guarded

    def committed(self, committed: Committed) -> None:
        """A `Database` listener: notify in the background, never in the way of the write."""
        self._own.update(e["id"] for e in committed.events)
        if not committed.topics and not committed.created:
            return
        task = asyncio.get_running_loop().create_task(self._notify(committed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def watch(self, seconds: float = WATCH_SECONDS) -> None:
        """Notify what other processes (the CLI, another server on the same ledger) committed: their
        events, read from the outbox every `seconds`."""
        db = self.server.app.db
        seq = await db.read(last_seq)
        while True:
            await asyncio.sleep(seconds)
            try:
                # Until a read comes back short of a full batch: under a stream of this server's own
                # bookings the outbox never stops growing, and each look costs a read transaction.
                while found := await db.read(events_after, seq, OUTBOX_BATCH):
                    seq = found[-1][0]
                    foreign = [event for _, event in found if event["id"] not in self._own]
                    self._own.difference_update(event["id"] for _, event in found)
                    if foreign:
                        await self._notify(Committed(
                            events=tuple(foreign), topics=frozenset().union(*(topics_of(e) for e in foreign)),
                            created=any(e["type"] in CREATING for e in foreign)))
                    if len(found) < OUTBOX_BATCH:
                        break
            except Exception:  # the database may be away for a moment; the next look catches up
                log.warning("reading the outbox failed", exc_info=True)

    async def _notify(self, committed: Committed) -> None:
        bus = self.server._subscriptions
        connections: dict[Connection, list[str]] = {}
        for uri in changed_uris(committed.topics):
            await bus.publish(ResourceUpdated(uri=uri))
            for connection in list(self._connections.get(uri, ())):
                connections.setdefault(connection, []).append(uri)
        if committed.created:
            await bus.publish(ResourcesListChanged())
            for subscribed in list(self._connections.values()):
                for connection in list(subscribed):
                    connections.setdefault(connection, [])
        for connection, uris in connections.items():
            try:
                for uri in uris:
                    await connection.send_resource_updated(uri)
                if committed.created:
                    await connection.send_resource_list_changed()
            except Exception:  # the client went away; its subscriptions go with it
                log.debug("dropping the subscriptions of a closed connection", exc_info=True)
                for subscribed in self._connections.values():
                    subscribed.discard(connection)


def _connection(ctx: ServerRequestContext[Any, Any]) -> Connection:
    # A request's session lives for the request; notifications after a commit go to the client's
    # connection, which the SDK (2.3) keeps on the session without a public accessor.
    return ctx.session._connection


def attach(server: LedgerServer) -> Callable[[], AbstractAsyncContextManager[None]]:
    """Wire subscriptions into `server`; returns the context the lifespan runs the outbox watcher and the
    webhook worker in."""
    subscriptions = Subscriptions(server)
    low = server._lowlevel_server
    low.add_request_handler("resources/subscribe", SubscribeRequestParams, subscriptions.subscribe)
    low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, subscriptions.unsubscribe)
    listen = low.get_request_handler("subscriptions/listen")
    if listen is not None:
        low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams,
                                subscriptions.guard_listen(listen.handler))
    server.app.db.listeners.append(subscriptions.committed)
    # Handshake-era clients learn from the capabilities that resources/list_changed may come.
    create_options = low.create_initialization_options
    setattr(low, "create_initialization_options",  # noqa: B010 (an instance attribute: this server only)
            lambda options=None, *args, **kwargs: create_options(options or NotificationOptions(resources_changed=True),
                                                                 *args, **kwargs))

    @asynccontextmanager
    async def background() -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(subscriptions.watch())
        deliverer, delivering = None, None
        off = os.environ.get("LEDGER_MCP_WEBHOOKS", "1").strip().lower() in {"0", "false", "no", "off"}
        if not off and not server.access.read_only:  # a read-only instance writes no delivery state either
            deliverer = Deliverer(server.app.db, DeliveryOptions.from_env())
            server.app.db.listeners.append(deliverer.wake)
            delivering = loop.create_task(deliverer.run())
        try:
            yield
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            if deliverer is not None and delivering is not None:
                # Let a pass under way record its attempts: cut off, they would be sent again after the lease.
                deliverer.stop()
                with suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(delivering, deliverer.options.timeout + 5)
                server.app.db.listeners.remove(deliverer.wake)

    return background
