"""index on intent.category: reports find opening balances, carry-forwards and year-end closes by it

Revision ID: e41a7c9b2d58
Revises: 6cb1c33bb98e
Create Date: 2026-11-28 22:35:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "e41a7c9b2d58"
down_revision: str | None = "6cb1c33bb98e"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_intent_category", "intent", ["category"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_intent_category", table_name="intent")
