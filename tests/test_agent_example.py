"""examples/agent_bookkeeper.py, run as a user would: the agent follows the server's guidance, waits for
the owner's confirmation of its Storno, and the receivables agree with the open items."""

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
