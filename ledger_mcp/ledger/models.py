"""Database tables. Amounts are integer minor units; dates are ISO; timestamps are UTC ISO strings
(stored as text so that every database returns exactly what was hashed)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

# Every constraint gets a predictable name, so that a migration can name the one it changes
# (SQLite rebuilds tables in batch mode and cannot alter an unnamed constraint).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class LedgerMeta(SQLModel, table=True):
    """Key/value facts about this ledger: chart, base_currency, created_at. (The schema revision is in
    alembic_version, see ledger_mcp.migrations.)"""

    __tablename__ = "ledger_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


class Account(SQLModel, table=True):
    """An account of the chart. `type` drives the sign of balances; `report_group` places it in reports."""

    __tablename__ = "account"
    number: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=200)
    type: str = Field(max_length=16)  # asset | liability | equity | revenue | expense
    category: str = Field(max_length=32, index=True)
    report_group: str = Field(max_length=64)
    is_system: bool = False
    is_active: bool = True
    created_at: str


class TaxCode(SQLModel, table=True):
    """A VAT treatment. `kind`: input, output, reverse_charge (self-assessed) or exempt."""

    __tablename__ = "tax_code"
    code: str = Field(primary_key=True, max_length=16)
    label: str
    description: str = ""
    rate: str  # percentage as a decimal string, e.g. "19"
    kind: str = Field(max_length=16)
    vat_account: str | None = Field(default=None, foreign_key="account.number")
    self_assess_account: str | None = Field(default=None, foreign_key="account.number")
    datev_bu_key: str | None = None
    is_system: bool = True
    is_active: bool = True


class ProvenanceColumns(SQLModel):
    """Provenance recorded on every intent and every journal line."""

    surface: str = Field(max_length=16)
    channel: str = Field(max_length=32)
    actor_type: str = Field(max_length=16)
    actor_label: str = Field(max_length=200)
    actor_key_prefix: str | None = Field(default=None, max_length=32)
    client_name: str | None = Field(default=None, max_length=200)
    client_version: str | None = Field(default=None, max_length=64)


class Intent(ProvenanceColumns, table=True):
    """One business event owning N journal lines. Never updated or deleted.

    A reversal is a new intent whose `reverses_intent_id` names the original; the unique index
    on that column makes a second reversal impossible, and "reversed by" is derived from it.
    `request_hash` identifies the request for idempotent replay; `fingerprint` (date, accounts,
    amounts, reference) finds likely duplicates. `content_hash` covers every column but those two
    lookup helpers and is itself covered by each line's hash.
    """

    __tablename__ = "intent"
    __table_args__ = (Index("ix_intent_created", "created_at"),)
    id: str = Field(primary_key=True, max_length=36)
    category: str = Field(max_length=32)  # booking | opening_balance | reversal
    booking_date: date = Field(index=True)
    description: str
    currency: str = Field(max_length=3)
    external_reference: str | None = Field(default=None, index=True, max_length=200)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    fingerprint: str = Field(index=True, max_length=64)
    document_id: str | None = Field(default=None, max_length=64)
    custom_metadata: str | None = Field(default=None, sa_column=Column(Text))  # canonical JSON
    reverses_intent_id: str | None = Field(default=None, unique=True, foreign_key="intent.id")
    reversal_reason: str | None = None
    duplicate_override: bool = False
    line_count: int = Field(description="Journal lines the intent owns; a removed line is detected.")
    created_at: str
    content_hash: str = Field(max_length=64)


class JournalLine(ProvenanceColumns, table=True):
    """One posting: amount from `credit_account` to `debit_account`, number `journal_number` in
    the global gapless chain. `audit_hash` = sha256(prev_hash + content_hash)."""

    __tablename__ = "journal_line"
    __table_args__ = (
        Index("ix_line_debit_date", "debit_account", "booking_date"),
        Index("ix_line_credit_date", "credit_account", "booking_date"),
        Index("ix_line_date", "booking_date"),
    )
    journal_number: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    intent_id: str = Field(foreign_key="intent.id", index=True, max_length=36)
    line_index: int
    booking_date: date
    debit_account: str = Field(foreign_key="account.number", max_length=16)
    credit_account: str = Field(foreign_key="account.number", max_length=16)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    tax_code: str | None = Field(default=None, max_length=16)
    line_role: str = Field(max_length=16)  # amount | tax | self_assessment
    description: str
    created_at: str
    hash_version: int
    content_hash: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    audit_hash: str = Field(max_length=64, unique=True)
