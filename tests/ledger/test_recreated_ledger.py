"""A ledger created anew at the same place in one process (a test suite, a server that serves a company
deleted and created again) is read afresh: nothing the old ledger's caches hold reaches the new one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import make_url

from ledger_mcp.ledger import posting
from ledger_mcp.ledger.accounts import read_meta
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.settings import Settings
from tests.conftest import TEST_DATABASE_URL, _admin

pytestmark = pytest.mark.anyio

WHO = Provenance(surface="mcp", channel=Channel.MCP, actor_type="agent", actor_label="tester")


def _booking(debit: str, credit: str) -> posting.BookingRequest:
    return posting.BookingRequest(booking_date="2026-03-02", description="Bürobedarf",
                                  lines=[posting.BookingLine(debit_account=debit, credit_account=credit,
                                                             amount="119.00", tax_code="VSt19")])


def _empty_again(url: str, directory: Path) -> None:
    if TEST_DATABASE_URL:
        name = make_url(url).database
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{name}"')
    else:
        shutil.rmtree(directory)
        directory.mkdir()


async def test_a_ledger_created_again_at_the_same_url_has_its_own_chart(settings: Settings) -> None:
    settings.prepare()
    url, directory = settings.database_url, Path(settings.data_dir)
    old = Database(url)
    await prepare_ledger(old, "skr03")
    await old.write(posting.post_booking, _booking("4930", "1200"), WHO)  # fills the caches: SKR03, bank 1200
    await old.dispose()

    _empty_again(url, directory)
    new = Database(url)
    try:
        await prepare_ledger(new, "skr04")
        # SKR04: office supplies on 6815, the bank on 1800, input VAT on 1406 (SKR03: 4930, 1200, 1576)
        result = await new.write(posting.post_booking, _booking("6815", "1800"), WHO)
        assert [(line.debit_account, line.credit_account) for line in result.lines] == [("6815", "1800"),
                                                                                        ("1406", "1800")]
        assert (await new.read(read_meta))["chart"] == "skr04"
    finally:
        await new.dispose()
