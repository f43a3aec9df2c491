"""The command line's edges: every mistake a user can make ends with one line on stderr and a
non-zero exit, no traceback, and nothing created. Through the installed `ledger-mcp` entry point
in a subprocess, and (for the many option checks) through `ledger_mcp.cli.main` in-process."""

from __future__ import annotations

import argparse
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from ledger_mcp import migrations
from ledger_mcp.cli import build_parser, main
from ledger_mcp.server.access import Access
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL, fresh_database_url

ENTRY_POINT = shutil.which("ledger-mcp", path=str(Path(sys.executable).parent)) or "ledger-mcp"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENTRY_POINT, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=env)


def one_line(stderr: str) -> str:
    """The single line a refusal prints; fails on a traceback or a multi-line message."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def refused(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 2) -> str:
    """Run `main(argv)` in-process; it must exit with `code` after one line on stderr."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    assert exit_.value.code == code
    return one_line(capsys.readouterr().err)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_verify_on_a_missing_or_empty_data_dir_names_it_and_creates_nothing(tmp_path: Path) -> None:
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    for directory in (missing, empty):
        result = run("verify", "--data-dir", str(directory))
        assert result.returncode == 2 and result.stdout == ""
        message = one_line(result.stderr)
        assert f"no ledger at {directory / 'ledger.sqlite3'}" in message
        assert f"ledger-mcp init --data-dir {directory}" in message
    assert not missing.exists() and list(empty.iterdir()) == []


@pytest.mark.parametrize("argv", [["keys", "list"], ["keys", "create", "--label", "x", "--scopes", "ledger:read"],
                                  ["keys", "revoke", "lmk_ab12cd34"], ["verify"]])
def test_only_init_and_serve_create_a_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             argv: list[str]) -> None:
    directory = tmp_path / "nowhere"
    message = refused(capsys, *argv, "--data-dir", str(directory))
    assert "no ledger" in message and "ledger-mcp init" in message
    assert not directory.exists()


def test_an_empty_database_is_no_ledger_on_either_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fresh_database_url(tmp_path / "data") as url:
        message = refused(capsys, "keys", "list", "--database-url", url)
        assert "no ledger" in message and "init --database-url" in message
        if not ON_POSTGRES:
            assert not (tmp_path / "data").exists()
        for argv in (["init", "--data-dir", str(tmp_path / "data")], ["keys", "list"]):
            with pytest.raises(SystemExit) as ok:
                main([*argv, "--database-url", url])
            assert ok.value.code == 0, capsys.readouterr().err


def test_after_init_verify_and_keys_work(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert run("init", *data).returncode == 0
    verified = run("verify", *data)
    assert verified.returncode == 0 and '"ok": true' in verified.stdout
    assert run("keys", "list", *data).returncode == 0


@pytest.mark.parametrize("http", [False, True])
def test_serve_with_an_unreachable_database_names_it_without_the_password(tmp_path: Path, http: bool) -> None:
    url = f"postgresql+asyncpg://booker:s3cret-pw@127.0.0.1:{free_port()}/ledger"
    result = run("serve", *(["--http", "--port", str(free_port())] if http else []), "--database-url", url,
                 "--data-dir", str(tmp_path))
    assert result.returncode == 2
    message = one_line(result.stderr)
    assert "s3cret-pw" not in result.stderr
    assert "cannot reach the database postgresql+asyncpg://booker:***@127.0.0.1:" in message
    assert "Connect call failed" in message or "refused" in message.lower()


def test_a_misspelt_tool_lists_the_known_ones_with_a_suggestion(tmp_path: Path) -> None:
    result = run("serve", "--tools", "post_bookin,get_intent", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    message = one_line(result.stderr)
    assert "post_bookin (did you mean post_booking?)" in message
    known = message.split("known: ", 1)[1].split(", ")
    assert {"post_booking", "get_intent", "verify_chain"} <= set(known) and len(known) > 10


def test_the_allow_list_check_reads_a_generator_once() -> None:
    with pytest.raises(ValueError, match=r"known: get_intent, post_booking$"):
        Access(allowed_tools=frozenset({"post_bookin"})).validate(n for n in ["post_booking", "get_intent"])


def test_every_command_and_option_has_help_and_names_its_default() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{path} {choice.dest} has no help"
                for name, sub in action.choices.items():
                    assert sub.description, f"{path} {name} has no description"
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                assert action.help, f"{path} {action.option_strings or action.dest} has no help"
                if action.option_strings and action.required is False:
                    assert "default" in action.help, f"{path} {action.option_strings[0]} shows no default"

    walk(build_parser(), "ledger-mcp")
    init_help = " ".join(run("init", "--help").stdout.split())
    assert "--chart {skr03,skr04}" in init_help and "default skr03" in init_help


@pytest.mark.parametrize(("argv", "expected"), [
    (["serve", "--http", "--port", "99999"], "port must be a number from 1 to 65535, not '99999'"),
    (["serve", "--http", "--port", "http"], "not 'http'"),
    (["serve", "--confirm-policy", "ask_nobody"], "invalid choice: 'ask_nobody'"),
    (["init", "--chart", "skr99"], "invalid choice: 'skr99'"),
    (["serve", "--database-url", "mysql://root:pw@db/ledger"], "names no supported database driver"),
    (["serve", "--database-url", "postgresql://u:pw@db/ledger"], "postgresql+asyncpg://"),
    (["serve", "--database-url", "not a url"], "cannot be parsed"),
    (["init", "--currency", "XYZ"], "Currency 'XYZ' is not supported"),
])
def test_bad_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                  expected: str) -> None:
    code = 1 if "--currency" in argv else 2
    assert expected in refused(capsys, *argv, "--data-dir", str(tmp_path / "data"), code=code)
    assert "pw@" not in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("LEDGER_MCP_PORT", "eighty", "port must be a number"),
    ("LEDGER_MCP_CONFIRM_POLICY", "ask_nobody", "ask_nobody"),
    ("LEDGER_MCP_CHART", "skr99", "chart must be one of skr03, skr04"),
    ("LEDGER_MCP_READ_ONLY", "maybe", "LEDGER_MCP_READ_ONLY must be 1 or 0"),
    ("LEDGER_MCP_CONFIRM_APPROVAL_ABOVE", "-5", "0 or more"),
])
def test_bad_environment_values_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                             expected: str) -> None:
    monkeypatch.setenv(variable, value)
    assert expected in refused(capsys, "serve", "--http", "--data-dir", str(tmp_path / "data"))
    assert not (tmp_path / "data").exists()


def test_a_data_dir_that_cannot_be_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    message = refused(capsys, "init", "--data-dir", str(blocker / "ledger"))
    assert message == f"ledger-mcp: cannot create {blocker / 'ledger'}: Not a directory"


def test_a_busy_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = refused(capsys, "serve", "--http", "--insecure-no-auth", "--port", str(port),
                          "--data-dir", str(tmp_path / "data"))
    assert f"cannot listen on 127.0.0.1:{port}" in message and "in use" in message
    assert not (tmp_path / "data").exists()


def _set_revision(database: Path, revision: str) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))


def test_a_database_from_a_newer_version_is_refused_by_every_command(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert run("init", *data).returncode == 0
    _set_revision(tmp_path / "ledger.sqlite3", "ffffffffffff")
    for argv in (["verify"], ["keys", "list"], ["init"], ["serve"], ["serve", "--http", "--insecure-no-auth"]):
        message = refused(capsys, *argv, *data)
        assert "schema revision ffffffffffff" in message and "newer ledger-mcp" in message, argv


def test_an_older_schema_is_upgraded_only_by_init_or_serve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert run("init", *data).returncode == 0
    previous = ScriptDirectory.from_config(migrations.config()).get_revision(migrations.head()).down_revision
    assert isinstance(previous, str)
    _set_revision(tmp_path / "ledger.sqlite3", previous)
    message = refused(capsys, "keys", "list", *data)
    assert f"older schema (revision {previous})" in message and f"ledger-mcp init --data-dir {tmp_path}" in message
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (previous,)


def test_demo_with_an_unreachable_database_stops_with_the_servers_reason(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://booker:s3cret-pw@127.0.0.1:{free_port()}/ledger"
    result = run("demo", "--database-url", url, "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    reason, ours = result.stderr.strip().splitlines()
    assert reason.startswith("ledger-mcp: cannot reach the database") and "s3cret-pw" not in reason
    assert ours == "ledger-mcp: the demo's server stopped before answering; its reason is on the line above"


@pytest.mark.skipif(not ON_POSTGRES, reason="needs the PostgreSQL test server")
def test_a_postgresql_database_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert TEST_DATABASE_URL
    url = make_url(TEST_DATABASE_URL).set(database="ledger_nowhere").render_as_string(hide_password=False)
    for argv in (["verify"], ["init"]):
        message = refused(capsys, *argv, "--database-url", url)
        assert "cannot use the database postgresql+asyncpg://" in message and "ledger_nowhere" in message


def test_verify_names_the_first_broken_link(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples" / "python_api.py"
    subprocess.run([sys.executable, str(example), "--data-dir", str(tmp_path)], check=True, capture_output=True,
                   timeout=120)
    assert run("verify", "--data-dir", str(tmp_path)).returncode == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        conn.execute("UPDATE journal_line SET amount = amount + 1 WHERE journal_number = 2")
    result = run("verify", "--data-dir", str(tmp_path))
    assert result.returncode == 1 and '"ok": false' in result.stdout
    message = one_line(result.stderr)
    assert message.startswith("ledger-mcp: the hash chain is broken (journal number 2, intent id ")
    assert "period 2026-03" in message
