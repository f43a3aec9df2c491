"""Foreign currency in the domain: conversion, rates from e-invoice VAT totals, the rate setting, and
lines written before foreign currency existed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp import migrations
from ledger_mcp.ledger import chain, fx
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import ExchangeRateMissing, InvalidAmount, InvalidExchangeRate
from ledger_mcp.ledger.models import Account, JournalLine
from ledger_mcp.ledger.money import parse_rate, to_base
from ledger_mcp.settings import Settings
from tests.conftest import CLI
from tests.ledger.test_chain import _tamper
from tests.ledger.test_migrations import _insert_baseline_ledger

pytestmark = pytest.mark.anyio


def test_conversion_rounds_half_up_once_in_each_currencys_minor_units() -> None:
    assert to_base(10000, "USD", Decimal("1.08"), "EUR") == 9259  # 92.5925...
    assert to_base(10000, "JPY", Decimal("162.53"), "EUR") == 6153  # 10000 yen, no minor units
    assert to_base(1000, "KWD", Decimal("0.3300"), "EUR") == 303  # 1.000 KWD, three decimals
    assert to_base(1, "USD", Decimal("2"), "EUR") == 1  # 0.005 rounds up
    assert to_base(12345, "EUR", Decimal("1"), "JPY") == 123  # into a base without minor units


def test_rates_are_positive_decimal_strings() -> None:
    assert parse_rate(" 1.08560 ") == Decimal("1.0856")
    for bad in ("0", "-1.2", "1,08", "abc", "1e3", ""):
        with pytest.raises(InvalidExchangeRate):
            parse_rate(bad)


def test_the_rate_a_bt111_vat_total_implies() -> None:
    assert fx.rate_from_vat("38.00", "40.43", "CHF") == "0.939896"
    assert fx.rate_from_vat("19.00", "17.59", "USD") == "1.08016"
    assert fx.rate_from_vat("3800", "23.38", "JPY") == "162.532"
    # The rate reproduces the stated EUR figure when the document's VAT is converted with it.
    for doc, eur, code in (("38.00", "40.43", "CHF"), ("1234.56", "1142.11", "USD"), ("3800", "23.38", "JPY")):
        rate = Decimal(fx.rate_from_vat(doc, eur, code))
        units = int(Decimal(doc).scaleb(0 if code == "JPY" else 2))
        assert to_base(units, code, rate, "EUR") == int(Decimal(eur) * 100)
    with pytest.raises(InvalidAmount):
        fx.rate_from_vat("38.00", "0.00", "CHF")


async def test_the_monthly_setting_takes_the_official_rate_of_the_month(db: Database) -> None:
    async def save(session: AsyncSession) -> None:
        for day, source, rate in ((date(2026, 3, 1), "monthly", "1.0800"), (date(2026, 3, 16), "ecb", "1.0900")):
            await fx.save_rate(session, fx.RateInput(currency="USD", rate_date=day.isoformat(), rate=rate,
                                                     source=source), CLI)  # type: ignore[arg-type]

    async def lookup(session: AsyncSession) -> str:
        rate = await fx.rate_for(session, "USD", date(2026, 3, 17), None)
        assert rate is not None
        return f"{rate.text} {rate.source}"

    await db.write(save)
    assert await db.read(lookup) == "1.09 ecb"

    await db.write(fx.set_vat_rate_source, "monthly")
    assert await db.read(lookup) == "1.08 monthly"

    async def april(session: AsyncSession) -> None:
        await fx.rate_for(session, "USD", date(2026, 4, 2), None)

    with pytest.raises(ExchangeRateMissing, match="2026-04"):
        await db.read(april)


async def test_lines_from_before_foreign_currency_keep_verifying(settings: Settings) -> None:
    """The baseline ledger upgraded: its line gets base amount = amount, keeps hash version 1 and still
    verifies; a changed base amount on it is detected; the chart gains its exchange accounts."""
    settings.prepare()
    db = Database(settings.database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(migrations.upgrade, migrations.BASELINE)
            await conn.run_sync(_insert_baseline_ledger)
        await db.create_schema()

        async def state(session: AsyncSession) -> tuple[list[tuple[int, int, str | None, int]], list[str]]:
            lines = (await session.exec(select(JournalLine))).all()
            fx_accounts = (await session.exec(select(Account.number).where(
                Account.category.in_(("fx_gain", "fx_loss"))))).all()  # type: ignore[attr-defined]
            return ([(li.amount, li.base_amount, li.exchange_rate, li.hash_version) for li in lines],
                    sorted(fx_accounts))

        assert await db.read(state) == ([(1000, 1000, None, 1)], ["2150", "2660"])
        assert (await db.read(chain.verify_chain)).ok
        await _tamper(db, "journal_line", "base_amount", "journal_number = 1")
        report = await db.read(chain.verify_chain)
        assert not report.ok and report.first_break is not None
        assert "version 1" in report.first_break["problem"]
    finally:
        await db.dispose()
