"""`ledger-mcp keys` and `serve --http` start-up checks, through the installed entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger_mcp", *args], capture_output=True, text=True, timeout=60)


def test_create_list_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert _run("init", *data).returncode == 0
    created = _run("keys", "create", "--label", "invoice-agent", "--scopes", "ledger:read,ledger:book", *data)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    prefix = secret[:12]
    assert secret.startswith("lmk_") and len(secret) > 40 and prefix in created.stderr
    listed = _run("keys", "list", *data)
    assert prefix in listed.stdout and "invoice-agent" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout + listed.stderr
    assert secret not in (tmp_path / "ledger.sqlite3").read_bytes().decode("latin-1")
    revoked = _run("keys", "revoke", prefix, *data)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked 20" in _run("keys", "list", *data).stdout
    assert _run("keys", "revoke", "lmk_nothere", *data).returncode == 1


def test_unknown_scope_is_refused(tmp_path: Path) -> None:
    assert _run("init", "--data-dir", str(tmp_path)).returncode == 0
    bad = _run("keys", "create", "--label", "x", "--scopes", "ledger:read,ledger:everything", "--data-dir",
               str(tmp_path))
    assert bad.returncode == 1 and "ledger:everything" in bad.stderr


def test_http_refuses_to_start_without_an_active_key(tmp_path: Path) -> None:
    run = _run("serve", "--http", "--port", "9", "--data-dir", str(tmp_path))
    assert run.returncode == 2 and f"ledger-mcp keys create --data-dir {tmp_path} --label NAME" in run.stderr
    # serve created the ledger, so the command it names works as printed.
    created = _run("keys", "create", "--data-dir", str(tmp_path), "--label", "a", "--scopes", "ledger:read")
    assert created.returncode == 0, created.stderr


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    run = _run("serve", "--http", "--insecure-no-auth", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert run.returncode == 2 and "loopback" in run.stderr


def test_configuration_mistakes_stop_the_server_with_a_message(tmp_path: Path) -> None:
    typo = _run("serve", "--tools", "post_bookin,get_intent", "--data-dir", str(tmp_path))
    assert typo.returncode == 2 and "post_bookin" in typo.stderr and "Traceback" not in typo.stderr
    http_typo = _run("serve", "--http", "--tools", "post_bookin", "--data-dir", str(tmp_path))
    assert http_typo.returncode == 2 and "post_bookin" in http_typo.stderr
