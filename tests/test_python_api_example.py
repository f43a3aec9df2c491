"""examples/python_api.py, run as a user would: it must book, balance and verify, and stay idempotent."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import fresh_database_url

EXAMPLE = Path(__file__).parent.parent / "examples" / "python_api.py"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_python_api_example_books_balances_and_verifies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with fresh_database_url(data) as url:
        first = _run("--data-dir", str(data), "--database-url", url)
        balances = dict(re.findall(r"^  (\d{4})  .*?\s(-?\d+\.\d\d)$", first, re.MULTILINE))
        assert balances == {"1200": "-119.00", "1576": "19.00", "4930": "100.00"}, first
        assert "debits 119.00, credits 119.00, balanced: True" in first
        assert "hash chain: ok=True, 2 lines in 1 intents, head #2" in first
        intent = re.search(r"booked intent (\S+): journal lines #1-2, 119.00 EUR\n", first)
        assert intent is not None, first

        again = _run("--data-dir", str(data), "--database-url", url)
        assert f"booked intent {intent[1]}: journal lines #1-2, 119.00 EUR (replayed)" in again
        assert "hash chain: ok=True, 2 lines in 1 intents" in again

        # What the script wrote is a ledger the command line accepts.
        verified = subprocess.run([sys.executable, "-m", "ledger_mcp", "verify", "--database-url", url],
                                  capture_output=True, text=True, timeout=120)
        assert verified.returncode == 0 and '"lines_checked": 2' in verified.stdout, verified.stderr


def test_the_readme_python_snippet_runs_as_shown(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it from Python", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "snippet.py"
    script.write_text(snippet, encoding="utf-8")
    for expected in ("booked", "replayed"):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].endswith(f" 119.00 {expected}"), done.stdout
        assert lines[1:] == ["{'1200': '-119.00', '1576': '19.00', '4930': '100.00'} True", "chain ok: True"]
