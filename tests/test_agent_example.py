"""The agent examples, run as a user would. agent_bookkeeper.py follows the server's guidance, waits for
the owner's confirmation of its Storno, and the receivables agree with the open items;
reconcile_statement.py explains every line of the sample statements."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "examples" / "agent_bookkeeper.py"


def test_the_agent_example_keeps_the_subledger_right(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), "--data-dir", str(tmp_path / "data")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "owner: ledger-mcp confirm grant cnf_" in out and "reversal of AR-2026-007" in out
    assert "receivables 1400: 2832.20, open customer invoices: 2832.20" in out
    assert "payment ER-2026-031                  paid, remaining 0.00" in out
    assert "hash chain: ok=True" in out and "balanced=True" in out


def test_the_statement_example_reconciles_every_line(tmp_path: Path) -> None:
    example = EXAMPLE.parent / "reconcile_statement.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Imported march_2026.camt053.xml: 0 of 6 rows, 6 already there" in out  # the re-import adds nothing
    assert "0 open transaction(s) (0.00 EUR); ledger 1200 4531.80 agrees with the statement balance 4531.80" in out
    assert "Open payables left: 0 (0.00 EUR)" in out and "Chain: intact" in out
