"""covering indexes for reports: (account, booking_date, base_amount) on each side of a journal line

Revision ID: b7d4e2a91c03
Revises: 5c2680bb4ffa
Create Date: 2026-11-28 21:35:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "b7d4e2a91c03"
down_revision: str | None = "5c2680bb4ffa"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.drop_index("ix_line_debit_date")
        batch_op.drop_index("ix_line_credit_date")
        batch_op.create_index("ix_line_debit_date_amount", ["debit_account", "booking_date", "base_amount"],
                              unique=False)
        batch_op.create_index("ix_line_credit_date_amount", ["credit_account", "booking_date", "base_amount"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.drop_index("ix_line_credit_date_amount")
        batch_op.drop_index("ix_line_debit_date_amount")
        batch_op.create_index("ix_line_credit_date", ["credit_account", "booking_date"], unique=False)
        batch_op.create_index("ix_line_debit_date", ["debit_account", "booking_date"], unique=False)
