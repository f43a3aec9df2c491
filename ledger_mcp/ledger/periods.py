"""Accounting periods: soft lock, four-eyes lock with a closing hash, reopen, and the write guard.

States: open -> soft_locked -> locked. A soft-locked period still takes bookings, but each one must
acknowledge the soft lock (recorded as an event naming the intent). A locked period
(festgeschrieben) takes nothing, by any write path, and is never reopened: corrections are
reversals posted into an open period.

Rules, in GoBD practice (Festschreibung in time order, before the VAT pre-return):
- Four eyes: one actor requests the lock, a different actor (by `Provenance.actor_id`) approves it.
- Order: a period is locked only after every earlier period holding bookings is locked, and only
  once it has ended. Locked periods therefore form a prefix of time: every date up to the last
  locked period is closed ("locked through"), including empty months before it.
- Staleness: a lock request records the period's totals (intents, lines, debit total). It can no
  longer be approved once those totals changed (a booking or reversal went into the period), or once
  this or an earlier period was reopened after the request; it must be cancelled and requested anew.
- Reopen: soft_locked -> open only.

State lives only in the append-only, hash-chained `period_event` table: a period's state is its
events replayed in order. Every action goes through `Database.write`, which serialises it with
bookings, so no booking can slip into a period while it is being locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, bindparam, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger import chain
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.chain import PeriodTotals
from ledger_mcp.ledger.clock import today, utc_now
from ledger_mcp.ledger.errors import (
    EarlierPeriodOpen,
    FiscalYearClosed,
    FourEyesRequired,
    LockRequestStale,
    PeriodLocked,
    PeriodSoftLocked,
    PeriodStateConflict,
    ValidationFailed,
)
from ledger_mcp.ledger.fiscal import next_period, parse_period, period_bounds, period_of, periods_between
from ledger_mcp.ledger.models import Intent, PeriodEvent
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.provenance import Provenance
from ledger_mcp.ledger.statements import Query, stored_date

# The categories of the year-end close's two intents (year_end.py): while they stand, their year is closed.
YEAR_END_CLOSE_CATEGORY = "year_end_close"
CARRY_FORWARD_CATEGORY = "carry_forward"

PeriodStatus = Literal["open", "soft_locked", "locked"]
LockAction = Literal["soft_lock", "request_lock", "approve_lock", "cancel_lock", "reopen"]
MAX_PERIODS = 240


class PeriodRequest(BaseModel):
    """One lock action on one period."""

    model_config = ConfigDict(frozen=True)
    action: LockAction
    period: str = Field(description="YYYY-MM")
    request_id: str | None = Field(default=None, description="approve_lock / cancel_lock: the pending request.")
    reason: str | None = Field(default=None, max_length=500)


class PeriodInfo(BaseModel):
    """One period as agents see it."""

    period: str
    period_number: int = Field(description="Month of the fiscal year, 1-12.")
    start_date: str
    end_date: str
    status: PeriodStatus
    locked_by: str | None = Field(description="Who soft-locked it, or who requested the lock (actor_id).")
    locked_at: str | None
    covered_by: str | None = Field(default=None, description="Set when the period has no lock of its own but "
                                                             "lies before this locked period.")
    request_id: str | None = Field(description="The pending lock request, or the approved one once locked.")
    request_status: Literal["pending", "approved", "cancelled"] | None
    has_pending_request: bool
    requested_by: str | None
    requested_at: str | None
    approved_by: str | None
    closing_hash: str | None
    closing_journal_number: int | None = Field(description="Chain head sealed by the lock.")
    acknowledged_intent_ids: list[str] = Field(description="Intents booked into the period while it was "
                                                           "soft-locked, each with an acknowledgement.")
    intent_count: int
    line_count: int
    debit_total: str
    currency: str


class PeriodEventView(BaseModel):
    """One recorded lock action, with who did it and through which channel and client."""

    seq: int
    action: str
    actor_id: str
    channel: str
    client_name: str | None
    created_at: str
    request_id: str | None
    intent_id: str | None
    reason: str | None
    event_hash: str

    @classmethod
    def of(cls, e: PeriodEvent) -> PeriodEventView:
        return cls(seq=e.seq, action=e.action, actor_id=e.actor_id, channel=e.channel, client_name=e.client_name,
                   created_at=e.created_at, request_id=e.request_id, intent_id=e.intent_id, reason=e.reason,
                   event_hash=e.event_hash)


class PeriodAnswer(PeriodInfo):
    """The period an action touched, plus where the ledger stands."""

    locked_through: str | None = Field(description="Every date up to the end of this period is locked.")
    next_open_period: str | None = Field(description="The period after locked_through: the earliest that takes "
                                                     "bookings. Null while nothing is locked.")
    message: str
    history: list[PeriodEventView] = Field(description="Every lock action on this period, oldest first.")
    periods: list[PeriodInfo] = Field(default=[], description="status with end_period: every period from "
                                                              "period to end_period.")


class PeriodList(BaseModel):
    locked_through: str | None
    next_open_period: str | None
    periods: list[PeriodInfo]


@dataclass(frozen=True)
class _State:
    status: PeriodStatus = "open"
    soft_lock: PeriodEvent | None = None
    request: PeriodEvent | None = None
    request_status: Literal["pending", "approved", "cancelled"] | None = None
    approval: PeriodEvent | None = None


def _replay(events: list[PeriodEvent]) -> _State:
    state = _State()
    for e in events:
        if e.action == "acknowledge_soft_lock":
            continue
        if e.action == "soft_lock":
            state = _State("soft_locked", e, state.request, state.request_status)
        elif e.action == "reopen":
            state = _State("open", None, state.request, state.request_status)
        elif e.action == "request_lock":
            state = _State(state.status, state.soft_lock, e, "pending")
        elif e.action == "cancel_lock":
            state = _State(state.status, state.soft_lock, state.request, "cancelled")
        elif e.action == "approve_lock":
            state = _State("locked", state.soft_lock, state.request, "approved", e)
    return state


async def _events(session: AsyncSession, period: str) -> list[PeriodEvent]:
    return list((await session.exec(
        select(PeriodEvent).where(PeriodEvent.period == period).order_by(col(PeriodEvent.seq)))).all())


async def locked_through(session: AsyncSession) -> str | None:
    """The last locked period: it and everything before it is closed."""
    return (await session.exec(select(func.max(PeriodEvent.period)).where(PeriodEvent.action == "approve_lock"))
            ).first()


def _next_open(through: str | None) -> str | None:
    return next_period(through) if through else None


async def _append(session: AsyncSession, period: str, action: str, provenance: Provenance,
                  **fields: object) -> PeriodEvent:
    last = (await session.exec(
        select(PeriodEvent.seq, PeriodEvent.event_hash).order_by(col(PeriodEvent.seq).desc()).limit(1))).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, chain.GENESIS_HASH)
    event = PeriodEvent(seq=seq, period=period, action=action, actor_id=provenance.actor_id, created_at=utc_now(),
                        prev_hash=prev, event_hash="", **provenance.columns(), **fields)  # type: ignore[arg-type]
    event.event_hash = chain.period_event_hash(event)
    session.add(event)
    await session.flush()
    return event


# --- The write guard ---


async def guard_write(session: AsyncSession, intent: Intent, *, acknowledge_soft_lock: bool) -> None:
    """Refuse an intent dated in a locked period; require and record the acknowledgement of a soft lock.
    Every intent write calls this inside its transaction, before anything is added."""
    await _refuse_closed_year(session, intent)
    period = period_of(intent.booking_date)
    rows = await _PERIOD_STATE.rows(session, period=period)
    locks = [p for p, action, _ in rows if action == "approve_lock"]
    if locks:
        through = max(locks)
        where = f"Period {period} is locked" if period in locks else (
            f"Period {period} lies before locked period {through}")
        raise PeriodLocked(
            f"{where}; nothing can be booked on {intent.booking_date.isoformat()}.",
            hint=f"Book into the next open period ({next_period(through)}) instead, or reverse with "
                 "posting_mode 'current_date' so the Storno lands in an open period.",
            details={"period": period, "locked_through": through, "next_open_period": next_period(through)})
    if not rows or rows[-1][1] != "soft_lock":
        return
    if not acknowledge_soft_lock:
        raise PeriodSoftLocked(
            f"Period {period} is soft-locked (by {rows[-1][2]}): bookings into it need an explicit acknowledgement.",
            hint="If this booking really belongs to that period, call again with acknowledge_soft_lock=true; "
                 "otherwise book it into a later period.",
            details={"period": period})
    await _append(session, period, "acknowledge_soft_lock", Provenance.of(intent), intent_id=intent.id)


# Every intent write asks both, so they are compiled once (statements.Query).
# Locks of this or any later period (locks form a prefix of time, so any such lock closes this period
# too) and this period's soft-lock events, in one query.
_PERIOD_STATE = Query(
    select(PeriodEvent.period, PeriodEvent.action, PeriodEvent.actor_id)
    .where(or_(and_(col(PeriodEvent.period) >= bindparam("period"), col(PeriodEvent.action) == "approve_lock"),
               and_(col(PeriodEvent.period) == bindparam("period"),
                    or_(col(PeriodEvent.action) == "soft_lock", col(PeriodEvent.action) == "reopen"))))
    .order_by(col(PeriodEvent.seq)))
_REVERSAL = aliased(Intent)
# Live (not reversed) year-end closes on or after a day, and carry-forwards after it.
_CLOSING = Query(
    select(col(Intent.id), col(Intent.category), col(Intent.booking_date))
    .outerjoin(_REVERSAL, col(_REVERSAL.reverses_intent_id) == Intent.id)
    .where(col(_REVERSAL.id).is_(None),
           or_(and_(col(Intent.category) == YEAR_END_CLOSE_CATEGORY, col(Intent.booking_date) >= bindparam("day")),
               and_(col(Intent.category) == CARRY_FORWARD_CATEGORY, col(Intent.booking_date) > bindparam("day"))))
    .order_by(col(Intent.booking_date)))


async def _refuse_closed_year(session: AsyncSession, intent: Intent) -> None:
    """A booking dated in a fiscal year that was closed would leave its close and its carry-forward wrong without
    a word: refused until the close is reversed. The close and carry-forward (year_end.py) are what mark a year
    closed; their own reversals pass."""
    day = intent.booking_date
    closing = await _CLOSING.rows(session, day=day)
    if not closing or intent.reverses_intent_id in {row[0] for row in closing}:
        return
    _, category, stored = closing[0]
    closed_on = stored_date(stored)
    year = closed_on.year if category == YEAR_END_CLOSE_CATEGORY else closed_on.year - 1
    raise FiscalYearClosed(
        f"{day.isoformat()} lies in a fiscal year that was closed (ending {year}); a booking there would no longer "
        "match its year-end close and carry-forward.",
        hint="Book it into the open fiscal year, or reverse the year-end close first (close_fiscal_year action "
             "'reverse'), book, and close the year again.",
        details={"closed_intent_ids": [row[0] for row in closing]})


# --- Lock actions ---


async def change_period(session: AsyncSession, request: PeriodRequest, provenance: Provenance) -> PeriodAnswer:
    """Apply one lock action and return the period's new state."""
    period = parse_period(request.period)
    through = await locked_through(session)
    state = _replay(await _events(session, period))
    action = request.action
    if state.status == "locked" or (through and period < through):
        raise PeriodStateConflict(
            f"Period {period} is locked" + ("" if state.status == "locked" else f" (it lies before locked "
                                                                                f"period {through})")
            + f"; a locked period is never reopened or changed, so {action} is not possible.",
            hint="Correct a locked period with reverse_intent posting_mode 'current_date', or book the "
                 f"correction into the next open period ({_next_open(through) or next_period(period)}).",
            details={"period": period, "status": "locked", "next_open_period": _next_open(through)})
    actor = provenance.actor_id
    reason = request.reason.strip() if request.reason else None
    if action == "soft_lock":
        if state.status == "soft_locked":
            raise PeriodStateConflict(f"Period {period} is already soft-locked.",
                                      hint="Nothing to do; request_lock to lock it for good.",
                                      details={"period": period, "status": state.status})
        await _append(session, period, "soft_lock", provenance, reason=reason)
        message = f"Period {period} soft-locked: bookings into it now need acknowledge_soft_lock=true."
    elif action == "reopen":
        if state.status != "soft_locked":
            raise PeriodStateConflict(f"Period {period} is open; only a soft-locked period can be reopened.",
                                      hint="Nothing to reopen. To void a pending lock request use cancel_lock.",
                                      details={"period": period, "status": state.status})
        await _append(session, period, "reopen", provenance, reason=reason)
        message = f"Period {period} reopened."
    elif action == "request_lock":
        if state.request_status == "pending" and state.request:
            raise PeriodStateConflict(
                f"Period {period} already has a pending lock request {state.request.request_id}.",
                hint="Approve it (a different actor) or cancel_lock it first.",
                details={"period": period, "request_id": state.request.request_id})
        await _require_lockable(session, period, through)
        totals = await _totals(session, period)
        event = await _append(session, period, "request_lock", provenance, request_id=str(uuid4()),
                              reason=reason, intent_count=totals.intent_count, line_count=totals.line_count,
                              debit_total=totals.debit_total)
        message = (f"Lock of {period} requested ({event.request_id}); a different actor must approve it with "
                   "approve_lock and this request_id.")
    else:
        pending = _pending(state, period, request.request_id)
        if action == "cancel_lock":
            await _append(session, period, "cancel_lock", provenance, request_id=pending.request_id,
                          reason=reason)
            message = f"Lock request {pending.request_id} for {period} cancelled."
        else:
            if pending.actor_id == actor:
                raise FourEyesRequired(
                    f"{actor} requested this lock and cannot approve it too.",
                    hint="A different actor (another user or API key) must call approve_lock with this "
                         "request_id.",
                    details={"period": period, "request_id": pending.request_id, "requested_by": actor})
            await _refuse_stale(session, period, pending)
            await _require_lockable(session, period, through)
            number, head_hash = await chain.head(session)
            totals = await _totals(session, period)
            closing = chain.closing_hash(period, number, head_hash, totals)
            await _append(session, period, "approve_lock", provenance, request_id=pending.request_id,
                          reason=reason, intent_count=totals.intent_count, line_count=totals.line_count,
                          debit_total=totals.debit_total, head_journal_number=number, head_hash=head_hash,
                          closing_hash=closing)
            message = f"Period {period} locked; closing hash {closing[:16]}…."
    return await _answer(session, period, message)


def _pending(state: _State, period: str, request_id: str | None) -> PeriodEvent:
    if state.request is None or state.request_status != "pending":
        raise PeriodStateConflict(f"Period {period} has no pending lock request.",
                                  hint="Call lock_period with action 'request_lock' first.",
                                  details={"period": period, "last_request_id":
                                           state.request.request_id if state.request else None})
    if not request_id:
        raise ValidationFailed("request_id is required for approve_lock and cancel_lock.",
                               hint=f"Pass the pending request's id: {state.request.request_id}.",
                               details={"request_id": state.request.request_id})
    if request_id != state.request.request_id:
        raise LockRequestStale(
            f"Request {request_id} is not the pending lock request of {period} (that is "
            f"{state.request.request_id}); it was cancelled or belongs to another period.",
            hint="Read the period's status and review the pending request before approving it.",
            details={"period": period, "request_id": state.request.request_id})
    return state.request


async def _refuse_stale(session: AsyncSession, period: str, request: PeriodEvent) -> None:
    totals = await _totals(session, period)
    snapshot = PeriodTotals(request.intent_count or 0, request.line_count or 0, request.debit_total or 0)
    reopened = (await session.exec(select(PeriodEvent.period).where(
        PeriodEvent.seq > request.seq, PeriodEvent.action == "reopen", PeriodEvent.period <= period).limit(1))).first()
    if totals == snapshot and reopened is None:
        return
    why = (f"period {reopened} was reopened after it was made" if reopened else
           f"the period changed after it was made ({snapshot.intent_count} -> {totals.intent_count} intents, "
           f"{snapshot.line_count} -> {totals.line_count} lines)")
    raise LockRequestStale(f"Lock request {request.request_id} for {period} is stale: {why}.",
                           hint="cancel_lock this request, review the period again, and request_lock anew.",
                           details={"period": period, "request_id": request.request_id})


async def _require_lockable(session: AsyncSession, period: str, through: str | None) -> None:
    first, last = period_bounds(period)
    if last >= today():
        raise PeriodStateConflict(f"Period {period} has not ended yet (it ends {last.isoformat()}).",
                                  hint="Lock a period after its last day; soft_lock it meanwhile.",
                                  details={"period": period})
    stmt = select(func.min(Intent.booking_date)).where(Intent.booking_date < first)
    if through:
        stmt = stmt.where(Intent.booking_date > period_bounds(through)[1])
    earliest = (await session.exec(stmt)).first()
    if earliest is not None:
        open_period = period_of(earliest)
        raise EarlierPeriodOpen(
            f"Period {open_period} holds bookings and is not locked; periods are locked in time order.",
            hint=f"Lock {open_period} (and any later period with bookings before {period}) first.",
            details={"period": period, "earliest_unlocked_period": open_period})


async def _totals(session: AsyncSession, period: str) -> PeriodTotals:
    return (await chain.period_totals(session, period, period)).get(period, PeriodTotals())


# --- Status ---


def _info(period: str, events: list[PeriodEvent], totals: PeriodTotals, through: str | None,
          currency: str) -> PeriodInfo:
    state = _replay(events)
    first, last = period_bounds(period)
    covered = through if state.status != "locked" and through and period < through else None
    request, approval = state.request, state.approval
    requested_by = request.actor_id if request else None
    if state.status == "locked":
        locked_by, locked_at = requested_by, approval.created_at if approval else None
    elif state.soft_lock and state.status == "soft_locked":
        locked_by, locked_at = state.soft_lock.actor_id, state.soft_lock.created_at
    else:
        locked_by = locked_at = None
    return PeriodInfo(
        period=period, period_number=first.month, start_date=first.isoformat(), end_date=last.isoformat(),
        status="locked" if covered else state.status, locked_by=locked_by, locked_at=locked_at, covered_by=covered,
        request_id=request.request_id if request and state.request_status != "cancelled" else None,
        request_status=state.request_status, has_pending_request=state.request_status == "pending",
        requested_by=requested_by, requested_at=request.created_at if request else None,
        approved_by=approval.actor_id if approval else None,
        closing_hash=approval.closing_hash if approval else None,
        closing_journal_number=approval.head_journal_number if approval else None,
        acknowledged_intent_ids=[e.intent_id for e in events if e.action == "acknowledge_soft_lock" and e.intent_id],
        intent_count=totals.intent_count, line_count=totals.line_count,
        debit_total=format_amount(totals.debit_total, currency), currency=currency)


async def _answer(session: AsyncSession, period: str, message: str) -> PeriodAnswer:
    through = await locked_through(session)
    currency = (await read_meta(session))["base_currency"]
    events = await _events(session, period)
    info = _info(period, events, await _totals(session, period), through, currency)
    return PeriodAnswer(**info.model_dump(), locked_through=through, next_open_period=_next_open(through),
                        message=message, history=[PeriodEventView.of(e) for e in events])


async def period_status(session: AsyncSession, period: str, end_period: str | None = None) -> PeriodAnswer:
    """One period's state; with `end_period`, also every period of the range in `periods`."""
    answer = await _answer(session, parse_period(period), "Status only; nothing was changed.")
    if end_period is None:
        return answer
    listed = await list_periods(session, period, end_period)
    return answer.model_copy(update={"periods": listed.periods})


async def list_periods(session: AsyncSession, start_period: str | None = None,
                       end_period: str | None = None) -> PeriodList:
    """Every period from `start_period` (default: the earliest booked or touched) to `end_period`
    (default: the later of the current month and the latest booked), with state and totals."""
    first_day = (await session.exec(select(func.min(Intent.booking_date)))).first()
    last_day = (await session.exec(select(func.max(Intent.booking_date)))).first()
    first_event = (await session.exec(select(func.min(PeriodEvent.period)))).first()
    current = period_of(today())
    candidates = [p for p in (period_of(first_day) if first_day else None, first_event) if p]
    first = parse_period(start_period, field="start_period") if start_period else min([*candidates, current])
    last = parse_period(end_period, field="end_period") if end_period else max(
        [current, *([period_of(last_day)] if last_day else [])])
    if first > last:
        raise ValidationFailed(f"start_period {first} is after end_period {last}.",
                               hint="Give start_period <= end_period.")
    periods = periods_between(first, last)
    if len(periods) > MAX_PERIODS:
        raise ValidationFailed(f"{len(periods)} periods requested; at most {MAX_PERIODS} at once.",
                               hint="Narrow start_period/end_period.")
    through = await locked_through(session)
    currency = (await read_meta(session))["base_currency"]
    totals = await chain.period_totals(session, first, last)
    events: dict[str, list[PeriodEvent]] = {}
    for event in (await session.exec(select(PeriodEvent).where(
            PeriodEvent.period >= first, PeriodEvent.period <= last).order_by(col(PeriodEvent.seq)))).all():
        events.setdefault(event.period, []).append(event)
    infos = [_info(p, events.get(p, []), totals.get(p, PeriodTotals()), through, currency) for p in periods]
    return PeriodList(locked_through=through, next_open_period=_next_open(through), periods=infos)
