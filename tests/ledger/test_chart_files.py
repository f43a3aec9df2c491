"""Consistency checks for the shipped SKR03/SKR04 charts and the tax code table.

Reads the CSV files with the csv module only (no project imports), so the data
files can be validated independently of the ledger code.
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

CHARTS_DIR = Path(__file__).resolve().parents[2] / "ledger_mcp" / "ledger" / "charts"
CHARTS = ("skr03", "skr04")

CHART_HEADER = ["number", "name", "type", "category", "report_group"]
TAX_HEADER = [
    "code",
    "label",
    "description",
    "rate",
    "kind",
    "skr03_vat_account",
    "skr03_self_assess_account",
    "skr04_vat_account",
    "skr04_self_assess_account",
    "datev_bu_key",
    "ustva_base",
    "ustva_tax",
    "ustva_input_tax",
]

TYPES = {"asset", "liability", "equity", "revenue", "expense"}
CATEGORIES = {
    "bank", "cash", "receivables", "payables", "input_vat", "output_vat",
    "vat_settlement", "fixed_assets", "intangible_assets", "financial_assets",
    "inventory", "other_receivables", "prepaid", "clearing", "equity", "private",
    "result", "opening_balance", "loans", "other_liabilities", "accruals",
    "tax_liabilities", "payroll_liabilities", "revenue", "other_income",
    "interest_income", "material", "personnel", "depreciation", "rent", "vehicle",
    "travel", "marketing", "office", "communication", "insurance", "fees",
    "other_expenses", "interest_expense", "taxes_on_income", "other_taxes", "fx_gain", "fx_loss",
}
REPORT_GROUPS = {
    "bs.fixed_assets.intangible", "bs.fixed_assets.tangible",
    "bs.fixed_assets.financial", "bs.current_assets.inventory",
    "bs.current_assets.receivables", "bs.current_assets.other",
    "bs.current_assets.cash", "bs.prepaid", "bs.equity", "bs.provisions",
    "bs.liabilities.bank", "bs.liabilities.trade", "bs.liabilities.other",
    "bs.liabilities.tax", "bs.deferred_income", "bs.opening",
    "pl.revenue", "pl.other_income", "pl.material", "pl.personnel",
    "pl.depreciation", "pl.other_expenses", "pl.interest_income",
    "pl.interest_expense", "pl.taxes_on_income", "pl.other_taxes",
}
TAX_KINDS = {"input", "output", "reverse_charge", "exempt"}

# role: (skr03 number, skr04 number, category, type)
MANDATORY = {
    "cash": ("1000", "1600", "cash", "asset"),
    "bank": ("1200", "1800", "bank", "asset"),
    "receivables": ("1400", "1200", "receivables", "asset"),
    "payables": ("1600", "3300", "payables", "liability"),
    "input_vat_7": ("1571", "1401", "input_vat", "asset"),
    "input_vat_19": ("1576", "1406", "input_vat", "asset"),
    "input_vat_13b_19": ("1577", "1407", "input_vat", "asset"),
    "output_vat_7": ("1771", "3801", "output_vat", "liability"),
    "output_vat_19": ("1776", "3806", "output_vat", "liability"),
    "output_vat_13b_19": ("1787", "3837", "output_vat", "liability"),
    "revenue_19": ("8400", "4400", "revenue", "revenue"),
    "revenue_7": ("8300", "4300", "revenue", "revenue"),
    "opening_balance": ("9000", "9000", "opening_balance", "equity"),
    "office_supplies": ("4930", "6815", "office", "expense"),
    "bank_fees": ("4970", "6855", "fees", "expense"),
    "postage": ("4910", "6800", "communication", "expense"),
    "telephone": ("4920", "6805", "communication", "expense"),
    "fx_gain": ("2660", "4840", "fx_gain", "revenue"),
    "fx_loss": ("2150", "6880", "fx_loss", "expense"),
}

# Categories whose accounts must carry a fixed account type.
CATEGORY_TYPE = {
    "bank": "asset", "cash": "asset", "receivables": "asset",
    "input_vat": "asset", "payables": "liability", "output_vat": "liability",
    "opening_balance": "equity",
}


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


def _chart(name: str) -> list[dict[str, str]]:
    return _read(CHARTS_DIR / f"{name}.csv")[1]


def _chart_index(name: str) -> dict[str, dict[str, str]]:
    return {row["number"]: row for row in _chart(name)}


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_header(chart: str) -> None:
    header, _ = _read(CHARTS_DIR / f"{chart}.csv")
    assert header == CHART_HEADER


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_numbers_unique_four_digits_sorted(chart: str) -> None:
    numbers = [row["number"] for row in _chart(chart)]
    assert numbers, "chart is empty"
    bad = [n for n in numbers if not re.fullmatch(r"\d{4}", n)]
    assert not bad, f"not 4 digits: {bad}"
    dupes = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not dupes, f"duplicate numbers: {dupes}"
    assert numbers == sorted(numbers), "numbers not sorted ascending"


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_values_in_allowed_sets(chart: str) -> None:
    for row in _chart(chart):
        num = row["number"]
        assert row["name"].strip() == row["name"] and row["name"], f"{num}: bad name"
        assert row["type"] in TYPES, f"{num}: type {row['type']!r}"
        assert row["category"] in CATEGORIES, f"{num}: category {row['category']!r}"
        assert row["report_group"] in REPORT_GROUPS, (
            f"{num}: report_group {row['report_group']!r}"
        )


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_type_consistency(chart: str) -> None:
    for row in _chart(chart):
        num, typ, cat, grp = row["number"], row["type"], row["category"], row["report_group"]
        if cat in CATEGORY_TYPE:
            assert typ == CATEGORY_TYPE[cat], f"{num}: {cat} must be {CATEGORY_TYPE[cat]}"
        if grp.startswith("pl."):
            assert typ in {"revenue", "expense"}, f"{num}: P&L group with type {typ}"
        else:
            assert typ in {"asset", "liability", "equity"}, f"{num}: BS group with type {typ}"
        # bs.opening is reserved for the opening balance account.
        assert (grp == "bs.opening") == (cat == "opening_balance"), num


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_has_single_opening_and_result_account(chart: str) -> None:
    rows = _chart(chart)
    assert [r["number"] for r in rows if r["category"] == "opening_balance"] == ["9000"]
    assert len([r for r in rows if r["category"] == "result"]) == 1


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_size(chart: str) -> None:
    assert 110 <= len(_chart(chart)) <= 170


@pytest.mark.parametrize("role", sorted(MANDATORY))
@pytest.mark.parametrize("chart", CHARTS)
def test_mandatory_accounts(chart: str, role: str) -> None:
    skr03, skr04, category, typ = MANDATORY[role]
    number = skr03 if chart == "skr03" else skr04
    index = _chart_index(chart)
    assert number in index, f"{chart}: {role} account {number} missing"
    assert index[number]["category"] == category, f"{chart} {number}: category"
    assert index[number]["type"] == typ, f"{chart} {number}: type"


def test_tax_codes_header() -> None:
    header, _ = _read(CHARTS_DIR / "tax_codes.csv")
    assert header == TAX_HEADER


def test_tax_codes_rows() -> None:
    _, rows = _read(CHARTS_DIR / "tax_codes.csv")
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)), "duplicate tax codes"
    assert {"VSt19", "VSt7", "USt19", "USt7", "RC19", "EU19", "EXEMPT"} <= set(codes)
    for row in rows:
        code = row["code"]
        assert row["label"] and row["description"], code
        assert row["kind"] in TAX_KINDS, f"{code}: kind {row['kind']!r}"
        try:
            rate = Decimal(row["rate"])
        except InvalidOperation:
            pytest.fail(f"{code}: rate {row['rate']!r} is not a decimal")
        assert rate.is_finite() and 0 <= rate <= 100, code
        if row["kind"] == "exempt":
            assert rate == 0, code
        elif rate == 0:  # the line is the tax itself (import VAT from a customs notice): input tax only
            assert row["kind"] == "input" and row["ustva_input_tax"], code
        else:
            assert rate > 0, code
        bu = row["datev_bu_key"]
        assert bu == "" or re.fullmatch(r"\d{1,4}", bu), f"{code}: BU key {bu!r}"


@pytest.mark.parametrize("chart", CHARTS)
def test_tax_code_accounts_exist_with_vat_category(chart: str) -> None:
    _, rows = _read(CHARTS_DIR / "tax_codes.csv")
    index = _chart_index(chart)
    for row in rows:
        code, kind = row["code"], row["kind"]
        vat = row[f"{chart}_vat_account"]
        self_assess = row[f"{chart}_self_assess_account"]
        if kind == "exempt":
            assert vat == "" and self_assess == "", f"{code}: exempt must not post tax"
            continue
        expected_vat = "output_vat" if kind == "output" else "input_vat"
        assert vat in index, f"{chart} {code}: VAT account {vat!r} missing"
        assert index[vat]["category"] == expected_vat, f"{chart} {code}: {vat}"
        if kind == "reverse_charge":
            assert self_assess in index, f"{chart} {code}: account {self_assess!r} missing"
            assert index[self_assess]["category"] == "output_vat", f"{chart} {code}"
        else:
            assert self_assess == "", f"{code}: self-assess account only for reverse charge"


def test_tax_code_mandatory_mapping() -> None:
    _, rows = _read(CHARTS_DIR / "tax_codes.csv")
    by_code = {row["code"]: row for row in rows}
    expected = {
        "VSt19": ("1576", "", "1406", ""),
        "VSt7": ("1571", "", "1401", ""),
        "USt19": ("1776", "", "3806", ""),
        "USt7": ("1771", "", "3801", ""),
        "RC19": ("1577", "1787", "1407", "3837"),
        "RC19B2": ("1577", "1787", "1407", "3837"),
        "EU7": ("1572", "1772", "1402", "3802"),
        "USt16": ("1775", "", "3805", ""),
        "EUSt": ("1588", "", "1433", ""),
    }
    cols = TAX_HEADER[5:9]
    for code, accounts in expected.items():
        assert tuple(by_code[code][c] for c in cols) == accounts, code
