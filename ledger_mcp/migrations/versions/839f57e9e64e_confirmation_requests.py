"""confirmation requests

Revision ID: 839f57e9e64e
Revises: 3b9e4f1c7a20
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '839f57e9e64e'
down_revision: str | None = '3b9e4f1c7a20'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('confirmation_request',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=240), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=240), nullable=True),
    sa.Column('decided_via', sa.String(length=16), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.String(), nullable=False),
    sa.Column('decided_at', sa.String(), nullable=True),
    sa.Column('used_at', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_confirmation_request'))
    )
    with op.batch_alter_table('confirmation_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmation_request_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('confirmation_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_confirmation_request_status'))

    op.drop_table('confirmation_request')
