"""Webhook endpoints and their deliveries: registration (with the SSRF check), the delivery log, replay,
and the claim/record steps the delivery worker (ledger_mcp.ledger.delivery) runs.

Signature: each request carries `Ledger-MCP-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256 with the endpoint's secret over `"<t>.<body>"` (see `sign`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from uuid import uuid4

import anyio
from pydantic import BaseModel, Field
from sqlalchemy import case, delete, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import LedgerError, ValidationFailed
from ledger_mcp.ledger.events import EVENT_TYPES, enqueue
from ledger_mcp.ledger.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ledger_mcp.ledger.provenance import Provenance

SIGNATURE_HEADER = "Ledger-MCP-Signature"
EVENT_ID_HEADER = "Ledger-MCP-Event-Id"
EVENT_TYPE_HEADER = "Ledger-MCP-Event-Type"


class WebhookUrlRefused(LedgerError):
    """A webhook URL that is not https, or resolves to a private, loopback, link-local, multicast or
    reserved address, and the endpoint was not registered with allow_private."""

    code = "WEBHOOK_URL_REFUSED"


class WebhookNotFound(LedgerError):
    code = "WEBHOOK_NOT_FOUND"


class EventNotFound(LedgerError):
    code = "EVENT_NOT_FOUND"


# --- Addresses (SSRF) ---


def check_url(url: str, allow_private: bool) -> tuple[str, int]:
    """The host and port of a webhook URL; refuses anything but https (http too with allow_private),
    credentials in the URL, and a missing host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(f"{url!r} is not a valid URL: {exc}.", hint="Give an https:// URL.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise WebhookUrlRefused(f"Webhook URLs must be https:// with a host, not {url!r}.",
                                hint="Use https (plain http only with --allow-private, for a receiver on your own "
                                     "network).", details={"url": url})
    if parts.username or parts.password:
        raise WebhookUrlRefused("Webhook URLs must not carry credentials.",
                                hint="Receivers check the signature header instead.", details={"url": url})
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


async def resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to: every address the host resolves to must be public unless allow_private
    (a host with one public and one private address is refused: either could be used)."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookUrlRefused(f"The webhook host {host} cannot be resolved ({exc}).",
                                hint="Check the host name.", retryable=True, details={"host": host}) from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        bad = sorted({a for a in addresses if _forbidden(a)})
        if bad:
            raise WebhookUrlRefused(
                f"The webhook host {host} resolves to {', '.join(bad)}, a private, loopback, link-local, multicast "
                "or reserved address.",
                hint="Use a public https URL; for a receiver on your own network, register it with --allow-private.",
                details={"host": host, "addresses": bad})
    return addresses[0]


# --- Signing ---


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- Endpoints ---


class EndpointInfo(BaseModel):
    id: str
    url: str
    events: list[str]
    allow_private: bool
    created_at: str
    created_by: str
    removed_at: str | None = None
    pending: int = Field(0, description="Deliveries waiting to be sent.")
    failed: int = Field(0, description="Deliveries that gave up (replayable).")


class NewEndpoint(EndpointInfo):
    secret: str = Field(description="The signing secret; shown once.")


def parse_events(events: str | list[str]) -> list[str]:
    chosen = sorted({e.strip() for e in (events.split(",") if isinstance(events, str) else events) if e.strip()})
    unknown = [e for e in chosen if e != "*" and e not in EVENT_TYPES]
    if not chosen or unknown:
        raise ValidationFailed(f"Unknown event type(s): {', '.join(unknown) or '(none given)'}.",
                               hint=f"Name event types separated by commas: {', '.join(EVENT_TYPES)}, or * for all.",
                               details={"known": list(EVENT_TYPES)})
    return ["*"] if "*" in chosen else chosen


async def add_endpoint(session: AsyncSession, url: str, events: list[str], allow_private: bool,
                       provenance: Provenance) -> NewEndpoint:
    """Register an endpoint (the URL is resolved and checked now, and again at each delivery)."""
    host, port = check_url(url, allow_private)
    await resolve(host, port, allow_private)
    endpoint = WebhookEndpoint(id=f"whk_{uuid4().hex[:16]}", url=url, events=" ".join(parse_events(events)),
                               secret=f"whsec_{secrets.token_hex(24)}", allow_private=allow_private,
                               created_at=utc_now(), created_by=provenance.actor_display[:300])
    session.add(endpoint)
    await session.flush()
    return NewEndpoint(**_info(endpoint).model_dump(), secret=endpoint.secret)


def _info(endpoint: WebhookEndpoint, counts: dict[tuple[str, str], int] | None = None) -> EndpointInfo:
    counts = counts or {}
    return EndpointInfo(id=endpoint.id, url=endpoint.url, events=endpoint.events.split(),
                        allow_private=endpoint.allow_private, created_at=endpoint.created_at,
                        created_by=endpoint.created_by, removed_at=endpoint.removed_at,
                        pending=counts.get((endpoint.id, "pending"), 0), failed=counts.get((endpoint.id, "failed"), 0))


async def list_endpoints(session: AsyncSession, include_removed: bool = False) -> list[EndpointInfo]:
    query = select(WebhookEndpoint).order_by(col(WebhookEndpoint.created_at))
    if not include_removed:
        query = query.where(col(WebhookEndpoint.removed_at).is_(None))
    counts = {(e, s): n for e, s, n in (await session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .where(col(WebhookDelivery.status).in_(("pending", "failed")))
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status))).all()}
    return [_info(e, counts) for e in (await session.exec(query)).all()]


async def remove_endpoint(session: AsyncSession, endpoint_id: str) -> EndpointInfo:
    """Stop delivering to an endpoint; its delivery log stays."""
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.removed_at is not None:
        raise WebhookNotFound(f"No active webhook endpoint {endpoint_id}.",
                              hint="List them with `ledger-mcp webhooks list`.", details={"endpoint_id": endpoint_id})
    endpoint.removed_at = utc_now()
    session.add(endpoint)
    await session.flush()
    return _info(endpoint)


# --- Deliveries ---


class AttemptInfo(BaseModel):
    attempt: int
    started_at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryInfo(BaseModel):
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: str | None
    delivered_at: str | None
    log: list[AttemptInfo]


async def list_deliveries(session: AsyncSession, event_id: str | None = None, limit: int = 50) -> list[DeliveryInfo]:
    """Deliveries, newest first (or those of one event), each with its attempts."""
    query = (select(WebhookDelivery, OutboxEvent.type, WebhookEndpoint.url)
             .join(OutboxEvent, col(OutboxEvent.id) == WebhookDelivery.event_id)
             .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
             .order_by(col(WebhookDelivery.id).desc()).limit(limit))
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    rows = (await session.exec(query)).all()
    ids = [d.id for d, _, _ in rows]
    log: dict[int, list[AttemptInfo]] = {}
    for a in (await session.exec(select(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(ids))
                                 .order_by(col(WebhookAttempt.id)))).all():
        log.setdefault(a.delivery_id, []).append(AttemptInfo(attempt=a.attempt, started_at=a.started_at,
                                                             status_code=a.status_code, error=a.error,
                                                             duration_ms=a.duration_ms))
    return [DeliveryInfo(event_id=d.event_id, event_type=event_type, endpoint_id=d.endpoint_id, url=url,
                         status=d.status, attempts=d.attempts,
                         next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
                         delivered_at=d.delivered_at, log=log.get(d.id or 0, [])) for d, event_type, url in rows]


async def replay(session: AsyncSession, event_id: str) -> int:
    """Send one event again to every active endpoint that wants it (a delivered or failed delivery starts
    over; an endpoint added since gets it too); returns how many deliveries are pending."""
    event = (await session.exec(select(OutboxEvent).where(OutboxEvent.id == event_id))).first()
    if event is None:
        raise EventNotFound(f"No event {event_id}.", hint="Event ids are in the delivery log "
                            "(`ledger-mcp webhooks deliveries`) and in each request's Ledger-MCP-Event-Id header.",
                            details={"event_id": event_id})
    now = utc_now()
    active = select(WebhookEndpoint.id).where(col(WebhookEndpoint.removed_at).is_(None))
    await session.exec(update(WebhookDelivery)  # type: ignore[call-overload]
                       .where(col(WebhookDelivery.event_id) == event_id, col(WebhookDelivery.endpoint_id).in_(active))
                       .values(status="pending", attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None))
    connection = await session.connection()
    await connection.run_sync(lambda c: enqueue(c, [json.loads(event.payload)], now, fresh=False))
    return int((await session.exec(select(func.count()).select_from(WebhookDelivery)
                                   .where(WebhookDelivery.event_id == event_id, WebhookDelivery.status == "pending")
                                   )).one())


async def prune(session: AsyncSession, older_than_days: float) -> tuple[int, str]:
    """Delete the events older than `older_than_days` with their delivery log, except those with a delivery
    still pending; returns how many events went and the cut-off (UTC). Events are operational, outside the record
    history: what the books are is in the journal, and the outbox would otherwise grow with every write."""
    if older_than_days < 0:
        raise ValidationFailed("The age to prune at cannot be negative.", hint="e.g. --older-than 90 (days)")
    before = _later(-older_than_days * 86400)
    pending = select(WebhookDelivery.event_id).where(WebhookDelivery.status == "pending")
    old = select(OutboxEvent.id).where(col(OutboxEvent.occurred_at) < before, col(OutboxEvent.id).not_in(pending))
    ids = list((await session.exec(old)).all())
    for part in range(0, len(ids), 500):
        chunk = ids[part:part + 500]
        deliveries = select(WebhookDelivery.id).where(col(WebhookDelivery.event_id).in_(chunk))
        await session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries)))  # type: ignore[call-overload]
        await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.event_id).in_(chunk)))  # type: ignore[call-overload]
        await session.exec(delete(OutboxEvent).where(col(OutboxEvent.id).in_(chunk)))  # type: ignore[call-overload]
    return len(ids), before


# --- The worker's steps ---


@dataclass(frozen=True)
class Claim:
    """A delivery a worker holds until `lease_until`: what to send where."""

    delivery_id: int
    attempt: int
    event_id: str
    event_type: str
    body: bytes
    url: str
    secret: str
    allow_private: bool


def _later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def claim(session: AsyncSession, owner: str, lease_seconds: float, limit: int = 20) -> list[Claim]:
    """Take up to `limit` due deliveries for `owner` until the lease runs out. The conditional update
    makes the claim exclusive: a delivery another worker holds (or took a moment ago) is skipped."""
    now = utc_now()
    due = (await session.exec(
        select(WebhookDelivery, OutboxEvent, WebhookEndpoint)
        .join(OutboxEvent, col(OutboxEvent.id) == WebhookDelivery.event_id)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now,
               col(WebhookEndpoint.removed_at).is_(None))
        .where((col(WebhookDelivery.lease_until).is_(None)) | (col(WebhookDelivery.lease_until) <= now))
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)).limit(limit))).all()
    claims = []
    until = _later(lease_seconds)
    for delivery, event, endpoint in due:
        taken = await session.exec(
            update(WebhookDelivery)  # type: ignore[call-overload]
            .where(col(WebhookDelivery.id) == delivery.id, col(WebhookDelivery.attempts) == delivery.attempts,
                   col(WebhookDelivery.status) == "pending")
            .values(attempts=delivery.attempts + 1, lease_owner=owner, lease_until=until)
            .execution_options(synchronize_session=False))
        if taken.rowcount == 1:
            claims.append(Claim(delivery_id=delivery.id or 0, attempt=delivery.attempts + 1, event_id=event.id,
                                event_type=event.type, body=event.payload.encode(), url=endpoint.url,
                                secret=endpoint.secret, allow_private=endpoint.allow_private))
    return claims


@dataclass(frozen=True)
class Outcome:
    started_at: str
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before the next attempt after `attempt` failed ones: base, 2 base, 4 base, ... up to cap."""
    return float(min(cap, base * 2 ** (attempt - 1)))


async def record(session: AsyncSession, claimed: Claim, owner: str, outcome: Outcome, max_attempts: int,
                 backoff_base: float, backoff_cap: float) -> str:
    """Log the attempt and move the delivery on: delivered, pending again after a backoff, or failed after
    the last attempt. Returns the new status."""
    session.add(WebhookAttempt(delivery_id=claimed.delivery_id, attempt=claimed.attempt,
                               started_at=outcome.started_at, status_code=outcome.status_code,
                               error=outcome.error[:500] if outcome.error else None,
                               duration_ms=outcome.duration_ms))
    delivery = await session.get(WebhookDelivery, claimed.delivery_id)
    if delivery is None or delivery.lease_owner != owner or delivery.status != "pending":
        return delivery.status if delivery else "gone"  # another worker took it over after the lease ran out
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:500] if outcome.error else None
    delivery.lease_owner = delivery.lease_until = None
    if outcome.ok:
        delivery.status, delivery.delivered_at = "delivered", utc_now()
    elif delivery.attempts >= max_attempts:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = _later(backoff(delivery.attempts, backoff_base, backoff_cap))
    session.add(delivery)
    await session.flush()
    return delivery.status


async def record_all(session: AsyncSession, attempts: list[tuple[Claim, Outcome]], owner: str, max_attempts: int,
                     backoff_base: float, backoff_cap: float) -> list[str]:
    """`record` for a batch of attempts, in one transaction."""
    return [await record(session, claimed, owner, outcome, max_attempts, backoff_base, backoff_cap)
            for claimed, outcome in attempts]


async def next_due(session: AsyncSession) -> str | None:
    """When the next pending delivery can be claimed (None: nothing pending)."""
    ready = case((col(WebhookDelivery.lease_until) > col(WebhookDelivery.next_attempt_at), WebhookDelivery.lease_until),
                 else_=WebhookDelivery.next_attempt_at)
    due = (await session.exec(select(func.min(ready))
                              .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
                              .where(WebhookDelivery.status == "pending", col(WebhookEndpoint.removed_at).is_(None))
                              )).one()
    return str(due) if due is not None else None
