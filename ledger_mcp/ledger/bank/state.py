"""Which match group explains a bank transaction: the one SQL rule every read and write shares.

A group is live while it is not unmatched and its intent (if any) is not reversed; a transaction is
open without a live group, otherwise reconciled (or dismissed, by a dismissing group).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import case, col, select

from ledger_mcp.ledger.models import BankMatch, BankMatchGroup, BankTransaction, Intent


def live_group() -> Any:
    """A condition on BankMatchGroup: the group explains its transactions now."""
    reversal = aliased(Intent)
    reversed_ = exists(select(reversal.id).where(col(reversal.reverses_intent_id) == BankMatchGroup.intent_id)
                       .correlate(BankMatchGroup))
    return and_(col(BankMatchGroup.unmatched_at).is_(None),
                or_(col(BankMatchGroup.intent_id).is_(None), ~reversed_))


def live_mode() -> Any:
    """Correlated scalar: the mode of the live group naming the BankTransaction row, else null."""
    return (select(BankMatchGroup.mode).join(BankMatch, col(BankMatch.match_group_id) == BankMatchGroup.id)
            .where(BankMatch.bank_transaction_id == BankTransaction.id, live_group())
            .correlate(BankTransaction).limit(1).scalar_subquery())


def status_expression() -> Any:
    mode = live_mode()
    return case((mode.is_(None), "open"), (mode == "dismissed", "dismissed"), else_="reconciled")
