"""What serving several companies costs per HTTP request: one uvicorn server in-process on a loopback port
with the home ledger and one company, one API key holding both, and an SDK client calling `list_tax_codes`
N times per round (after warm-ups) on three endpoints, interleaved in rounds:

- single: the home ledger's app alone at /mcp (one ledger per process, as before companies);
- home: the home ledger at /mcp behind the company router (the key is checked there, then by the ledger);
- company: the company at /companies/<slug>/mcp behind the router.

Prints the median and p95 per call (ms) and the ratios to `single`, with the load average before and after.
Run from the repository root: `python bench/companies_http.py [--calls 200] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ledger_mcp.ledger import api_keys, companies
from ledger_mcp.ledger.db import Database
from ledger_mcp.server import build_server
from ledger_mcp.server.app import prepare_ledger
from ledger_mcp.server.http import HttpOptions, asgi_app, http_app
from ledger_mcp.settings import Settings


@asynccontextmanager
async def serving(settings: Settings, routed: bool) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = HttpOptions(port=sock.getsockname()[1])
    server = build_server(settings, options)
    app = asgi_app(server, options) if routed else http_app(server, options)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: uv.serve(sockets=[sock]))
        while not uv.started:
            await anyio.sleep(0.01)
        try:
            yield options.base_url
        finally:
            uv.should_exit = True


async def timed(url: str, key: str, calls: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            Client(streamable_http_client(url, http_client=http), cache=None) as client:  # type: ignore[arg-type]
        for _ in range(10):
            await client.call_tool("list_tax_codes", {})
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("list_tax_codes", {})
            times.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result.content
    return times


async def main(calls: int, rounds: int) -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(data_dir=tmp, actor="bench", toolsets="all")
        settings.prepare()
        home = Database(settings.database_url)
        await prepare_ledger(home, "skr03")
        company = settings.for_company("bench-co")
        company.prepare()
        db = Database(company.database_url)
        await db.create_schema()
        await db.write(companies.set_up_company, "bench-co", "Bench GmbH", "skr03")
        await db.dispose()
        await home.write(companies.add_company, "bench-co", "Bench GmbH", "skr03")
        key = (await home.write(api_keys.create_api_key, "bench", "ledger:read", "default,bench-co")).secret
        await home.dispose()
        results: dict[str, list[float]] = {"single": [], "home": [], "company": []}
        for _ in range(rounds):
            async with serving(settings, routed=False) as base:
                results["single"] += await timed(f"{base}/mcp", key, calls)
            async with serving(settings, routed=True) as base:
                results["home"] += await timed(f"{base}/mcp", key, calls)
                results["company"] += await timed(f"{base}{companies.endpoint('bench-co')}", key, calls)
    single = statistics.median(results["single"])
    print(f"{'endpoint':<10} {'median ms':>10} {'p95 ms':>8} {'calls/s':>8} {'median/single':>14}")
    for name, times in results.items():
        median = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"{name:<10} {median:>10.2f} {p95:>8.2f} {1000 / statistics.mean(times):>8.0f} {median / single:>14.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main, args.calls, args.rounds)
