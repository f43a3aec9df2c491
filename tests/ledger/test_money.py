from decimal import Decimal

import pytest

from ledger_mcp.ledger.errors import InvalidAmount, UnsupportedCurrency
from ledger_mcp.ledger.money import format_amount, parse_amount, split_gross, tax_on_net


@pytest.mark.parametrize(("text", "units"), [("119.00", 11900), ("0.01", 1), ("5", 500), ("1234567.8", 123456780),
                                             ("999999999.99", 99999999999)])
def test_parse(text: str, units: int) -> None:
    assert parse_amount(text, "EUR") == units
    assert parse_amount(format_amount(units, "EUR"), "EUR") == units


def test_currency_places() -> None:
    assert parse_amount("100", "JPY") == 100
    with pytest.raises(InvalidAmount):
        parse_amount("100.5", "JPY")
    with pytest.raises(UnsupportedCurrency):
        parse_amount("1", "XXX")


@pytest.mark.parametrize("text", ["-1", "0", "0.00", "1,00", "1e5", "NaN", "Infinity", "", "1.2.3", "1000000000000000",
                                  "١٢٣.٠٠", "１２３", "1٢3"])
def test_rejects(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text, "EUR")


def test_float_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(1.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(("gross", "rate", "net", "tax"), [
    (11900, "19", 10000, 1900), (1000, "19", 840, 160), (107, "7", 100, 7), (1, "19", 1, 0), (10700, "7", 10000, 700)])
def test_split_gross(gross: int, rate: str, net: int, tax: int) -> None:
    assert split_gross(gross, Decimal(rate)) == (net, tax)


def test_tax_on_net() -> None:
    assert tax_on_net(100000, Decimal("19")) == 19000
    assert tax_on_net(5, Decimal("19")) == 1  # 0.95 cents rounds half up to 1
