"""A payment run's status, derived from its events, and the clearing of its money in transit when the
bank statement shows the debit. Bank reconciliation and suggestions call this module; it knows nothing
of them beyond the match groups.

Banks report a batch-booked run as one debit of its total, or (CAMT with transaction details) as one
line per transfer carrying its end-to-end id. A clear takes either: lines that name uncleared items by
end-to-end id and move exactly their amounts, or lines that move the total of every item not yet cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.bank.state import live_group
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import AlreadyReconciled, ReconciliationMismatch
from ledger_mcp.ledger.models import (
    BankAccount,
    BankMatchGroup,
    BankTransaction,
    PaymentRun,
    PaymentRunEvent,
    PaymentRunItem,
)
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.posting import Leg, post_legs, reversed_by
from ledger_mcp.ledger.provenance import Provenance

# Geldtransit: payments sent to the bank and not yet on the statement.
TRANSIT_ACCOUNTS = {"skr03": "1360", "skr04": "1460"}
STATUS_OF = {"create": "created", "approve": "approved", "export": "exported", "complete": "completed",
             "cancel": "cancelled"}
ACTIVE = frozenset({"created", "approved", "exported"})
"""Statuses in which a run holds its invoices: another run cannot take them."""


@dataclass(frozen=True)
class RunState:
    status: str
    cleared: frozenset[str]  # end-to-end ids of the items whose debit is reconciled


async def transit_account(session: AsyncSession) -> str:
    return TRANSIT_ACCOUNTS.get((await read_meta(session))["chart"], TRANSIT_ACCOUNTS["skr03"])


async def states(session: AsyncSession, run_ids: list[str]) -> dict[str, RunState]:
    """Each run's status (its last step's; completed turns cleared once every item is) and cleared items.
    A clear counts while its match group is live: an unmatched line puts its money in transit again."""
    if not run_ids:
        return {}
    rows = (await session.exec(
        select(PaymentRunEvent.run_id, PaymentRunEvent.action, PaymentRunEvent.match_group_id,
               PaymentRunEvent.cleared).where(col(PaymentRunEvent.run_id).in_(run_ids))
        .order_by(col(PaymentRunEvent.id)))).all()
    groups = [g for _, action, g, _ in rows if action == "clear" and g]
    live = set((await session.exec(select(BankMatchGroup.id).where(col(BankMatchGroup.id).in_(groups),
                                                                   live_group()))).all()) if groups else set()
    status: dict[str, str] = {}
    cleared: dict[str, set[str]] = {}
    for run_id, action, group, ids in rows:
        if action != "clear":
            status[run_id] = STATUS_OF[action]
        elif group in live:
            cleared.setdefault(run_id, set()).update((ids or "").split())
    if cleared:
        items: dict[str, set[str]] = {}
        for run_id, e2e in (await session.exec(select(PaymentRunItem.run_id, PaymentRunItem.end_to_end_id).where(
                col(PaymentRunItem.run_id).in_(list(cleared))))).all():
            items.setdefault(run_id, set()).add(e2e)
        for run_id, done in cleared.items():
            if status.get(run_id) == "completed" and done >= items.get(run_id, set()):
                status[run_id] = "cleared"
    return {run_id: RunState(s, frozenset(cleared.get(run_id, ()))) for run_id, s in status.items()}


async def statuses(session: AsyncSession, run_ids: list[str]) -> dict[str, str]:
    return {run_id: state.status for run_id, state in (await states(session, run_ids)).items()}


async def append_event(session: AsyncSession, run_id: str, action: str, provenance: Provenance, *,
                       intent_id: str | None = None, match_group_id: str | None = None,
                       cleared: str | None = None, note: str | None = None) -> PaymentRunEvent:
    event = PaymentRunEvent(run_id=run_id, action=action, actor_id=provenance.actor_id, intent_id=intent_id,
                            match_group_id=match_group_id, cleared=cleared, note=note, created_at=utc_now(),
                            **provenance.columns())
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class InTransit:
    """A completed run's items whose debit is not reconciled yet: end-to-end id -> amount."""

    run: PaymentRun
    intent_id: str
    items: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.items.values())


async def _in_transit(session: AsyncSession, run: PaymentRun, intent_id: str, cleared: frozenset[str]) -> InTransit:
    items = (await session.exec(select(PaymentRunItem.end_to_end_id, PaymentRunItem.amount)
                                .where(PaymentRunItem.run_id == run.id))).all()
    return InTransit(run, intent_id, {e2e: amount for e2e, amount in items if e2e not in cleared})


async def uncleared_runs(session: AsyncSession, bank_account_id: str) -> list[InTransit]:
    """Completed runs of the bank account with items whose debit is not reconciled yet."""
    rows = (await session.exec(
        select(PaymentRun, PaymentRunEvent.intent_id)
        .join(PaymentRunEvent, col(PaymentRunEvent.run_id) == PaymentRun.id)
        .where(PaymentRun.bank_account_id == bank_account_id, PaymentRunEvent.action == "complete"))).all()
    state = await states(session, [run.id for run, _ in rows])
    return [await _in_transit(session, run, intent_id, state[run.id].cleared) for run, intent_id in rows
            if intent_id and state[run.id].status == "completed" and not await reversed_by(session, intent_id)]


async def completed_run(session: AsyncSession, intent_id: str | None) -> PaymentRun | None:
    """The run whose completion posted `intent_id`, if any and not reversed (a reversed completion reopened
    the payables: nothing is in transit for it)."""
    if not intent_id or await reversed_by(session, intent_id):
        return None
    return (await session.exec(select(PaymentRun).join(PaymentRunEvent, col(PaymentRunEvent.run_id) == PaymentRun.id)
                               .where(PaymentRunEvent.intent_id == intent_id,
                                      PaymentRunEvent.action == "complete"))).first()


async def clear(session: AsyncSession, run: PaymentRun, account: BankAccount, transactions: list[BankTransaction],
                day: date, metadata: dict[str, Any], provenance: Provenance, *,
                acknowledge_soft_lock: bool = False) -> tuple[str, list[str]]:
    """Book the statement's debit of (part of) a completed run: transit account to the bank's ledger
    account. Returns the intent and the items it clears, for `record_clear` once the match group exists."""
    state = (await states(session, [run.id]))[run.id]
    if state.status == "cleared":
        raise AlreadyReconciled(f"Payment run {run.label} is already cleared by its bank transactions.",
                                hint="Unmatch those transactions first if they were the wrong ones.",
                                details={"payment_run_id": run.id})
    if run.bank_account_id != account.id:
        raise ReconciliationMismatch(f"Payment run {run.label} was paid from another bank account.",
                                     hint="Reconcile the run's debit on the bank account it was sent from.",
                                     details={"payment_run_id": run.id, "bank_account_id": run.bank_account_id})
    open_ = (await _in_transit(session, run, "", state.cleared)).items
    total = sum(t.amount for t in transactions)
    named = [t.end_to_end_id for t in transactions]
    if all(e2e in open_ and open_[e2e] == -t.amount for e2e, t in zip(named, transactions, strict=True)) \
            and len(set(named)) == len(named):
        items = [e2e for e2e in named if e2e]
    elif -total == sum(open_.values()):
        items = sorted(open_)
    else:
        c = run.currency
        raise ReconciliationMismatch(
            f"Payment run {run.label} has {format_amount(sum(open_.values()), c)} in transit in {len(open_)} "
            f"transfers; the transactions move {format_amount(abs(total), c)} {'out' if total < 0 else 'in'} and "
            "name none of them by end-to-end id with its amount.",
            hint="List the bank lines of this run: its batch debit, or the lines that carry its transfers' "
                 "end-to-end ids.",
            details={"payment_run_id": run.id, "in_transit": format_amount(sum(open_.values()), c)})
    amount = sum(open_[e2e] for e2e in items)
    transit = await transit_account(session)
    posted = await post_legs(
        session, category="payment", booking_date=day, description=f"Payment run {run.label}: bank debit"[:500],
        legs=[Leg(transit, account.ledger_account, amount, None, "amount", run.message_id)],
        provenance=provenance, external_reference=run.message_id,
        custom_metadata={**metadata, "payment_run_id": run.id}, skip_duplicate_check=True,
        acknowledge_soft_lock=acknowledge_soft_lock)
    return posted.intent_id, items


async def record_clear(session: AsyncSession, run: PaymentRun, group_id: str, intent_id: str, items: list[str],
                       provenance: Provenance) -> None:
    await append_event(session, run.id, "clear", provenance, intent_id=intent_id, match_group_id=group_id,
                       cleared=" ".join(items))
