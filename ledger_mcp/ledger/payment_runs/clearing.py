"""A payment run's status, derived from its events, and the clearing of its money in transit when the
bank statement shows the debit. Bank reconciliation and suggestions call this module; it knows nothing
of them beyond the match groups."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.bank.state import live_group
from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import AlreadyReconciled, ReconciliationMismatch
from ledger_mcp.ledger.models import BankAccount, BankMatchGroup, PaymentRun, PaymentRunEvent, PaymentRunItem
from ledger_mcp.ledger.money import format_amount
from ledger_mcp.ledger.posting import Leg, post_legs
from ledger_mcp.ledger.provenance import Provenance

# Geldtransit: payments sent to the bank and not yet on the statement.
TRANSIT_ACCOUNTS = {"skr03": "1360", "skr04": "1460"}
STATUS_OF = {"create": "created", "approve": "approved", "export": "exported", "complete": "completed",
             "cancel": "cancelled", "clear": "cleared"}
ACTIVE = frozenset({"created", "approved", "exported"})
"""Statuses in which a run holds its invoices: another run cannot take them."""


async def transit_account(session: AsyncSession) -> str:
    return TRANSIT_ACCOUNTS.get((await read_meta(session))["chart"], TRANSIT_ACCOUNTS["skr03"])


async def statuses(session: AsyncSession, run_ids: list[str] | None = None) -> dict[str, str]:
    """Run id -> status: its last event's, where a clear counts only while its match group is live (an
    unmatched statement line leaves the run completed, its money in transit again)."""
    stmt = select(PaymentRunEvent.run_id, PaymentRunEvent.action, PaymentRunEvent.match_group_id)
    if run_ids is not None:
        stmt = stmt.where(col(PaymentRunEvent.run_id).in_(run_ids))
    rows = (await session.exec(stmt.order_by(col(PaymentRunEvent.id)))).all()
    groups = [g for _, action, g in rows if action == "clear" and g]
    live = set((await session.exec(select(BankMatchGroup.id).where(col(BankMatchGroup.id).in_(groups),
                                                                   live_group()))).all()) if groups else set()
    status: dict[str, str] = {}
    for run_id, action, group in rows:
        if action != "clear" or group in live:
            status[run_id] = STATUS_OF[action]
    return status


async def append_event(session: AsyncSession, run_id: str, action: str, provenance: Provenance, *,
                       intent_id: str | None = None, match_group_id: str | None = None,
                       note: str | None = None) -> PaymentRunEvent:
    event = PaymentRunEvent(run_id=run_id, action=action, actor_id=provenance.actor_id, intent_id=intent_id,
                            match_group_id=match_group_id, note=note, created_at=utc_now(), **provenance.columns())
    session.add(event)
    await session.flush()
    return event


async def run_total(session: AsyncSession, run_id: str) -> int:
    amounts = (await session.exec(select(PaymentRunItem.amount).where(PaymentRunItem.run_id == run_id))).all()
    return sum(amounts)


async def uncleared_runs(session: AsyncSession, bank_account_id: str) -> list[tuple[PaymentRun, str, int]]:
    """Completed runs of the bank account whose debit is not reconciled yet: (run, completion intent, total)."""
    rows = (await session.exec(
        select(PaymentRun, PaymentRunEvent.intent_id)
        .join(PaymentRunEvent, col(PaymentRunEvent.run_id) == PaymentRun.id)
        .where(PaymentRun.bank_account_id == bank_account_id, PaymentRunEvent.action == "complete"))).all()
    status = await statuses(session, [run.id for run, _ in rows]) if rows else {}
    return [(run, intent_id, await run_total(session, run.id)) for run, intent_id in rows
            if intent_id and status.get(run.id) == "completed"]


async def completed_run(session: AsyncSession, intent_id: str | None) -> PaymentRun | None:
    """The run whose completion posted `intent_id`, if any."""
    if not intent_id:
        return None
    return (await session.exec(select(PaymentRun).join(PaymentRunEvent, col(PaymentRunEvent.run_id) == PaymentRun.id)
                               .where(PaymentRunEvent.intent_id == intent_id,
                                      PaymentRunEvent.action == "complete"))).first()


async def clear(session: AsyncSession, run: PaymentRun, account: BankAccount, total: int, day: date,
                metadata: dict[str, Any], provenance: Provenance, *, acknowledge_soft_lock: bool = False) -> str:
    """Book the statement's debit of a completed run: transit account to the bank's ledger account. Returns
    the intent; the caller records the clear with its match group (`record_clear`)."""
    status = (await statuses(session, [run.id])).get(run.id)
    if status == "cleared":
        raise AlreadyReconciled(f"Payment run {run.label} is already cleared by a bank transaction.",
                                hint="Unmatch that transaction first if it was the wrong one.",
                                details={"payment_run_id": run.id})
    if run.bank_account_id != account.id:
        raise ReconciliationMismatch(f"Payment run {run.label} was paid from another bank account.",
                                     hint="Reconcile the run's debit on the bank account it was sent from.",
                                     details={"payment_run_id": run.id, "bank_account_id": run.bank_account_id})
    expected = await run_total(session, run.id)
    if -total != expected:
        raise ReconciliationMismatch(
            f"Payment run {run.label} paid {format_amount(expected, run.currency)}; the transactions move "
            f"{format_amount(abs(total), run.currency)} {'out' if total < 0 else 'in'}.",
            hint="List all the transactions the bank booked for this run (one batch debit or one per transfer).",
            details={"payment_run_id": run.id, "run_total": format_amount(expected, run.currency)})
    transit = await transit_account(session)
    posted = await post_legs(
        session, category="payment", booking_date=day, description=f"Payment run {run.label}: bank debit"[:500],
        legs=[Leg(transit, account.ledger_account, expected, None, "amount", run.message_id)],
        provenance=provenance, external_reference=run.message_id,
        custom_metadata={**metadata, "payment_run_id": run.id}, skip_duplicate_check=True,
        acknowledge_soft_lock=acknowledge_soft_lock)
    return posted.intent_id


async def record_clear(session: AsyncSession, run: PaymentRun, group_id: str, intent_id: str,
                       provenance: Provenance) -> None:
    await append_event(session, run.id, "clear", provenance, intent_id=intent_id, match_group_id=group_id)
