"""What the event outbox costs a write, and how fast the webhook worker delivers, in one run.

Writes: the same generated SKR03 bookings (bench/generate_ledger.py) on fresh SQLite ledgers, three ways:
without the outbox (its before_commit listener removed for the leg), with it and no endpoint, and with
it and one endpoint (a pending delivery per event). Each way runs `post_booking` one transaction per
booking (`--singles`) and the bulk path in transactions of `--chunk` (`--intents`). Then the worker
delivers the one-endpoint ledger's events to a local receiver answering 200. The modes run interleaved
in rounds; prints the median rates side by side, the ratios to the mode without the outbox, and the load
average.

    python bench/events.py                         # 3 rounds of 300 singles and 10,000 bulk intents
    python bench/events.py --singles 200 --intents 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

from generate_ledger import GENERATOR, bookings

from ledger_mcp.ledger import bulk, events, posting, webhooks
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.delivery import Deliverer, DeliveryOptions
from ledger_mcp.ledger.posting import BookingRequest
from ledger_mcp.server.app import prepare_ledger


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a batch of deliveries arrives at once


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def _fresh(root: Path, name: str, url: str | None) -> Database:
    path = root / name / "ledger.sqlite3"
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await prepare_ledger(db, "skr03")
    if url:
        await db.write(webhooks.add_endpoint, url, ["*"], True, GENERATOR)
    return db


async def leg(root: Path, name: str, singles: list[BookingRequest], many: list[BookingRequest], chunk: int,
              url: str | None, outbox: bool) -> tuple[float, float, Database]:
    db = await _fresh(root, name, url)
    if not outbox:
        event.remove(Session, "before_commit", events._write_outbox)
    try:
        start = time.perf_counter()
        for request in singles:
            await db.write(posting.post_booking, request, GENERATOR)
        single_rate = len(singles) / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(0, len(many), chunk):
            await db.write(bulk.post_many, many[i:i + chunk], GENERATOR, with_results=False)
        bulk_rate = len(many) / (time.perf_counter() - start)
    finally:
        if not outbox:
            event.listen(Session, "before_commit", events._write_outbox)
    return single_rate, bulk_rate, db


async def main(args: argparse.Namespace) -> None:
    root = Path(args.data_root or tempfile.mkdtemp(prefix="ledger-events-"))
    singles = list(bookings(args.singles, prefix="single"))
    many = list(bookings(args.intents, seed=2, prefix="bulk"))
    httpd = _Server(("127.0.0.1", 0), _Ok)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    modes = (("no outbox", None, False), ("outbox", None, True), ("outbox + endpoint", url, True))
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in modes}
    deliveries: list[float] = []
    load = os.getloadavg()[0]
    for n in range(args.rounds):  # interleaved: a machine whose load changes affects every mode alike
        for name, hook, outbox in modes:
            folder = f"{name.replace(' ', '_').replace('+', 'and')}-{n}"
            single, bulk_rate, db = await leg(root, folder, singles, many, args.chunk, hook, outbox)
            rates[name].append((single, bulk_rate))
            if hook:
                start = time.perf_counter()
                sent = await Deliverer(db, DeliveryOptions(batch=args.batch)).deliver_once()
                deliveries.append(sent / (time.perf_counter() - start))
            await db.dispose()
    httpd.shutdown()
    median = {name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
              for name, runs in rates.items()}
    base_single, base_bulk = median["no outbox"]
    print(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores; medians of "
          f"{args.rounds} rounds of {len(singles)} post_booking and {len(many)} bulk intents in parts of {args.chunk}")
    print(f"{'':20} {'post_booking/s':>15} {'ratio':>6} {'bulk intents/s':>15} {'ratio':>6}")
    for name, (single, bulk_rate) in median.items():
        print(f"{name:20} {single:15,.0f} {single / base_single:6.2f} {bulk_rate:15,.0f} {bulk_rate / base_bulk:6.2f}")
    print(f"webhook worker: {statistics.median(deliveries):,.0f} deliveries/s to a local receiver, {args.batch} at a "
          "time (claim and record: one transaction each per batch)")
    if not args.data_root:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--intents", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=20, help="deliveries claimed and sent at a time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-root")
    asyncio.run(main(parser.parse_args()))
