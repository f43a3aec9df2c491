"""Confirmations a human grants outside the agent's reach.

A client that cannot ask its user (no elicitation), or any client over HTTP (where the asking
client could answer its own question), gets a pending confirmation instead of a yes. A human grants
it through a channel the agent does not hold: `ledger-mcp confirm grant ID` on the server's machine,
or over HTTP a different API key with `ledger:approve`. The agent then repeats the same call with
`confirmation_id`; the grant is used once, and only for the exact question it was given for.
"""

from __future__ import annotations

from secrets import token_hex

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp.ledger.clock import utc_now
from ledger_mcp.ledger.errors import ConfirmationInvalid, FourEyesRequired
from ledger_mcp.ledger.models import ConfirmationRequest

PENDING, GRANTED, DENIED, USED = "pending", "granted", "denied", "used"


class ConfirmationInfo(BaseModel):
    id: str
    action: str
    question: str
    requested_by: str
    status: str
    decided_by: str | None
    decided_via: str | None
    note: str | None
    created_at: str
    decided_at: str | None
    used_at: str | None

    @classmethod
    def of(cls, row: ConfirmationRequest) -> ConfirmationInfo:
        return cls.model_validate(row, from_attributes=True)


async def request_confirmation(session: AsyncSession, action: str, question: str,
                               requested_by: str) -> ConfirmationInfo:
    """A pending confirmation for this question, reusing an open one: an agent that asks again
    without the id does not pile up requests."""
    existing = (await session.exec(select(ConfirmationRequest).where(
        ConfirmationRequest.action == action, ConfirmationRequest.question == question,
        ConfirmationRequest.requested_by == requested_by,
        col(ConfirmationRequest.status).in_([PENDING, GRANTED])))).first()
    if existing is not None:
        return ConfirmationInfo.of(existing)
    row = ConfirmationRequest(id=f"cnf_{token_hex(8)}", action=action, question=question, requested_by=requested_by,
                              status=PENDING, created_at=utc_now())
    session.add(row)
    await session.flush()
    return ConfirmationInfo.of(row)


async def decide(session: AsyncSession, confirmation_id: str, *, grant: bool, decided_by: str, via: str,
                 note: str | None = None) -> ConfirmationInfo:
    """Grant or deny a pending confirmation. An API key never decides its own request (four eyes)."""
    row = await _get(session, confirmation_id)
    if row.status != PENDING:
        raise ConfirmationInvalid(f"Confirmation {row.id} is {row.status}, not pending.",
                                  hint="Only a pending confirmation can be granted or denied.")
    if via == "api_key" and decided_by == row.requested_by:
        raise FourEyesRequired(f"Confirmation {row.id} was requested by {decided_by}; it must be decided by "
                               "someone else.", hint="Decide it with another API key holding ledger:approve, or "
                                                     "with `ledger-mcp confirm grant` on the server's machine.")
    row.status, row.decided_by, row.decided_via = (GRANTED if grant else DENIED), decided_by, via
    row.note, row.decided_at = note, utc_now()
    session.add(row)
    await session.flush()
    return ConfirmationInfo.of(row)


async def redeem(session: AsyncSession, confirmation_id: str, action: str, question: str) -> ConfirmationInfo:
    """Use a granted confirmation for the call it was granted for; it cannot be used again."""
    row = await _get(session, confirmation_id)
    if row.action != action or row.question != question:
        raise ConfirmationInvalid(
            f"Confirmation {row.id} was given for another action: {row.question!r}.",
            hint="Repeat exactly the call the confirmation was requested for, or call without confirmation_id "
                 "to request a new one.", details={"granted_question": row.question, "this_question": question})
    if row.status != GRANTED:
        hint = {PENDING: "Wait until a human has granted it, then call again with the same confirmation_id.",
                DENIED: "The human said no: do not carry out this action.",
                USED: "It was used already; call without confirmation_id to request a new one."}[row.status]
        raise ConfirmationInvalid(f"Confirmation {row.id} is {row.status}.", hint=hint,
                                  retryable=row.status == PENDING, details={"status": row.status})
    row.status, row.used_at = USED, utc_now()
    session.add(row)
    await session.flush()
    return ConfirmationInfo.of(row)


async def list_confirmations(session: AsyncSession, status: str | None = PENDING,
                             limit: int = 50) -> list[ConfirmationInfo]:
    stmt = select(ConfirmationRequest).order_by(col(ConfirmationRequest.created_at).desc()).limit(limit)
    if status:
        stmt = stmt.where(ConfirmationRequest.status == status)
    return [ConfirmationInfo.of(row) for row in (await session.exec(stmt)).all()]


async def _get(session: AsyncSession, confirmation_id: str) -> ConfirmationRequest:
    row = await session.get(ConfirmationRequest, confirmation_id)
    if row is None:
        raise ConfirmationInvalid(f"Confirmation {confirmation_id!r} does not exist.",
                                  hint="Use the confirmation_id from the CONFIRMATION_REQUIRED error.")
    return row
