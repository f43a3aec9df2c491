"""ledger-mcp command line: serve, init, verify, keys, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import anyio

from ledger_mcp import __version__
from ledger_mcp.settings import CONFIRM_POLICIES, Settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (env LEDGER_MCP_DATA_DIR)")
    parser.add_argument("--database-url", help="SQLAlchemy async URL (env LEDGER_MCP_DATABASE_URL)")
    parser.add_argument("--actor", help="who this instance acts for (env LEDGER_MCP_ACTOR; default OS user)")
    parser.add_argument("--inbox", help="folders invoices may be ingested from by path, separated by "
                                        f"{os.pathsep!r} (env LEDGER_MCP_INBOX; default <data-dir>/inbox)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(data_dir=args.data_dir, database_url=args.database_url, actor=args.actor,
                         chart=getattr(args, "chart", None), read_only=getattr(args, "read_only", None),
                         tools=getattr(args, "tools", None), confirm_policy=getattr(args, "confirm_policy", None),
                         inbox=getattr(args, "inbox", None))


def _env_list(name: str) -> list[str]:
    return [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ledger-mcp", description="Double-entry ledger served over MCP.")
    parser.add_argument("--version", action="version", version=f"ledger-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the MCP server (stdio; --http for streamable HTTP)")
    _common(serve)
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp (API keys required)")
    serve.add_argument("--host", default=os.environ.get("LEDGER_MCP_HOST", "127.0.0.1"),
                       help="HTTP listen address (env LEDGER_MCP_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("LEDGER_MCP_PORT", "8000")),
                       help="HTTP port (env LEDGER_MCP_PORT; default 8000)")
    serve.add_argument("--allowed-host", action="append", default=_env_list("LEDGER_MCP_ALLOWED_HOSTS"),
                       help="extra accepted Host header, e.g. ledger.example.com:443 (repeatable; env "
                            "LEDGER_MCP_ALLOWED_HOSTS, comma-separated)")
    serve.add_argument("--public-url", default=os.environ.get("LEDGER_MCP_PUBLIC_URL"),
                       help="base URL clients use when behind a proxy (env LEDGER_MCP_PUBLIC_URL)")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="HTTP without API keys, every caller has every scope: for test clients on a "
                            "loopback address only")
    serve.add_argument("--read-only", action="store_true", default=None,
                       help="offer only reading tools (env LEDGER_MCP_READ_ONLY=1)")
    serve.add_argument("--tools", help="comma-separated tool allow-list (env LEDGER_MCP_TOOLS)")
    serve.add_argument("--confirm-policy", choices=CONFIRM_POLICIES,
                       help="when a client cannot ask a human to confirm a consequential action, and always "
                            "over HTTP: pending (a human grants it with `ledger-mcp confirm grant` or an "
                            "approver's key), refuse, allow_and_record (env LEDGER_MCP_CONFIRM_POLICY; default "
                            "pending)")
    keys = commands.add_parser("keys", help="manage API keys for the HTTP transport")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key; its secret is printed once")
    _common(create)
    create.add_argument("--label", required=True, help="who or what uses the key")
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. ledger:read,ledger:book")
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    _common(listing)
    revoke = key_commands.add_parser("revoke", help="revoke a key by its prefix")
    _common(revoke)
    revoke.add_argument("prefix", help="e.g. lmk_ab12cd34")
    init = commands.add_parser("init", help="create a ledger with a chart of accounts")
    _common(init)
    init.add_argument("--chart", choices=["skr03", "skr04"], default="skr03")
    init.add_argument("--currency", default="EUR", help="base currency (default EUR)")
    verify = commands.add_parser("verify", help="verify the hash chain; exit 1 if broken")
    _common(verify)
    demo = commands.add_parser("demo", help="start the server over stdio, book like an agent, print it")
    demo.add_argument("--data-dir", help="ledger to use (default: a fresh temporary one)")
    demo.add_argument("--database-url", help="database to use instead (env LEDGER_MCP_DATABASE_URL)")

    args = parser.parse_args(argv)
    # stdout belongs to the MCP protocol on stdio: logs go to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        try:
            settings = _settings(args)
        except ValueError as exc:
            sys.exit(_refuse(exc))
        if args.http:
            sys.exit(anyio.run(_serve_http, settings, args))
        from ledger_mcp.server import build_server

        try:
            server = build_server(settings)
        except ValueError as exc:
            sys.exit(_refuse(exc))
        server.run("stdio")
    elif args.command == "keys":
        sys.exit(anyio.run(_keys, _settings(args), args))
    elif args.command == "init":
        sys.exit(anyio.run(_init, _settings(args), args.currency))
    elif args.command == "verify":
        sys.exit(anyio.run(_verify, _settings(args)))
    elif args.command == "demo":
        from ledger_mcp.demo import run_demo

        anyio.run(run_demo, args.data_dir, args.database_url or os.environ.get("LEDGER_MCP_DATABASE_URL"))


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


def _refuse(exc: ValueError) -> int:
    """A configuration mistake: say what it is, without a traceback."""
    print(f"ledger-mcp: {exc}", file=sys.stderr)
    return 2


async def _serve_http(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger.db import Database
    from ledger_mcp.server import build_server
    from ledger_mcp.server.app import prepare_ledger
    from ledger_mcp.server.http import HttpOptions, count_active_keys, serve

    try:
        options = HttpOptions(host=args.host, port=args.port, allowed_hosts=tuple(args.allowed_host),
                              public_url=args.public_url, require_key=not args.insecure_no_auth)
        server = build_server(settings, options)
    except ValueError as exc:
        return _refuse(exc)
    if options.require_key:
        # Refuse to start rather than serve an endpoint nobody can use: a missing key is a set-up mistake.
        settings.prepare()
        db = Database(settings.database_url)
        try:
            await prepare_ledger(db, settings.chart)
            active = await count_active_keys(db)
        finally:
            await db.dispose()
        if not active:
            print("ledger-mcp: no active API key; create one first:\n"
                  "  ledger-mcp keys create --label NAME --scopes ledger:read,ledger:book", file=sys.stderr)
            return 2
    print(f"ledger-mcp: serving MCP at {options.base_url}/mcp", file=sys.stderr)
    await serve(server, options)
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger import api_keys
    from ledger_mcp.ledger.db import Database
    from ledger_mcp.ledger.errors import LedgerError
    from ledger_mcp.server.app import prepare_ledger

    settings.prepare()
    db = Database(settings.database_url)
    try:
        await prepare_ledger(db, settings.chart)
        if args.keys_command == "create":
            created = await db.write(api_keys.create_api_key, args.label, args.scopes)
            print(f"created key {created.info.prefix} ({created.info.label}) with scopes "
                  f"{','.join(created.info.scopes)}", file=sys.stderr)
            print("the secret is shown only now; send it as 'Authorization: Bearer <secret>':", file=sys.stderr)
            print(created.secret)
        elif args.keys_command == "list":
            for key in await db.read(api_keys.list_api_keys):
                state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
                print(f"{key.prefix}  {key.label}  {','.join(key.scopes)}  created {key.created_at}  {state}  "
                      f"last used {key.last_used_at or 'never'}")
        else:
            revoked = await db.write(api_keys.revoke_api_key, args.prefix)
            print(f"revoked {revoked.prefix} ({revoked.label}) at {revoked.revoked_at}")
    except LedgerError as exc:
        print(f"ledger-mcp: {exc.message} {exc.hint}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    return 0
