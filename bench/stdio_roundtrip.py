"""Round trip and cold start of ledger-mcp over stdio, against a bare SDK server as baseline.

Run from the repository root (with the project venv active):

    python bench/stdio_roundtrip.py                 # defaults: 300 calls, 5 cold starts
    python bench/stdio_roundtrip.py --calls 1000 --starts 10
    git archive main | tar -x -C /tmp/ledger-main && \
    python bench/stdio_roundtrip.py --baseline /tmp/ledger-main   # also the same bookings on that source tree

(a) Spawn bench/noop_server.py over stdio, warm up, time N sequential `noop` calls.
(b) Spawn `python -m ledger_mcp serve` (same as `ledger-mcp serve`) on a fresh temporary data dir,
    warm up, time N sequential `post_booking` calls (one gross line 4930/1200 with tax code VSt19,
    which the server splits into 2 journal lines: net + input VAT; unique idempotency_key and
    external_reference per call so that neither the replay nor the duplicate check kicks in).
    Compare: ratio post_booking/noop (median and mean) against the goal of at most 2x (a durable
    commit alone costs about 0.5 ms here). With --baseline, (b) also runs against a server started
    from that source tree (PYTHONPATH), in alternating rounds with the others, so before and after
    are measured side by side under the same load.
(c) Cold start, spawn to first tool result, repeated R times: no-op server (first call `noop`)
    vs ledger-mcp on a fresh data dir and on an already initialised data dir (first call
    `search_accounts` with query "1200"); with --baseline the same two for that source tree, all
    interleaved; the ratio of the initialised start to the no-op server against the goal of 1.5x.
    `--cold-only` runs (c) alone.

Every call goes through the SDK's high-level `Client` over a real subprocess and pipes; timings
use time.perf_counter and include client-side (de)serialisation, i.e. what an MCP host sees.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

BENCH_DIR = Path(__file__).resolve().parent
NOOP_SERVER = BENCH_DIR / "noop_server.py"
GOAL_RATIO = 2.0
COLD_GOAL_RATIO = 1.5  # issue 18, goal 5
WARMUP = 20


def noop_params() -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(NOOP_SERVER)])


def ledger_params(data_dir: Path, source: Path | None = None) -> StdioServerParameters:
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    # `python -m` puts the working directory first on sys.path: run another tree's server from inside it, or
    # the repository root's ledger_mcp would shadow PYTHONPATH.
    return StdioServerParameters(command=sys.executable, env=env, cwd=str(source) if source else None,
                                 args=["-m", "ledger_mcp", "serve", "--data-dir", str(data_dir), "--actor", "bench"])


def booking(i: int, run: str) -> dict[str, Any]:
    return {"booking_date": "2026-03-02", "description": f"Bürobedarf bench {i}",
            "external_reference": f"BENCH-{run}-{i}", "idempotency_key": f"bench-{run}-{i}",
            "lines": [{"debit_account": "4930", "credit_account": "1200", "amount": "119.00", "tax_code": "VSt19"}]}


def check(result: Any, what: str) -> Any:
    if result.is_error:
        text = result.content[0].text if result.content and hasattr(result.content[0], "text") else result
        raise SystemExit(f"{what} failed: {text}")
    return result


# --- statistics -------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarise(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"mean": statistics.fmean(ms), "median": statistics.median(ms), "p95": percentile(ms, 95),
            "min": min(ms), "max": max(ms), "calls_s": len(samples) / sum(samples)}


# --- (a) + (b) round trips --------------------------------------------------------------------

def server_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's children: the server spawned over stdio.
    Less sensitive to a shared machine's load than wall time, which includes waiting for a core."""
    me, total = str(os.getpid()), 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


CPU: dict[str, float] = {}
"""Server CPU seconds over the timed calls, by label."""


async def time_calls(client: Client, calls: int, make: Callable[[int], tuple[str, dict[str, Any]]],
                     label: str) -> list[float]:
    for i in range(WARMUP):
        name, args = make(-1 - i)
        check(await client.call_tool(name, args), f"warm-up {name}")
    samples = []
    clock = time.perf_counter
    cpu_before = server_cpu()
    for i in range(calls):
        name, args = make(i)
        start = clock()
        result = await client.call_tool(name, args)
        samples.append(clock() - start)
        check(result, name)
    CPU[label] = CPU.get(label, 0.0) + server_cpu() - cpu_before
    return samples


async def roundtrip_noop(calls: int) -> list[float]:
    async with Client(noop_params()) as client:
        return await time_calls(client, calls, lambda i: ("noop", {}), "noop")


async def roundtrip_booking(calls: int, source: Path | None = None) -> list[float]:
    run = f"{os.getpid()}-{time.time_ns()}"
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        async with Client(ledger_params(Path(tmp), source)) as client:
            samples = await time_calls(client, calls, lambda i: ("post_booking", booking(i, run)),
                                       "baseline" if source else "post_booking")
            last = check(await client.call_tool("verify_chain", {}), "verify_chain")
            if last.structured_content and last.structured_content.get("ok") is False:
                raise SystemExit(f"hash chain broken after the run: {last.structured_content}")
    return samples


# --- (c) cold start ---------------------------------------------------------------------------

async def spawn_to_first_result(params: StdioServerParameters, name: str, args: dict[str, Any]) -> float:
    start = time.perf_counter()
    async with Client(params) as client:
        check(await client.call_tool(name, args), f"first {name}")
        elapsed = time.perf_counter() - start
    return elapsed  # excludes shutdown


COLD_KINDS = (("noop", "noop server"), ("ledger_fresh", "ledger fresh dir"),
              ("ledger_initialised", "ledger initialised"), ("baseline_fresh", "baseline fresh dir"),
              ("baseline_initialised", "baseline initialised"))


async def cold_starts(starts: int, baseline: Path | None = None) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"noop": [], "ledger_fresh": [], "ledger_initialised": []}
    trees: list[tuple[str, Path | None]] = [("ledger", None)]
    if baseline:
        out |= {"baseline_fresh": [], "baseline_initialised": []}
        trees.append(("baseline", baseline))
    first_ledger_call = ("search_accounts", {"query": "1200"})
    with tempfile.TemporaryDirectory(prefix="ledger-bench-init-") as initialised:
        # Initialise it once (schema + chart), untimed; a first start of each tree also leaves whatever
        # it keeps between starts (byte code, the tool cache), as an installed server has it.
        for _, source in trees:
            await spawn_to_first_result(ledger_params(Path(initialised), source), *first_ledger_call)
        # Interleave the kinds so that drift (page cache, CPU frequency, the machine's load) hits all alike.
        for _ in range(starts):
            out["noop"].append(await spawn_to_first_result(noop_params(), "noop", {}))
            for name, source in trees:
                with tempfile.TemporaryDirectory(prefix="ledger-bench-fresh-") as fresh:
                    out[f"{name}_fresh"].append(await spawn_to_first_result(ledger_params(Path(fresh), source),
                                                                            *first_ledger_call))
                out[f"{name}_initialised"].append(await spawn_to_first_result(
                    ledger_params(Path(initialised), source), *first_ledger_call))
    return out


# --- report -----------------------------------------------------------------------------------

async def measure_cold_starts(starts: int, baseline: Path | None) -> dict[str, tuple[float, float]]:
    """(c): median and min per kind, printed with the load average and the ratio against the goal."""
    print(f"\n(c) cold start, spawn to first tool result, {starts} starts each")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    cold = await cold_starts(starts, baseline)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    stats = {k: (statistics.median(v), min(v)) for k, v in cold.items()}
    for key, label in COLD_KINDS:
        if key in stats:
            med, low = stats[key]
            print(f"{label:<22} median {med:.3f} s  min {low:.3f} s  {med / stats['noop'][0]:.2f}x  "
                  f"(all: {', '.join(f'{s:.3f}' for s in cold[key])})", flush=True)
    ratio = stats["ledger_initialised"][0] / stats["noop"][0]
    print(f"goal cold start (initialised) / noop <= {COLD_GOAL_RATIO}x: {ratio:.2f}x, "
          f"{'MET' if ratio <= COLD_GOAL_RATIO else 'NOT MET'}", flush=True)
    return stats


async def report_cold_starts(starts: int, baseline: Path | None, t0: float) -> None:
    await measure_cold_starts(starts, baseline)
    print(f"(medians; ratios against the noop server's median; total run {time.perf_counter() - t0:.1f} s)")


def print_roundtrip(label: str, stats: dict[str, float], calls: int) -> None:
    print(f"{label:<14} n={calls}  mean {stats['mean']:.2f} ms  median {stats['median']:.2f} ms  "
          f"p95 {stats['p95']:.2f} ms  (min {stats['min']:.2f}, max {stats['max']:.2f})  "
          f"{stats['calls_s']:.0f} calls/s  server CPU {CPU.get(label, 0.0) / calls * 1000:.2f} ms/call", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per server (default 300)")
    parser.add_argument("--starts", type=int, default=5, help="cold starts per kind (default 5)")
    parser.add_argument("--baseline", type=Path, help="source tree of an earlier version to compare post_booking with")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds the calls are split into")
    parser.add_argument("--cold-only", action="store_true", help="only (c), the cold starts")
    args = parser.parse_args()
    if args.calls < 1 or args.starts < 1:
        parser.error("--calls and --starts must be at least 1")

    print(f"python {platform.python_version()}, mcp {version('mcp')}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}", flush=True)
    t0 = time.perf_counter()
    if args.cold_only:
        await report_cold_starts(args.starts, args.baseline, t0)
        return

    print(f"\n(a)/(b) round trips over stdio, {WARMUP} warm-up calls, then {args.calls} timed sequential calls")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    samples: dict[str, list[float]] = {"noop": [], "post_booking": [], "baseline": []}
    per_round = max(1, args.calls // args.rounds)
    for _ in range(args.rounds):  # alternating: drift in the machine's load hits every server alike
        samples["noop"] += await roundtrip_noop(per_round)
        samples["post_booking"] += await roundtrip_booking(per_round)
        if args.baseline:
            samples["baseline"] += await roundtrip_booking(per_round, args.baseline)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    noop = summarise(samples["noop"])
    print_roundtrip("noop", noop, len(samples["noop"]))
    post = summarise(samples["post_booking"])
    print_roundtrip("post_booking", post, len(samples["post_booking"]))
    if args.baseline:
        before = summarise(samples["baseline"])
        print_roundtrip("baseline", before, len(samples["baseline"]))
        print(f"ratio baseline/noop: median {before['median'] / noop['median']:.2f}x, mean "
              f"{before['mean'] / noop['mean']:.2f}x; post_booking is {before['median'] / post['median']:.2f}x "
              f"faster than the baseline (median)", flush=True)
    cpu = {label: CPU[label] / len(samples[label]) for label in CPU}
    print(f"server CPU per call: post_booking/noop {cpu['post_booking'] / cpu['noop']:.2f}x"
          + (f", baseline/noop {cpu['baseline'] / cpu['noop']:.2f}x" if args.baseline else ""), flush=True)
    ratio_median = post["median"] / noop["median"]
    ratio_mean = post["mean"] / noop["mean"]
    met = ratio_median <= GOAL_RATIO and ratio_mean <= GOAL_RATIO
    print(f"ratio post_booking/noop: median {ratio_median:.2f}x, mean {ratio_mean:.2f}x "
          f"(goal <= {GOAL_RATIO}x): {'MET' if met else 'NOT MET'}", flush=True)

    cold_stats = await measure_cold_starts(args.starts, args.baseline)

    base = cold_stats["noop"][0]
    print("\nSummary")
    print(f"{'measurement':<34}{'median':>10}{'mean':>10}{'p95/min':>10}{'calls/s':>9}{'ratio':>8}")
    print(f"{'noop round trip (ms)':<34}{noop['median']:>10.2f}{noop['mean']:>10.2f}{noop['p95']:>10.2f}"
          f"{noop['calls_s']:>9.0f}{1:>7.2f}x")
    print(f"{'post_booking round trip (ms)':<34}{post['median']:>10.2f}{post['mean']:>10.2f}{post['p95']:>10.2f}"
          f"{post['calls_s']:>9.0f}{ratio_median:>7.2f}x")
    for key, label in COLD_KINDS:
        if key in cold_stats:
            med, low = cold_stats[key]
            print(f"{'cold start ' + label + ' (s)':<34}{med:>10.3f}{'':>10}{low:>10.3f}{'':>9}{med / base:>7.2f}x")
    print(f"goal post_booking/noop <= {GOAL_RATIO}x (median {ratio_median:.2f}x, mean {ratio_mean:.2f}x): "
          f"{'MET' if met else 'NOT MET'}")
    print(f"(p95/min column: p95 for round trips, min for cold starts; ratios vs the noop row of the same kind, "
          f"medians; total run {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
