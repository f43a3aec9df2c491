"""Booking throughput over streamable HTTP with 1, 4 and 8 concurrent clients.

Run from the repository root (with the project venv active):

    python bench/concurrent_http.py                          # fresh SQLite ledger, 150 bookings per client
    python bench/concurrent_http.py --per-client 300 --clients 1,2,4,8
    python bench/concurrent_http.py --database-url postgresql+asyncpg://user:pw@host/db

Starts `python -m ledger_mcp serve --http` (= `ledger-mcp serve --http`) as a subprocess on a free
loopback port over a fresh temporary data dir (or the given database URL), creates one API key per
client with `ledger-mcp keys create`, and for each client count runs that many SDK clients at once,
each over its own HTTP connection with its own key, each booking `--per-client` times sequentially
(one gross line 4930/1200 with VSt19: 2 journal lines; unique idempotency key and reference).
A retryable error is retried with the same call, as an agent would. Prints bookings/s over the whole
round and the per-call latency p50/p95 (ms). Ends with `verify_chain` (fails if broken).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

WARMUP = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(data: list[str], *args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "ledger_mcp", *args, *data], capture_output=True, text=True,
                         check=True, timeout=120)
    return run.stdout.strip()


def booking(run: str, client: int, i: int) -> dict[str, Any]:
    return {"booking_date": "2026-03-02", "description": f"Bürobedarf bench {run} {client} {i}",
            "external_reference": f"H-{run}-{client}-{i}", "idempotency_key": f"h-{run}-{client}-{i}",
            "lines": [{"debit_account": "4930", "credit_account": "1200", "amount": "119.00", "tax_code": "VSt19"}]}


def session(url: str, key: str, http: httpx2.AsyncClient) -> Client:
    http.headers["Authorization"] = f"Bearer {key}"
    return Client(streamable_http_client(url, http_client=http), cache=None)  # type: ignore[arg-type]


async def book(client: Client, arguments: dict[str, Any]) -> int:
    """Book; return how many retries it took."""
    for attempt in range(50):
        result = await client.call_tool("post_booking", arguments)
        if not result.is_error:
            return attempt
        text = result.content[0].text  # type: ignore[union-attr]
        if '"retryable": true' not in text:
            raise SystemExit(f"booking failed: {text}")
    raise SystemExit("booking never succeeded")


async def round_(url: str, keys: list[str], clients: int, per_client: int) -> dict[str, Any]:
    run = f"{clients}c{time.monotonic_ns()}"
    latencies: list[float] = []
    finished: list[float] = []
    retries = 0
    ready = asyncio.Barrier(clients + 1)
    go = asyncio.Event()

    async def agent(n: int) -> None:
        nonlocal retries
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(60, read=300)) as http, \
                session(url, keys[n], http) as client:
            for i in range(WARMUP):  # not timed
                await book(client, booking(run + "w", n, i))
            await ready.wait()
            await go.wait()
            for i in range(per_client):
                start = time.perf_counter()
                retries += await book(client, booking(run, n, i))
                latencies.append(time.perf_counter() - start)
            finished.append(time.perf_counter())

    tasks = [asyncio.create_task(agent(n)) for n in range(clients)]
    await ready.wait()
    start = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    elapsed = max(finished) - start
    latencies.sort()
    return {"clients": clients, "bookings": len(latencies), "seconds": elapsed,
            "per_s": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "retries": retries}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--per-client", type=int, default=150)
    parser.add_argument("--database-url", help="default: a SQLite file in a fresh temporary data dir")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        data = ["--data-dir", tmp] + (["--database-url", args.database_url] if args.database_url else [])
        cli(data, "init")
        keys = [cli(data, "keys", "create", "--label", f"bench-{n}", "--scopes", "ledger:read,ledger:book")
                for n in range(max(counts))]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "ledger_mcp", "serve", "--http", "--port", str(port), *data],
                                  stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            for _ in range(300):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            database = args.database_url.split("://")[0] if args.database_url else "sqlite (fresh temp dir)"
            print(f"python {platform.python_version()}, mcp {version('mcp')}, {os.cpu_count()} CPUs, "
                  f"{platform.platform()}\nserver: ledger-mcp serve --http (subprocess), database {database}; "
                  f"{args.per_client} bookings per client after {WARMUP} warm-up bookings each\n")
            print(f"{'clients':>7}  {'bookings':>8}  {'seconds':>7}  {'bookings/s':>10}  {'p50 ms':>7}  "
                  f"{'p95 ms':>7}  {'retries':>7}")
            for clients in counts:
                r = await round_(url, keys, clients, args.per_client)
                print(f"{r['clients']:>7}  {r['bookings']:>8}  {r['seconds']:>7.2f}  {r['per_s']:>10.1f}  "
                      f"{r['p50']:>7.2f}  {r['p95']:>7.2f}  {r['retries']:>7}", flush=True)
            async with httpx2.AsyncClient(timeout=300) as http, session(url, keys[0], http) as client:
                report = await client.call_tool("verify_chain", {})
            assert report.structured_content is not None
            ok = report.structured_content["ok"]
            print(f"\nverify_chain: ok={ok}, {report.structured_content['lines_checked']} lines")
            if not ok:
                raise SystemExit(1)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
