"""End to end over real stdio: the installed entry point, spawned as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import pytest
from mcp import Client, StdioServerParameters

from ledger_mcp.settings import Settings
from tests.conftest import confirming_human

pytestmark = pytest.mark.anyio


def _ledger(settings: Settings) -> list[str]:
    return ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url]


def _serve(settings: Settings) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", *_ledger(settings),
                                                               "--actor", "stdio-agent"])


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger_mcp", *args, *_ledger(settings)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_book_reverse_and_verify_over_stdio(settings: Settings, mode: str) -> None:
    async with Client(_serve(settings), mode=mode, elicitation_callback=confirming_human) as client:
        booked = await client.call_tool("post_booking", {
            "booking_date": "2026-03-02", "description": "Porto", "idempotency_key": "stdio-1",
            "lines": [{"debit_account": "4910", "credit_account": "1000", "amount": "8.50"}]})
        assert not booked.is_error, booked.content
        intent_id = booked.structured_content["intent_id"]
        links = [c for c in booked.content if c.type == "resource_link"]
        assert str(links[0].uri) == f"ledger://intents/{intent_id}"
        view = await client.call_tool("get_intent", {"intent_id": intent_id})
        prov = view.structured_content["summary"]["provenance_summary"]
        assert (prov["channel"], prov["actor_label"], prov["client_name"]) == ("MCP", "stdio-agent", "mcp")
        bad = await client.call_tool("post_booking", {"booking_date": "2026-13-01", "description": "x",
                                                      "lines": [{"debit_account": "4910", "amount": "1"}]})
        assert bad.is_error and json.loads(bad.content[0].text)["error"]["code"] == "INVALID_DATE"
        reversed_ = await client.call_tool("reverse_intent", {"intent_id": intent_id, "reason": "test"})
        assert not reversed_.is_error
    # The same ledger, read by the CLI after the server has exited.
    verify = _cli(settings, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert '"lines_checked": 2' in verify.stdout


def test_init_chooses_the_chart(settings: Settings) -> None:
    run = _cli(settings, "init", "--chart", "skr04")
    assert run.returncode == 0, run.stderr
    shipped = resources.files("ledger_mcp.ledger").joinpath("charts", "skr04.csv").read_text(encoding="utf-8")
    accounts = len(shipped.splitlines()) - 1  # the whole shipped chart, less its header
    assert "chart skr04" in run.stdout and f"{accounts} accounts" in run.stdout
    again = _cli(settings, "init", "--chart", "skr03")
    assert again.returncode == 1 and "already set up" in again.stdout


def test_init_names_and_renames_the_company(settings: Settings) -> None:
    named = _cli(settings, "init", "--name", "Müller GmbH")
    assert named.returncode == 0 and "ledger created: Müller GmbH," in named.stdout, named.stdout + named.stderr
    renamed = _cli(settings, "init", "--name", "Müller AG")
    assert renamed.returncode == 0 and "already set up: Müller AG," in renamed.stdout
    assert _cli(settings, "init", "--name", " ").returncode != 0
    verify = _cli(settings, "verify")  # the rename is in the record history, not an edit behind its back
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_skr04_ledger_books_on_skr04_accounts(settings: Settings) -> None:
    assert _cli(settings, "init", "--chart", "skr04").returncode == 0
    async with Client(_serve(settings)) as client:
        booked = await client.call_tool("post_booking", {
            "booking_date": "2026-03-02", "description": "Bürobedarf",
            "lines": [{"debit_account": "6815", "credit_account": "1800", "amount": "119.00", "tax_code": "VSt19"}]})
        assert not booked.is_error, booked.content
        assert [x["debit_account"] for x in booked.structured_content["lines"]] == ["6815", "1406"]


async def test_read_only_flag_over_stdio(settings: Settings) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "ledger_mcp", "serve", "--read-only",
                                                                 *_ledger(settings)])
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "get_intent" in names and "post_booking" not in names
        refused = await client.call_tool("post_booking", {"booking_date": "2026-03-02", "description": "x",
                                                          "lines": [{"debit_account": "4910", "amount": "1"}]})
        assert refused.is_error and json.loads(refused.content[0].text)["error"]["code"] == "TOOL_DISABLED"
