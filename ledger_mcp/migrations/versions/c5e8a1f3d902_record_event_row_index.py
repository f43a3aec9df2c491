"""index on record_event (table_name, row_key, seq): verify finds each row's latest event without
holding the whole history in memory

Revision ID: c5e8a1f3d902
Revises: 659e5e8fc101
Create Date: 2026-11-29 00:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "c5e8a1f3d902"
down_revision: str | None = "659e5e8fc101"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_record_event_row", "record_event", ["table_name", "row_key", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_record_event_row", table_name="record_event")
