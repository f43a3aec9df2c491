"""What reading a document in the sandbox costs: in-process extract() vs sandbox.extract() per sample.

    python bench/sandbox.py            # 7 runs per document (median)
    python bench/sandbox.py --runs 15

Both read the same bytes; the forkserver is started before timing (as a server does on its first document).
Prints the median of each, the overhead per document in ms and the ratio, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from ledger_mcp.ledger.extraction import detect_mime, sandbox
from ledger_mcp.ledger.extraction.cascade import extract

SAMPLES = Path(__file__).resolve().parents[1] / "examples" / "invoices"
NAMES = ["ubl_invoice.xml", "facturx_en16931.pdf", "text_de.pdf", "text_en.pdf", "scan_de.pdf"]


def median_ms(run: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sandbox.warm_up()
    print(f"{'document':24} {'in-process ms':>14} {'sandbox ms':>11} {'overhead ms':>12} {'ratio':>6}")
    for name in NAMES:
        data = (SAMPLES / name).read_bytes()
        mime = detect_mime(data, name)
        runs = max(1, args.runs // 3) if name.startswith("scan") else args.runs
        sandbox.extract(data, mime)  # warm both paths
        extract(data, mime)
        inside = median_ms(lambda: extract(data, mime), runs)  # noqa: B023
        confined = median_ms(lambda: sandbox.extract(data, mime), runs)  # noqa: B023
        print(f"{name:24} {inside:14.1f} {confined:11.1f} {confined - inside:12.1f} {confined / inside:6.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
