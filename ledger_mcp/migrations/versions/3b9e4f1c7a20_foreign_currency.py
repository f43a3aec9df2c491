"""foreign currency: base amounts on journal lines, invoices and settlements; exchange rates; revaluations

Revision ID: 3b9e4f1c7a20
Revises: f796ebd5168e
Create Date: 2026-11-28 19:10:00.000000

Existing rows were booked in the base currency: their base amount is their amount, and they keep
hash version 1. The chart gets its exchange gain and loss accounts if it lacks them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "3b9e4f1c7a20"
down_revision: str | None = "f796ebd5168e"
branch_labels: str | None = None
depends_on: str | None = None

# (number, name, type, category, report_group) per chart, as in ledger/charts/*.csv.
FX_ACCOUNTS = {
    "skr03": [("2150", "Aufwendungen aus Kursdifferenzen", "expense", "fx_loss", "pl.other_expenses"),
              ("2660", "Erträge aus Kursdifferenzen", "revenue", "fx_gain", "pl.other_income")],
    "skr04": [("4840", "Erträge aus Kursdifferenzen", "revenue", "fx_gain", "pl.other_income"),
              ("6880", "Aufwendungen aus Kursdifferenzen", "expense", "fx_loss", "pl.other_expenses")],
}


def _add_base_column(table: str, column: str, source: str) -> None:
    """A NOT NULL base amount column, filled from the amount it mirrors."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column(column, sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE {table} SET {column} = {source}")
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(column, existing_type=sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "exchange_rate",
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("rate", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("rate_date", "currency", "source", name=op.f("pk_exchange_rate")),
    )
    op.create_table(
        "revaluation_item",
        sa.Column("intent_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("rate", sa.String(length=32), nullable=False),
        sa.Column("base_delta", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["intent_id"], ["intent.id"], name=op.f("fk_revaluation_item_intent_id_intent")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"], name=op.f("fk_revaluation_item_invoice_id_invoice")),
        sa.PrimaryKeyConstraint("intent_id", "invoice_id", name=op.f("pk_revaluation_item")),
    )
    with op.batch_alter_table("revaluation_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_revaluation_item_invoice_id"), ["invoice_id"], unique=False)

    _add_base_column("journal_line", "base_amount", "amount")
    _add_base_column("invoice", "total_gross_base", "total_gross")
    _add_base_column("settlement", "base_amount", "amount")
    for table in ("journal_line", "invoice"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("exchange_rate", sa.String(length=32), nullable=True))

    bind = op.get_bind()
    chart = bind.execute(sa.text("SELECT value FROM ledger_meta WHERE key = 'chart'")).scalar()
    created = bind.execute(sa.text("SELECT value FROM ledger_meta WHERE key = 'created_at'")).scalar()
    for number, name, type_, category, group in FX_ACCOUNTS.get(str(chart), []):
        taken = bind.execute(sa.text("SELECT 1 FROM account WHERE number = :n"), {"n": number}).scalar()
        used = bind.execute(sa.text("SELECT 1 FROM account WHERE category = :c"), {"c": category}).scalar()
        if not taken and not used:
            bind.execute(sa.text(
                "INSERT INTO account (number, name, type, category, report_group, is_system, is_active, created_at) "
                "VALUES (:number, :name, :type, :category, :group, :yes, :yes, :created)"),
                {"number": number, "name": name, "type": type_, "category": category, "group": group, "yes": True,
                 "created": created or ""})


def downgrade() -> None:
    for table in ("invoice", "journal_line"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("exchange_rate")
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.drop_column("base_amount")
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_column("total_gross_base")
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.drop_column("base_amount")
    with op.batch_alter_table("revaluation_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revaluation_item_invoice_id"))
    op.drop_table("revaluation_item")
    op.drop_table("exchange_rate")
