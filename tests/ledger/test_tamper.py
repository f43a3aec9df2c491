"""What can be changed without `verify` noticing? Nothing that shapes the books.

A ledger is built through real MCP sessions (an e-invoice ingested, its vendor created, approved,
paid, a period locked, a custom account, API keys), then every table and column the history covers is
edited and every table's row deleted, one at a time, with plain SQL beside the ledger's code; `verify`
must name the table (and the column, for an edit). After each tamper the original is put back and
`verify` must pass again, so each case stands on its own.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from ledger_mcp import migrations
from ledger_mcp.ledger import api_keys, chain
from ledger_mcp.ledger.anchor import AnchorLog
from ledger_mcp.ledger.chain import ChainReport
from ledger_mcp.ledger.db import Database
from ledger_mcp.settings import Settings
from tests.conftest import book, call, line, two_actors
from tests.ledger.test_chain import _changed

pytestmark = pytest.mark.anyio

SAMPLE = (Path(__file__).resolve().parents[1] / "data" / "einvoice-corpus" / "ZUGFeRD-corpus" / "XML-Rechnung"
          / "CII" / "XRECHNUNG_Einfach.cii.xml")

# The coverage of the history, as the issue lists it: table -> (row, edited columns (new value, or None for
# "a different value of the same kind")). Every row is also deleted.
TAMPER: dict[str, tuple[str, dict[str, Any]]] = {
    "settlement": ("1 = 1", {"amount": None, "base_amount": None, "invoice_id": None, "payment_intent_id": None}),
    "invoice": ("1 = 1", {"total_gross": None, "total_net": None, "party_id": None, "intent_id": None,
                          "invoice_number": None, "due_date": None, "document_id": None, "control_account": "1599"}),
    "invoice_line": ("1 = 1", {"net_amount": None, "tax_amount": None, "account": None, "tax_code": None}),
    "document": ("1 = 1", {"id": None, "extraction": None, "storage_path": None, "status": None}),
    "review_case": ("1 = 1", {"queue_state": "ready", "overrides": None, "decided_by": None,
                              "normalized_invoice": None, "invoice_id": None}),
    "ingestion_log": ("1 = 1", {"outcome": None, "document_id": None}),
    "party": ("kind = 'vendor'", {"iban": None, "name": None, "bic": None, "default_account": None}),
    "tax_code": ("code = 'VSt19'", {"rate": "0", "vat_account": None, "kind": None}),
    "account": ("number = '1600'", {"type": "expense", "category": "office", "is_active": False}),
    "ledger_meta": ("key = 'base_currency'", {"value": "USD"}),
    "api_key": ("revoked_at IS NULL", {"scopes": "ledger:admin", "secret_hash": None}),
    "intent": ("1 = 1", {"request_hash": None, "fingerprint": None}),
    "bank_account": ("1 = 1", {"ledger_account": "1000", "iban": None}),
    "payment_terms": ("1 = 1", {"skonto_percent": "20", "blocked": True}),
}
REVOKED_KEY = ("api_key", "revoked_at IS NOT NULL", "revoked_at")  # a revocation removed


@dataclass
class Books:
    settings: Settings
    db: Database

    async def verify(self, **options: Any) -> ChainReport:
        log = AnchorLog(self.settings.anchor_log).anchor() if self.settings.anchor_log else None
        return await self.db.read(chain.verify_chain, documents_dir=self.settings.documents_dir,
                                  anchors=[log] if log else [], **options)


async def build(settings: Settings) -> Books:
    """Books touching every covered table, written the way users write them (anchored)."""
    data, url = str(settings.data_dir), settings.database_url
    async with two_actors(settings) as (alice, bob):
        content = base64.b64encode(SAMPLE.read_bytes()).decode()
        case = (await call(alice, "ingest_document", content_base64=content, filename="invoice.xml"))["review_case"]
        await call(alice, "update_review_case", review_case_id=case["id"], create_vendor=True)
        approved = await call(alice, "approve_review_case", review_case_id=case["id"])
        await call(alice, "settle_open_items", items=[{"invoice_id": approved["invoice_id"], "amount": "100.00"}],
                   payment_date="2024-11-20", account="1200")
        await call(alice, "create_account", number="4931", name="Software", type="expense")
        await call(alice, "payment_run", action="set_terms", terms={"invoice_id": approved["invoice_id"],
                                                                    "skonto_percent": "2", "skonto_days": 10})
        await call(alice, "save_bank_account", name="Sparkasse", iban="DE89 3704 0044 0532 0130 00")
        requested = await call(alice, "lock_period", action="request_lock", period="2024-11")
        await call(bob, "lock_period", action="approve_lock", period="2024-11", request_id=requested["request_id"])
        await book(alice, line("4930", "1200", "10.00"), date="2024-12-02")
    db = Database(url, anchor_log=settings.anchor_log)
    await db.write(api_keys.create_api_key, "agent", "ledger:read,ledger:book")
    old = await db.write(api_keys.create_api_key, "old agent", "ledger:read")
    await db.write(api_keys.revoke_api_key, old.info.prefix)
    books = Books(Settings.load(data_dir=data, database_url=url), db)
    report = await books.verify()
    assert report.ok, report.first_break
    assert all(report.coverage[name] for name in TAMPER), report.coverage
    return books


@pytest.fixture(name="books")
async def books_fixture(settings: Settings) -> AsyncIterator[Books]:
    settings.prepare()
    books = await build(settings)
    yield books
    await books.db.dispose()


@asynccontextmanager
async def raw(db: Database) -> AsyncIterator[AsyncConnection]:
    """A connection of its own, without the ledger's code and without foreign key checks (someone with
    raw access to the database)."""
    engine = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if not db.is_sqlite:  # a superuser can switch off foreign key triggers (SQLite has them off)
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            yield conn
    finally:
        await engine.dispose()


async def sql(db: Database, statement: str, **params: Any) -> list[Any]:
    async with raw(db) as conn:
        result = await conn.execute(text(statement), params)
        return [dict(row) for row in result.mappings()] if result.returns_rows else []


def key_of(table: str, row: Any) -> str:
    columns = [c.name for c in SQLModel.metadata.tables[table].primary_key.columns]
    return " AND ".join(f"{c} = :k_{c}" for c in columns)


def key_params(table: str, row: Any) -> dict[str, Any]:
    return {f"k_{c.name}": row[c.name] for c in SQLModel.metadata.tables[table].primary_key.columns}


async def first_row(db: Database, table: str, where: str) -> Any:
    rows = await sql(db, f"SELECT * FROM {table} WHERE {where}")
    assert rows, f"the books have no {table} row where {where}"
    return rows[0]


async def assert_named(books: Books, table: str, column: str | None, what: str) -> None:
    report = await books.verify()
    assert not report.ok, f"{what} passed verify"
    broken = report.first_break or {}
    assert broken.get("table") == table, (what, broken)
    if column is not None:
        assert broken.get("column") == column, (what, broken)


@pytest.mark.parametrize("table", sorted(TAMPER))
async def test_every_edit_and_deletion_is_named(books: Books, table: str) -> None:
    where, columns = TAMPER[table]
    row = await first_row(books.db, table, where)
    primary = {c.name for c in SQLModel.metadata.tables[table].primary_key.columns}
    for column, new in columns.items():
        value = row[column]
        new = _changed(value) if new is None else new
        await sql(books.db, f"UPDATE {table} SET {column} = :new WHERE {key_of(table, row)}", new=new,
                  **key_params(table, row))
        moved = {**row, column: new}
        # A changed primary key is a row the history never saw; any other column is named.
        await assert_named(books, table, None if column in primary else column, f"{table}.{column} edited")
        await sql(books.db, f"UPDATE {table} SET {column} = :old WHERE {key_of(table, moved)}", old=value,
                  **key_params(table, moved))
        assert (await books.verify()).ok, f"{table}.{column} restored"

    await sql(books.db, f"DELETE FROM {table} WHERE {key_of(table, row)}", **key_params(table, row))
    # A deleted intent leaves journal lines without their intent: the journal chain names them first.
    if table == "intent":
        report = await books.verify()
        assert not report.ok and report.first_break and report.first_break["table"] == "journal_line"
    else:
        await assert_named(books, table, None, f"{table} row deleted")
    names = ", ".join(row.keys())
    await sql(books.db, f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in row)})", **row)
    assert (await books.verify()).ok, f"{table} row restored"


async def test_a_removed_revocation_is_named(books: Books) -> None:
    table, where, column = REVOKED_KEY
    row = await first_row(books.db, table, where)
    await sql(books.db, f"UPDATE {table} SET {column} = NULL WHERE {key_of(table, row)}", **key_params(table, row))
    await assert_named(books, table, column, "revocation removed")


async def test_a_row_inserted_beside_the_ledger_is_named(books: Books) -> None:
    """The account redirect of the issue done in SQL: a second payables account placed before 1600."""
    await sql(books.db, "INSERT INTO account (number, name, type, category, report_group, is_system, is_active, "
                        "created_at) VALUES ('1599', 'Redirect', 'liability', 'payables', 'bs.liabilities', "
                        ":f, :t, '2026-01-01T00:00:00Z')", f=False, t=True)
    report = await books.verify()
    assert not report.ok and report.first_break
    assert (report.first_break["table"], report.first_break["row"]) == ("account", '["1599"]')
    assert "no recorded history" in report.first_break["problem"]


async def test_a_changed_document_file_is_named(books: Books) -> None:
    row = await first_row(books.db, "document", "1 = 1")
    stored = books.settings.documents_dir / row["storage_path"]
    original = stored.read_bytes()
    stored.write_bytes(original.replace(b"</rsm:CrossIndustryInvoice>", b"<!-- --></rsm:CrossIndustryInvoice>"))
    await assert_named(books, "document", "file", "stored file changed")
    stored.unlink()
    await assert_named(books, "document", "storage_path", "stored file removed")
    stored.write_bytes(original)
    report = await books.verify()
    assert report.ok and report.coverage["document_file"] == 1


async def test_a_changed_history_event_is_named(books: Books) -> None:
    await sql(books.db, "UPDATE record_event SET snapshot = replace(snapshot, '\"payables\"', '\"office\"') "
                        "WHERE table_name = 'account' AND row_key = '[\"1600\"]'")
    report = await books.verify()
    assert not report.ok and report.first_break and report.first_break["table"] == "record_event"


async def test_coverage_names_every_covered_table(books: Books) -> None:
    report = await books.verify()
    assert set(TAMPER) | {"journal_line", "period_event", "record_event", "document_file"} <= set(report.coverage)
    assert report.coverage["document"] == report.coverage["document_file"] == 1
    assert [a["source"] for a in report.anchors] == [f"anchor log {books.settings.anchor_log}"]


async def test_a_ledger_from_before_the_history_starts_it_with_a_baseline(books: Books) -> None:
    """The books as an older ledger-mcp left them (no record_event table), upgraded: every covered row
    is recorded as it was, marked baseline, and covered from then on."""
    async with books.db.engine.begin() as conn:  # undo the revisions after the history's own
        await conn.run_sync(lambda c: command.downgrade(migrations.config(c), "b440ecea6a91"))
    await sql(books.db, "DROP TABLE record_event")
    await sql(books.db, "UPDATE alembic_version SET version_num = '{}'".format(
        migrations.script_revision("b440ecea6a91").down_revision))
    await books.db.create_schema()
    events = await sql(books.db, "SELECT action, count(*) AS n FROM record_event GROUP BY action")
    report = await books.db.read(chain.verify_chain, documents_dir=books.settings.documents_dir)
    assert report.ok, report.first_break
    covered = sum(n for name, n in report.coverage.items() if name in TAMPER)
    assert [(e["action"], e["n"]) for e in events] == [("baseline", covered)]
    await sql(books.db, "UPDATE party SET iban = 'DE89370400440532013000' WHERE kind = 'vendor'")
    report = await books.db.read(chain.verify_chain)
    assert not report.ok and report.first_break and report.first_break["column"] == "iban"
