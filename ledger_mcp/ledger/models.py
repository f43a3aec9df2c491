"""Database tables. Amounts are integer minor units; dates are ISO; timestamps are UTC ISO strings
(stored as text so that every database returns exactly what was hashed)."""

# No `from __future__ import annotations` in this module: pydantic and SQLAlchemy would parse and evaluate every
# annotation string of every table at import (about 10 ms of a server's start).
from datetime import date

from pydantic import ConfigDict
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


class LedgerTable(SQLModel):
    """Base of every table. Rows are made from the database or by the ledger, rarely validated, so pydantic
    builds a table's validator at its first use instead of at import: a server starts sooner."""

    model_config = ConfigDict(defer_build=True)  # type: ignore[assignment]


class LedgerMeta(LedgerTable, table=True):
    """Key/value facts about this ledger: chart, base_currency, created_at. (The schema revision is in
    alembic_version, see ledger_mcp.migrations.)"""

    __tablename__ = "ledger_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


class Account(LedgerTable, table=True):
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


class TaxCode(LedgerTable, table=True):
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


class ProvenanceColumns(LedgerTable):
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
    lookup helpers (they are in the record history) and is itself covered by each line's hash.
    """

    __tablename__ = "intent"
    __table_args__ = (Index("ix_intent_created", "created_at"), Index("ix_intent_category", "category"))
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
    the global gapless chain. `audit_hash` = sha256(prev_hash + content_hash).

    `amount` is in the transaction `currency`; `base_amount` is the same amount in the ledger's base
    currency at `exchange_rate` (1 base unit = rate foreign units), equal to `amount` for base lines.
    Reports add up `base_amount`."""

    __tablename__ = "journal_line"
    __table_args__ = (
        # Covering indexes: per-account totals are read from the index alone, each side grouped on its own.
        Index("ix_line_debit_date_amount", "debit_account", "booking_date", "base_amount"),
        Index("ix_line_credit_date_amount", "credit_account", "booking_date", "base_amount"),
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
    base_amount: int = Field(sa_column=Column(BigInteger, nullable=False))  # in the ledger's base currency
    exchange_rate: str | None = Field(default=None, max_length=32)  # foreign units per base unit; None in base
    tax_code: str | None = Field(default=None, max_length=16)
    line_role: str = Field(max_length=16)  # amount | tax | self_assessment
    description: str
    created_at: str
    hash_version: int
    content_hash: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    audit_hash: str = Field(max_length=64, unique=True)


# --- Parties, invoices and settlements ---


class Party(LedgerTable, table=True):
    """A vendor or customer (master data; every change is in the record history, ledger_mcp.ledger.records).

    number: the personal account number (DATEV Debitor from 10000, Kreditor from 70000).
    default_account: the expense (vendor) or revenue (customer) account for invoice lines without one.
    payment_terms_days: days from invoice date to due date when an invoice names no due date.
    """

    __tablename__ = "party"
    __table_args__ = (Index("ix_party_kind_name", "kind", "name"),)
    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)  # vendor | customer
    number: str = Field(unique=True, max_length=16)
    name: str = Field(max_length=200)
    tax_id: str | None = Field(default=None, max_length=64)
    vat_id: str | None = Field(default=None, index=True, max_length=32)
    iban: str | None = Field(default=None, index=True, max_length=34)
    bic: str | None = Field(default=None, max_length=11)
    address: str | None = Field(default=None, max_length=1000)
    default_account: str | None = Field(default=None, foreign_key="account.number", max_length=16)
    payment_terms_days: int | None = None
    notes: str | None = Field(default=None, max_length=2000)
    is_active: bool = True
    created_at: str
    created_by: str = Field(max_length=300)
    updated_at: str
    updated_by: str = Field(max_length=300)


class Invoice(LedgerTable, table=True):
    """An incoming (payable) or outgoing (receivable) invoice or credit note, posted as `intent_id`.

    Amounts are positive minor units; a credit note reduces what is owed. Status and remaining
    amount are derived from the intent's reversal and the settlements, never stored.
    control_account: the receivables or payables account its open item lives on.
    """

    __tablename__ = "invoice"
    __table_args__ = (Index("ix_invoice_party_number", "party_id", "number_key"),
                      Index("ix_invoice_due", "direction", "due_date"))
    id: str = Field(primary_key=True, max_length=36)
    direction: str = Field(max_length=16)  # payable | receivable
    type: str = Field(max_length=16)  # invoice | credit_note
    party_id: str = Field(foreign_key="party.id", index=True, max_length=36)
    invoice_number: str = Field(max_length=200)
    number_key: str = Field(max_length=200)  # invoice_number trimmed and case-folded, for duplicate checks
    invoice_date: date
    due_date: date
    currency: str = Field(max_length=3)
    total_net: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_tax: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_gross: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_gross_base: int = Field(sa_column=Column(BigInteger, nullable=False))  # what the control account holds
    exchange_rate: str | None = Field(default=None, max_length=32)  # None for base-currency invoices
    control_account: str = Field(foreign_key="account.number", max_length=16)
    intent_id: str = Field(foreign_key="intent.id", unique=True, max_length=36)
    document_id: str | None = Field(default=None, max_length=64)
    notes: str | None = Field(default=None, max_length=2000)
    created_at: str
    created_by: str = Field(max_length=300)
    updated_at: str


class InvoiceLine(LedgerTable, table=True):
    """One line of an invoice as stated on it: account, tax code, net and VAT in minor units."""

    __tablename__ = "invoice_line"
    invoice_id: str = Field(foreign_key="invoice.id", primary_key=True, max_length=36)
    line_index: int = Field(primary_key=True)
    description: str = Field(max_length=500)
    account: str = Field(foreign_key="account.number", max_length=16)
    tax_code: str | None = Field(default=None, max_length=16)
    net_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    tax_amount: int = Field(sa_column=Column(BigInteger, nullable=False))


class Settlement(LedgerTable, table=True):
    """`amount` of invoice `invoice_id` settled by the payment intent `payment_intent_id`.

    `amount` is in the invoice's currency; `base_amount` is the share of the item's base value
    (its carrying amount) that the payment cleared; the payment's exchange difference is booked
    beside it.

    Rows are never changed: reversing the payment intent is what reopens the item.
    """

    __tablename__ = "settlement"
    id: str = Field(primary_key=True, max_length=36)
    payment_intent_id: str = Field(foreign_key="intent.id", index=True, max_length=36)
    invoice_id: str = Field(foreign_key="invoice.id", index=True, max_length=36)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    base_amount: int = Field(sa_column=Column(BigInteger, nullable=False))  # base value taken off the control account
    created_at: str


# --- Periods ---


class PeriodEvent(ProvenanceColumns, table=True):
    """One step in the life of an accounting period, appended and never changed.

    A period's state (open, soft_locked, locked; a pending lock request) is derived by replaying
    its events in `seq` order; a period without events is open. `action`: soft_lock, reopen,
    request_lock, cancel_lock, approve_lock, or acknowledge_soft_lock (a booking into a soft-locked
    period, naming `intent_id`). request_lock stores the period's totals it was made against;
    approve_lock stores the chain head and totals it sealed, and `closing_hash` over them.
    Events form their own hash chain (`prev_hash`, `event_hash`) so a removed or edited lock is
    detected like a changed journal line.
    """

    __tablename__ = "period_event"
    __table_args__ = (Index("ix_period_event_period", "period", "seq"),)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    period: str = Field(max_length=7)
    action: str = Field(max_length=32)
    actor_id: str = Field(max_length=240)
    request_id: str | None = Field(default=None, max_length=36)
    intent_id: str | None = Field(default=None, max_length=36)
    reason: str | None = None
    intent_count: int | None = None
    line_count: int | None = None
    debit_total: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    head_journal_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    head_hash: str | None = Field(default=None, max_length=64)
    closing_hash: str | None = Field(default=None, max_length=64)
    created_at: str
    prev_hash: str = Field(max_length=64)
    event_hash: str = Field(max_length=64, unique=True)


# --- API keys ---


class ApiKey(LedgerTable, table=True):
    """A credential for the HTTP transport. Only the sha256 of the secret is stored; `prefix` is the
    public part shown in lists and recorded in provenance. `scopes`: space-separated scope names.
    A revoked key stays in the table so that provenance prefixes keep resolving to a label.
    `companies`: space-separated slugs of the companies the key holds ("default": the home ledger)."""

    __tablename__ = "api_key"
    prefix: str = Field(primary_key=True, max_length=32)
    secret_hash: str = Field(max_length=64, unique=True)
    label: str = Field(max_length=200)
    scopes: str
    companies: str = Field(default="default", sa_column_kwargs={"server_default": "default"})
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None


# --- Documents and review cases ---


class Document(LedgerTable, table=True):
    """A stored file, content-addressed: `id` is the sha256 of its bytes, so the same file twice is
    one document. `storage_path` is relative to the document store's root."""

    __tablename__ = "document"
    id: str = Field(primary_key=True, max_length=64)
    original_name: str = Field(max_length=300)
    mime: str = Field(max_length=100)
    size: int
    storage_path: str = Field(max_length=300)
    status: str = Field(max_length=16)  # extracted | failed | split (an email, its attachments ingested)
    extraction_method: str | None = Field(default=None, max_length=16)  # xml | text | ocr
    extraction: str | None = Field(default=None, sa_column=Column(Text))  # the extraction result as JSON
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    source_document_id: str | None = Field(default=None, max_length=64)  # the email it was attached to
    created_at: str
    created_by: str = Field(max_length=300)


class IngestionLog(LedgerTable, table=True):
    """One row per intake attempt: extracted, duplicate or failed (with the error code)."""

    __tablename__ = "ingestion_log"
    id: int | None = Field(default=None, primary_key=True)
    document_id: str | None = Field(default=None, max_length=64, index=True)
    original_name: str = Field(max_length=300)
    outcome: str = Field(max_length=16)  # extracted | duplicate | failed | split
    code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, sa_column=Column(Text))
    created_at: str = Field(index=True)
    created_by: str = Field(max_length=300)


class ReviewCase(LedgerTable, table=True):
    """An extracted invoice waiting for a decision. JSON columns hold the normalized invoice (what
    approval posts), where each field came from, vendor candidates, findings and overrides."""

    __tablename__ = "review_case"
    id: str = Field(primary_key=True, max_length=36)
    document_id: str = Field(foreign_key="document.id", unique=True, max_length=64)
    queue_state: str = Field(max_length=16, index=True)  # needs_review | ready | approved | rejected | error
    normalized_invoice: str = Field(sa_column=Column(Text, nullable=False))
    field_sources: str = Field(sa_column=Column(Text, nullable=False))
    vendor_id: str | None = Field(default=None, foreign_key="party.id", max_length=36)
    vendor_candidates: str = Field(sa_column=Column(Text, nullable=False))
    findings: str = Field(sa_column=Column(Text, nullable=False))
    overrides: str | None = Field(default=None, sa_column=Column(Text))
    posting_error: str | None = Field(default=None, sa_column=Column(Text))
    invoice_id: str | None = Field(default=None, foreign_key="invoice.id", max_length=36)
    intent_id: str | None = Field(default=None, foreign_key="intent.id", max_length=36)
    rejection_reason: str | None = Field(default=None, max_length=1000)
    source_email: str | None = Field(default=None, max_length=320)  # sender of the email it arrived by
    source_subject: str | None = Field(default=None, max_length=500)
    decided_by: str | None = Field(default=None, max_length=300)
    decided_at: str | None = None
    created_at: str = Field(index=True)
    created_by: str = Field(max_length=300)
    updated_at: str


# --- Foreign currency ---


class ExchangeRate(LedgerTable, table=True):
    """1 unit of the base currency = `rate` units of `currency` on `rate_date`, as the ECB quotes it.

    `source`: ecb (reference rate, imported), monthly (the official monthly average for VAT, § 16 (6)
    UStG, dated the first of its month), document (stated on an invoice) or manual. Bookings copy the
    rate onto their lines, so changing a rate here never changes the books.
    """

    __tablename__ = "exchange_rate"
    rate_date: date = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    source: str = Field(primary_key=True, max_length=16)
    rate: str = Field(max_length=32)
    created_at: str
    created_by: str = Field(max_length=300)


class RevaluationItem(LedgerTable, table=True):
    """One open item's share of a period-end revaluation intent: `base_delta` (signed minor units,
    positive = the item's base value rose) at `rate`. Never changed; reversing the intent undoes it."""

    __tablename__ = "revaluation_item"
    intent_id: str = Field(foreign_key="intent.id", primary_key=True, max_length=36)
    invoice_id: str = Field(foreign_key="invoice.id", primary_key=True, index=True, max_length=36)
    rate: str = Field(max_length=32)
    base_delta: int = Field(sa_column=Column(BigInteger, nullable=False))


# --- Confirmations ---


class ConfirmationRequest(LedgerTable, table=True):
    """A consequential action (a Storno, a period lock, a large approval) waiting for a human's yes,
    for clients that cannot ask one themselves (or over HTTP, where the asking client could answer
    its own question). `question` is exactly what the human grants: the retried call must produce the
    same question, so a grant cannot be carried over to other arguments. status: pending -> granted
    or denied -> used (granted and carried out once)."""

    __tablename__ = "confirmation_request"
    id: str = Field(primary_key=True, max_length=40)
    action: str = Field(max_length=32)  # reversal | lock_approval | large_approval
    question: str = Field(sa_column=Column(Text, nullable=False))
    requested_by: str = Field(max_length=240)
    status: str = Field(max_length=16, index=True)
    decided_by: str | None = Field(default=None, max_length=240)
    decided_via: str | None = Field(default=None, max_length=16)  # cli | api_key
    note: str | None = Field(default=None, max_length=500)
    created_at: str
    decided_at: str | None = None
    used_at: str | None = None


# --- Bank ---


class BankAccount(LedgerTable, table=True):
    """A bank account whose statements are imported. `ledger_account` is the asset account (SKR03 1200ff,
    SKR04 1800ff) the money is booked on; each bank account has its own."""

    __tablename__ = "bank_account"
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    iban: str | None = Field(default=None, unique=True, max_length=34)
    bic: str | None = Field(default=None, max_length=11)
    account_number: str | None = Field(default=None, max_length=34)
    currency: str = Field(max_length=3)
    ledger_account: str = Field(foreign_key="account.number", unique=True, max_length=16)
    created_at: str
    created_by: str = Field(max_length=300)


class BankImportBatch(LedgerTable, table=True):
    """One statement import: the stored file, what it held and what was taken. Opening and closing
    balances are the statement's own booked balances (CAMT OPBD/CLBD, MT940 :60F:/:62F:), if given."""

    __tablename__ = "bank_import_batch"
    id: str = Field(primary_key=True, max_length=36)
    bank_account_id: str = Field(foreign_key="bank_account.id", index=True, max_length=36)
    format: str = Field(max_length=16)  # camt | mt940 | csv | json
    document_id: str | None = Field(default=None, foreign_key="document.id", max_length=64)
    statement_id: str | None = Field(default=None, max_length=200)
    total_rows: int
    imported: int
    skipped_duplicates: int
    error_count: int
    opening_date: date | None = None
    opening_balance: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    closing_date: date | None = None
    closing_balance: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: str
    created_by: str = Field(max_length=300)


class BankTransaction(LedgerTable, table=True):
    """One line of a bank statement, never changed after import. `amount` is signed minor units
    (positive: money in). `fingerprint` identifies the line across imports (the bank's reference when
    it gives one), so a re-imported or overlapping statement adds nothing twice. Its state (open,
    reconciled, dismissed) is derived from the live match group that names it."""

    __tablename__ = "bank_transaction"
    __table_args__ = (Index("uq_bank_transaction_fingerprint", "bank_account_id", "fingerprint", unique=True),
                      Index("ix_bank_transaction_account_date", "bank_account_id", "booking_date", "id"))
    id: str = Field(primary_key=True, max_length=36)
    bank_account_id: str = Field(foreign_key="bank_account.id", max_length=36)
    batch_id: str = Field(foreign_key="bank_import_batch.id", index=True, max_length=36)
    fingerprint: str = Field(max_length=64)
    booking_date: date
    value_date: date | None = None
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    counterparty_name: str | None = Field(default=None, max_length=200)
    counterparty_iban: str | None = Field(default=None, max_length=34)
    counterparty_bic: str | None = Field(default=None, max_length=11)
    remittance_information: str | None = Field(default=None, sa_column=Column(Text))
    bank_reference: str | None = Field(default=None, max_length=200)
    end_to_end_id: str | None = Field(default=None, max_length=200)
    mandate_reference: str | None = Field(default=None, max_length=200)
    creditor_id: str | None = Field(default=None, max_length=64)
    transaction_code: str | None = Field(default=None, max_length=64)
    created_at: str


class BankMatchGroup(ProvenanceColumns, table=True):
    """How one or more bank transactions are explained: `mode` open_items (a payment intent settling
    invoices), intent (an intent booked elsewhere), booking (a direct booking) or dismissed (not booked,
    with `reason`). Live until unmatched: `unmatched_at` is then set and, when the group posted an
    intent, `reversal_intent_id` names its Storno; the row and the intents stay as history. A group
    whose intent was reversed by other means is no longer live either."""

    __tablename__ = "bank_match_group"
    id: str = Field(primary_key=True, max_length=36)
    bank_account_id: str = Field(foreign_key="bank_account.id", index=True, max_length=36)
    mode: str = Field(max_length=16)
    intent_id: str | None = Field(default=None, foreign_key="intent.id", index=True, max_length=36)
    posted: bool = False
    reason: str | None = Field(default=None, max_length=500)
    counterparty_key: str | None = Field(default=None, index=True, max_length=240)
    rule: str | None = Field(default=None, sa_column=Column(Text))  # what was done, as JSON, for suggestions
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    created_at: str
    unmatched_at: str | None = None
    unmatched_by: str | None = Field(default=None, max_length=300)
    unmatch_reason: str | None = Field(default=None, max_length=500)
    reversal_intent_id: str | None = Field(default=None, foreign_key="intent.id", max_length=36)


class BankMatch(LedgerTable, table=True):
    """A bank transaction's membership in a match group."""

    __tablename__ = "bank_match"
    match_group_id: str = Field(foreign_key="bank_match_group.id", primary_key=True, max_length=36)
    bank_transaction_id: str = Field(foreign_key="bank_transaction.id", primary_key=True, index=True,
                                     max_length=36)


# --- Payment runs ---


class PaymentTerms(LedgerTable, table=True):
    """Cash discount (Skonto) terms and payment block of a vendor (`party_id`) or of one invoice
    (`invoice_id`, which wins over its vendor's). Skonto: `skonto_percent` off the gross amount when paid
    by `skonto_until`, or within `skonto_days` of the invoice date. Master data, like the party."""

    __tablename__ = "payment_terms"
    id: str = Field(primary_key=True, max_length=36)
    party_id: str | None = Field(default=None, foreign_key="party.id", unique=True, max_length=36)
    invoice_id: str | None = Field(default=None, foreign_key="invoice.id", unique=True, max_length=36)
    skonto_percent: str | None = Field(default=None, max_length=8)  # decimal string, e.g. "2"
    skonto_days: int | None = None
    skonto_until: date | None = None
    blocked: bool = False  # not to be paid by a payment run
    block_reason: str | None = Field(default=None, max_length=500)
    updated_at: str
    updated_by: str = Field(max_length=300)


class PaymentRun(LedgerTable, table=True):
    """A SEPA credit transfer order from `bank_account_id`, executed on `execution_date`. Never changed:
    its status is derived from its events. `message_id` is the pain.001 MsgId and PmtInfId."""

    __tablename__ = "payment_run"
    id: str = Field(primary_key=True, max_length=36)
    bank_account_id: str = Field(foreign_key="bank_account.id", index=True, max_length=36)
    execution_date: date
    label: str = Field(max_length=200)
    currency: str = Field(max_length=3)
    message_id: str = Field(unique=True, max_length=35)
    created_at: str
    created_by: str = Field(max_length=240)  # actor_id, compared for four eyes


class PaymentRunItem(LedgerTable, table=True):
    """One transfer of a run: `amount` paid on invoice `invoice_id`, `skonto_amount` taken off it (so the
    invoice is settled by their sum). `end_to_end_id` travels with the money back to the statement."""

    __tablename__ = "payment_run_item"
    run_id: str = Field(foreign_key="payment_run.id", primary_key=True, max_length=36)
    invoice_id: str = Field(foreign_key="invoice.id", primary_key=True, index=True, max_length=36)
    position: int
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    skonto_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_to_end_id: str = Field(unique=True, max_length=35)
    creditor_name: str = Field(max_length=200)
    creditor_iban: str = Field(max_length=34)
    creditor_bic: str | None = Field(default=None, max_length=11)
    remittance: str = Field(max_length=140)


class PaymentRunEvent(ProvenanceColumns, table=True):
    """One step of a run, appended and never changed: create, approve, export, complete, cancel, or clear
    (bank statement lines reconciled as the debit of the items named in `cleared`: `match_group_id`).
    `intent_id`: what complete or clear posted. The run's status is the last step's; a completed run is
    cleared when every item is, by clears whose match groups are live."""

    __tablename__ = "payment_run_event"
    __table_args__ = (Index("ix_payment_run_event_run", "run_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="payment_run.id", max_length=36)
    action: str = Field(max_length=16)
    actor_id: str = Field(max_length=240)
    intent_id: str | None = Field(default=None, foreign_key="intent.id", max_length=36)
    match_group_id: str | None = Field(default=None, foreign_key="bank_match_group.id", max_length=36)
    cleared: str | None = Field(default=None, sa_column=Column(Text))  # clear: the items' end-to-end ids, spaced
    note: str | None = Field(default=None, max_length=500)
    created_at: str


# --- Record history ---


class RecordEvent(LedgerTable, table=True):
    """One change to a row of a table that shapes the books (see ledger_mcp.ledger.records), appended in
    the transaction that made the change and never changed itself.

    `snapshot` is the canonical JSON of the row's covered columns after the change (None when the row was
    deleted); `action`: baseline (the row as it was when the history started), insert, update or delete.
    `row_key` is the canonical JSON list of the row's primary key values. Events form a hash chain
    (`prev_hash`, `event_hash`) like the journal, so a removed or edited event is detected."""

    __tablename__ = "record_event"
    # verify looks up the latest event of each row it reads (flat memory at any ledger size).
    __table_args__ = (Index("ix_record_event_row", "table_name", "row_key", "seq"),)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    table_name: str = Field(max_length=64)
    row_key: str = Field(max_length=300)
    action: str = Field(max_length=16)
    snapshot: str | None = Field(default=None, sa_column=Column(Text))
    created_at: str
    prev_hash: str = Field(max_length=64)
    event_hash: str = Field(max_length=64, unique=True)


# --- Companies ---


class Company(LedgerTable, table=True):
    """A company served beside the home ledger: a ledger of its own (database, documents, anchor log), listed
    in the home database only. `database_url`: as given at creation, None for the SQLite file in
    <data_dir>/companies/<slug>/; `chart`: the chart it was created with."""

    __tablename__ = "company"
    slug: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    database_url: str | None = Field(default=None, max_length=500)
    chart: str = Field(max_length=16)
    created_at: str


# --- Events and webhooks (operational: not in the record history) ---


class OutboxEvent(LedgerTable, table=True):
    """An event a committed write caused (ledger_mcp.ledger.events), written in the same transaction, so
    that it exists if and only if the write committed. `payload` is the JSON body webhooks receive."""

    __tablename__ = "event_outbox"
    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=40)
    type: str = Field(max_length=40)
    occurred_at: str
    payload: str = Field(sa_column=Column(Text, nullable=False))


class WebhookEndpoint(LedgerTable, table=True):
    """A URL that receives the events named in `events` (space-separated types, or "*"), signed with
    `secret`. allow_private: the URL may resolve to private or loopback addresses (and use http).
    A removed endpoint keeps its row (removed_at) so that its delivery log stays readable."""

    __tablename__ = "webhook_endpoint"
    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    events: str = Field(max_length=1000)
    secret: str = Field(max_length=100)
    allow_private: bool = False
    created_at: str
    created_by: str = Field(max_length=300)
    removed_at: str | None = None


class WebhookDelivery(LedgerTable, table=True):
    """One event for one endpoint. status: pending -> delivered, or failed after the last attempt (a
    replay makes it pending again). A worker claims it by setting `lease_owner` and `lease_until`;
    another worker may take it over only once the lease has run out."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("uq_webhook_delivery_event_endpoint", "event_id", "endpoint_id", unique=True),
                      Index("ix_webhook_delivery_due", "status", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="event_outbox.id", max_length=40)
    endpoint_id: str = Field(foreign_key="webhook_endpoint.id", index=True, max_length=40)
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: str
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: str | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: str | None = None


class WebhookAttempt(LedgerTable, table=True):
    """The delivery log: one row per attempt to send a delivery (HTTP status code or error, duration)."""

    __tablename__ = "webhook_attempt"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    attempt: int
    started_at: str
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int
