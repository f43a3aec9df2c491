"""Delivering webhook events from the outbox: at least once, never in the way of a booking.

A `Deliverer` claims due deliveries with a lease (ledger_mcp.ledger.webhooks.claim), posts each signed
event to its endpoint outside any database transaction, and records the attempt: delivered, retried
after an exponential backoff, or failed after the last attempt. `run` does so forever (the server's
background worker, woken by each committed write that queued a delivery); `deliver_once` is one pass
(`ledger-mcp webhooks deliver`, e.g. from cron). Each attempt resolves and checks the endpoint's
address again and connects to exactly the address it checked, so a DNS answer that changes after the
check cannot redirect it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import anyio
import httpx2

from ledger_mcp import __version__
from ledger_mcp.ledger import webhooks
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.events import Committed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryOptions:
    """max_attempts: attempts before a delivery is marked failed (LEDGER_MCP_WEBHOOK_ATTEMPTS).
    backoff_base / backoff_cap: seconds before the 2nd attempt, doubling per attempt up to the cap
    (LEDGER_MCP_WEBHOOK_BACKOFF, LEDGER_MCP_WEBHOOK_BACKOFF_CAP). lease_seconds: how long a claimed
    delivery is held before another worker may take it over. timeout: seconds per request.
    poll_seconds: how often the worker looks for due retries and for events other processes wrote
    (LEDGER_MCP_WEBHOOK_POLL)."""

    max_attempts: int = 8
    backoff_base: float = 30.0
    backoff_cap: float = 3600.0
    lease_seconds: float = 60.0
    timeout: float = 10.0
    poll_seconds: float = 5.0
    batch: int = 20

    @classmethod
    def from_env(cls) -> DeliveryOptions:
        def number(name: str, default: float) -> float:
            value = os.environ.get(name, "").strip()
            try:
                parsed = float(value) if value else default
            except ValueError:
                raise ValueError(f"{name} must be a number of seconds or attempts, not {value!r}") from None
            if parsed < 0:
                raise ValueError(f"{name} must not be negative, not {value!r}")
            return parsed

        return cls(max_attempts=max(1, int(number("LEDGER_MCP_WEBHOOK_ATTEMPTS", cls.max_attempts))),
                   backoff_base=number("LEDGER_MCP_WEBHOOK_BACKOFF", cls.backoff_base),
                   backoff_cap=number("LEDGER_MCP_WEBHOOK_BACKOFF_CAP", cls.backoff_cap),
                   poll_seconds=max(0.05, number("LEDGER_MCP_WEBHOOK_POLL", cls.poll_seconds)))


def _seconds_until(timestamp: str | None) -> float | None:
    if timestamp is None:
        return None
    due = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return max(0.0, (due - datetime.now(UTC)).total_seconds())


async def send(client: httpx2.AsyncClient, claim: webhooks.Claim) -> webhooks.Outcome:
    """One attempt: POST the event's body, signed, to the endpoint's checked address."""
    started, clock = utc_now(), time.perf_counter()

    def outcome(status_code: int | None = None, error: str | None = None) -> webhooks.Outcome:
        return webhooks.Outcome(started_at=started, duration_ms=round((time.perf_counter() - clock) * 1000),
                                status_code=status_code, error=error)

    try:
        host, port = webhooks.check_url(claim.url, claim.allow_private)
        address = await webhooks.resolve(host, port, claim.allow_private)
        url = httpx2.URL(claim.url)
        headers = {"Content-Type": "application/json", "User-Agent": f"ledger-mcp/{__version__}",
                   "Host": url.netloc.decode("ascii"), webhooks.EVENT_ID_HEADER: claim.event_id,
                   webhooks.EVENT_TYPE_HEADER: claim.event_type,
                   webhooks.SIGNATURE_HEADER: webhooks.sign(claim.secret, int(time.time()), claim.body)}
        response = await client.post(url.copy_with(host=address), content=claim.body, headers=headers,
                                     extensions={"sni_hostname": host})
    except LedgerError as exc:
        return outcome(error=exc.message)
    except Exception as exc:  # anything a receiver or the network does is a failed attempt, logged and retried
        return outcome(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    code = response.status_code
    return outcome(code, None if 200 <= code < 300 else f"HTTP {code}")


class Deliverer:
    """Delivers the outbox of one ledger. `wake` is a `Database` listener: a committed delivery is sent at
    once instead of at the next poll."""

    def __init__(self, db: Database, options: DeliveryOptions | None = None) -> None:
        self.db = db
        self.options = options or DeliveryOptions()
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid4().hex[:8]}"
        self._wake = anyio.Event()
        self._stopping = False

    def wake(self, committed: Committed) -> None:
        # Only a write that queued a delivery: a pass costs a read transaction, which a busy ledger with
        # no endpoint would otherwise pay after every booking.
        if committed.deliveries:
            self._wake.set()

    def _client(self) -> httpx2.AsyncClient:
        # No proxies from the environment (they would bypass the address check); no redirects (a 3xx is
        # a failed attempt); no kept-alive connections (one is tied to the name it was opened for).
        return httpx2.AsyncClient(timeout=self.options.timeout, follow_redirects=False, trust_env=False,
                                  limits=httpx2.Limits(max_keepalive_connections=0))

    async def deliver_once(self) -> int:
        """Send everything that is due now; returns the number of attempts made. Each batch is claimed in
        one transaction, sent concurrently, and its attempts recorded in one transaction."""
        attempts = 0
        o = self.options
        async with self._client() as client:
            while not self._stopping and (
                    claims := await self.db.write(webhooks.claim, self.owner, o.lease_seconds, o.batch)):
                done = list(zip(claims, await self._send_all(client, claims), strict=True))
                statuses = await self.db.write(webhooks.record_all, done, self.owner, o.max_attempts,
                                               o.backoff_base, o.backoff_cap)
                for (claim, outcome), status in zip(done, statuses, strict=True):
                    if not outcome.ok:
                        log.warning("webhook %s for event %s, attempt %d: %s (%s)", claim.url, claim.event_id,
                                    claim.attempt, outcome.error, status)
                attempts += len(claims)
        return attempts

    @staticmethod
    async def _send_all(client: httpx2.AsyncClient, claims: list[webhooks.Claim]) -> list[webhooks.Outcome]:
        outcomes: dict[int, webhooks.Outcome] = {}

        async def attempt(index: int, claim: webhooks.Claim) -> None:
            outcomes[index] = await send(client, claim)

        async with anyio.create_task_group() as group:
            for index, claim in enumerate(claims):
                group.start_soon(attempt, index, claim)
        return [outcomes[i] for i in range(len(claims))]

    def stop(self) -> None:
        """End `run` after the pass under way, whose attempts are then recorded (not sent again)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped: after each committed delivery, when a retry falls due, and every
        poll_seconds (events other processes wrote)."""
        while not self._stopping:
            self._wake = anyio.Event()
            wait = self.options.poll_seconds
            try:
                due = _seconds_until(await self.db.read(webhooks.next_due))
                if due == 0:  # only then a write transaction: idle servers never take the write lock
                    await self.deliver_once()
                    due = _seconds_until(await self.db.read(webhooks.next_due))
                wait = max(0.05, min(wait, due)) if due is not None else wait
            except Exception:  # the database may be away for a moment; delivery resumes at the next pass
                log.exception("webhook delivery pass failed")
            with anyio.move_on_after(wait):
                await self._wake.wait()
