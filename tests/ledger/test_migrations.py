"""Schema migrations: the revision scripts build exactly the models' schema, an empty database is created at
head from the models, and a ledger created at the baseline (or before migrations existed) keeps its books
through the upgrade."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Boolean, Column, Connection, Date, Integer, MetaData, String, column, insert, table, text
from sqlmodel import SQLModel

from ledger_mcp import migrations
from ledger_mcp.ledger import chain, posting, reports
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.settings import Settings
from tests.conftest import CLI

pytestmark = pytest.mark.anyio

# A ledger as ledger-mcp 0.1 wrote it at the baseline revision: one booking, hash chain included.
_PROVENANCE = {"surface": "cli", "channel": "CLI", "actor_type": "user", "actor_label": "tester",
               "actor_key_prefix": None, "client_name": None, "client_version": None}
_CREATED = "2026-11-22T03:44:23.924952Z"
_INTENT_ID = "5e01070b-12e0-4392-8b3a-d52c5d3e3c15"
BASELINE_ROWS: dict[str, list[dict[str, Any]]] = {
    "ledger_meta": [{"key": "chart", "value": "skr03"}, {"key": "base_currency", "value": "EUR"},
                    {"key": "created_at", "value": _CREATED}],
    "account": [
        {"number": "1200", "name": "Bank", "type": "asset", "category": "bank",
         "report_group": "bs.current_assets.cash", "is_system": True, "is_active": True, "created_at": _CREATED},
        {"number": "4930", "name": "Bürobedarf", "type": "expense", "category": "office",
         "report_group": "pl.other_expenses", "is_system": True, "is_active": True, "created_at": _CREATED}],
    "intent": [{
        **_PROVENANCE, "id": _INTENT_ID, "category": "booking", "booking_date": date(2026, 3, 2),
        "description": "Papier", "currency": "EUR", "external_reference": "RE-1", "idempotency_key": "baseline-1",
        "request_hash": "5619995fd9e4e496172003610827c49580140df31e3bb337a0ae5dd70f7049b3",
        "fingerprint": "ecd6d58992c601ac7e471ef12c2c037cfcc0dbab11bb908a9ad6c34db4809404", "document_id": None,
        "custom_metadata": None, "reverses_intent_id": None, "reversal_reason": None, "duplicate_override": False,
        "line_count": 1, "created_at": "2026-11-22T03:44:23.959129Z",
        "content_hash": "ec936f886299f460eb5bfbfdf2090beb938fb55e2b8dbc636157dae0bb2472e2"}],
    "journal_line": [{
        **_PROVENANCE, "journal_number": 1, "intent_id": _INTENT_ID, "line_index": 1,
        "booking_date": date(2026, 3, 2), "debit_account": "4930", "credit_account": "1200", "amount": 1000,
        "currency": "EUR", "tax_code": None, "line_role": "amount", "description": "Papier",
        "created_at": "2026-11-22T03:44:23.959129Z", "hash_version": 1,
        "content_hash": "9daf5613671790aac3d5f0ad09b510cad835cd19cdde5096b0d5a5e01a92a568",
        "prev_hash": "0" * 64, "audit_hash": "6a609d0e0c5975ca360b0f4f91c7feaa051b4ff509a8e5ff5a6118f3b0b221c2"}],
}


def _schema_differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _copy_of_models() -> MetaData:
    copy = MetaData(naming_convention=SQLModel.metadata.naming_convention)
    for model_table in SQLModel.metadata.tables.values():
        model_table.to_metadata(copy)
    return copy


def test_head_names_the_only_head_of_the_revision_scripts() -> None:
    # A new revision must set migrations.HEAD: a server on a current database checks it without alembic.
    assert migrations.script_heads() == [migrations.HEAD]


async def test_the_revision_scripts_build_exactly_the_models_schema(settings: Settings) -> None:
    """Fails when a table, column, index or constraint is added to the models without a revision."""
    settings.prepare()
    db = Database(settings.database_url)
    try:
        async with db.engine.begin() as conn:
            # The newest revision by name: every script runs (asked for "head", an empty database is created
            # from the models instead, see the next test).
            await conn.run_sync(migrations.upgrade, migrations.HEAD)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head()
            assert await conn.run_sync(_schema_differences, SQLModel.metadata) == []
            # The comparison can fail: a column the revisions do not create is reported.
            changed = _copy_of_models()
            changed.tables["intent"].append_column(Column("unmigrated", Integer))
            differences = await conn.run_sync(_schema_differences, changed)
        assert [d[0] for d in differences] == ["add_column"] and differences[0][3].name == "unmigrated"
    finally:
        await db.dispose()


async def test_an_empty_database_is_created_at_head_from_the_models(settings: Settings) -> None:
    settings.prepare()
    db = Database(settings.database_url)
    try:
        await db.create_schema()
        async with db.engine.connect() as conn:
            # alembic reads the version it was stamped with: later revisions upgrade it as any other ledger.
            stamped = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            assert stamped == migrations.HEAD
            assert await conn.run_sync(_schema_differences, SQLModel.metadata) == []
        await db.create_schema()  # a second start finds it current
    finally:
        await db.dispose()


def _insert_baseline_ledger(connection: Connection) -> None:
    for name, rows in BASELINE_ROWS.items():
        types = {bool: Boolean(), date: Date(), int: Integer()}
        columns = [column(key, types.get(type(value), String())) for key, value in rows[0].items()]
        connection.execute(insert(table(name, *columns)), rows)


def _drop_version_table(connection: Connection) -> None:
    """What a ledger created before migrations looks like: no alembic_version, a schema_version fact."""
    connection.execute(text("DROP TABLE alembic_version"))
    connection.execute(text("INSERT INTO ledger_meta (key, value) VALUES ('schema_version', '1')"))


@pytest.mark.parametrize("origin", ["baseline revision", "before migrations"])
async def test_a_ledger_at_the_baseline_is_upgraded_with_its_books_intact(settings: Settings, origin: str) -> None:
    settings.prepare()
    db = Database(settings.database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrations.upgrade, migrations.BASELINE)
            await conn.run_sync(_insert_baseline_ledger)
            if origin == "before migrations":
                await conn.run_sync(_drop_version_table)
        await db.create_schema()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head()
            assert await conn.run_sync(_schema_differences, SQLModel.metadata) == []
        assert await db.read(read_meta) == {"chart": "skr03", "base_currency": "EUR", "created_at": _CREATED}
        report = await db.read(chain.verify_chain)
        assert report.ok and report.lines_checked == 1, report.first_break
        # The upgraded ledger books on: the replayed key finds the old intent, a new booking chains on.
        replay = await db.write(posting.post_booking, BookingRequest(
            booking_date="2026-03-02", description="Papier", idempotency_key="baseline-1", external_reference="RE-1",
            lines=[BookingLine(debit_account="4930", credit_account="1200", amount="10.00")]), CLI)
        assert replay.replayed and replay.intent_id == _INTENT_ID
        await db.write(posting.post_booking, BookingRequest(
            booking_date="2026-03-03", description="Toner",
            lines=[BookingLine(debit_account="4930", credit_account="1200", amount="20.00")]), CLI)
        report = await db.read(chain.verify_chain)
        assert report.ok and report.lines_checked == 2 and report.intents_checked == 2, report.first_break
        assert (await db.read(reports.trial_balance)).total_debit == "30.00"
    finally:
        await db.dispose()


async def test_servers_starting_together_migrate_once(settings: Settings) -> None:
    settings.prepare()
    databases = [Database(settings.database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.create_schema() for db in databases))
        async with databases[0].engine.connect() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head()
            assert await conn.run_sync(_schema_differences, SQLModel.metadata) == []
    finally:
        for db in databases:
            await db.dispose()
