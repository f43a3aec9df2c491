"""ledger-mcp command line: serve, init, verify, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import anyio

from ledger_mcp import __version__
from ledger_mcp.settings import Settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (env LEDGER_MCP_DATA_DIR)")
    parser.add_argument("--database-url", help="SQLAlchemy async URL (env LEDGER_MCP_DATABASE_URL)")
    parser.add_argument("--actor", help="who this instance acts for (env LEDGER_MCP_ACTOR; default OS user)")
    parser.add_argument("--inbox", help="folders invoices may be ingested from by path, separated by "
                                        f"{os.pathsep!r} (env LEDGER_MCP_INBOX; default <data-dir>/inbox)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(data_dir=args.data_dir, database_url=args.database_url, actor=args.actor,
                         chart=getattr(args, "chart", None), inbox=args.inbox)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ledger-mcp", description="Double-entry ledger served over MCP.")
    parser.add_argument("--version", action="version", version=f"ledger-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the MCP server over stdio")
    _common(serve)
    init = commands.add_parser("init", help="create a ledger with a chart of accounts")
    _common(init)
    init.add_argument("--chart", choices=["skr03", "skr04"], default="skr03")
    init.add_argument("--currency", default="EUR", help="base currency (default EUR)")
    verify = commands.add_parser("verify", help="verify the hash chain; exit 1 if broken")
    _common(verify)
    demo = commands.add_parser("demo", help="start the server over stdio, book like an agent, print it")
    demo.add_argument("--data-dir", help="ledger to use (default: a fresh temporary one)")

    args = parser.parse_args(argv)
    # stdout belongs to the MCP protocol on stdio: logs go to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        from ledger_mcp.server import build_server

        build_server(_settings(args)).run("stdio")
    elif args.command == "init":
        sys.exit(anyio.run(_init, _settings(args), args.currency))
    elif args.command == "verify":
        sys.exit(anyio.run(_verify, _settings(args)))
    elif args.command == "demo":
        from ledger_mcp.demo import run_demo

        anyio.run(run_demo, args.data_dir)


async def _init(settings: Settings, currency: str) -> int:
    from ledger_mcp.ledger.accounts import count_accounts, initialise, read_meta
    from ledger_mcp.ledger.db import Database
    from ledger_mcp.ledger.money import minor_units

    minor_units(currency.upper())
    settings.prepare()
    db = Database(settings.database_url)
    try:
        await db.create_schema()
        created = await db.write(initialise, settings.chart, currency.upper())  # type: ignore[arg-type]
        meta = await db.read(read_meta)
        count = await db.read(count_accounts)
    finally:
        await db.dispose()
    state = "created" if created else "already set up"
    print(f"ledger {state}: chart {meta['chart']}, {count} accounts, base currency {meta['base_currency']}, "
          f"database {settings.database_url}")
    if not created and meta["chart"] != settings.chart:
        print(f"note: this ledger uses {meta['chart']}; a chart cannot be changed once set.", file=sys.stderr)
        return 1
    return 0


async def _verify(settings: Settings) -> int:
    from ledger_mcp.ledger.chain import verify_chain
    from ledger_mcp.ledger.db import Database

    db = Database(settings.database_url)
    try:
        report = await db.read(verify_chain)
    finally:
        await db.dispose()
    print(json.dumps(report.__dict__, indent=2))
    return 0 if report.ok else 1
