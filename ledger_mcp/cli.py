"""ledger-mcp command line: serve, init, verify, anchor, import, keys, companies, webhooks, demo.

Only `init` and `serve` create a ledger (or upgrade its schema); every other command opens an
existing one and refuses when there is none. A mistake the user can fix (no ledger, an unreachable
database, a bad option) ends with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import anyio

from ledger_mcp import __version__
from ledger_mcp.settings import CHARTS, CONFIRM_POLICIES, Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger_mcp.ledger.db import Database
    from ledger_mcp.server.app import LedgerServer

# Exit codes: 1 the command ran and found a problem (a broken chain, a refused key operation);
# 2 it could not run (a set-up or usage mistake).
FOUND_PROBLEM = 1
USAGE = 2


class Refused(Exception):
    """A mistake the user can fix: printed as one line, exit `code`."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """Usage mistakes as one line that points to --help, instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a number from 1 to 65535, not {text!r}")
    return port


def _env_list(name: str) -> list[str]:
    return [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]


def _location(parser: argparse.ArgumentParser, *, company: bool = True) -> None:
    """Where the ledger is; with `company`, also which company of the home ledger's catalog to work on."""
    parser.add_argument("--data-dir", help="data directory: the SQLite file, stored documents, the inbox (env "
                                           "LEDGER_MCP_DATA_DIR; default the user data dir, e.g. "
                                           "~/.local/share/ledger-mcp)")
    parser.add_argument("--database-url", help="SQLAlchemy async URL, e.g. postgresql+asyncpg://user:password@host"
                                               ":5432/ledger (env LEDGER_MCP_DATABASE_URL; default "
                                               "sqlite+aiosqlite:///<data-dir>/ledger.sqlite3)")
    parser.add_argument("--anchor-log", help="file the chain heads of every write are appended to, kept apart "
                                             "from the database (env LEDGER_MCP_ANCHOR_LOG; default "
                                             "<data-dir>/anchor.jsonl)")
    if company:
        parser.add_argument("--company", default=os.environ.get("LEDGER_MCP_COMPANY"),
                            help="work on this company of the home ledger's catalog (env LEDGER_MCP_COMPANY; "
                                 "default: the home ledger, 'default'); the other options locate the home ledger")


def _common(parser: argparse.ArgumentParser) -> None:
    _location(parser)
    parser.add_argument("--actor", help="who this instance acts for, recorded in provenance (env LEDGER_MCP_ACTOR; "
                                        "default the OS user)")
    parser.add_argument("--inbox", help=f"folders invoices may be ingested from by path, separated by {os.pathsep!r} "
                                        "(env LEDGER_MCP_INBOX; default <data-dir>/inbox)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ledger-mcp", description="Double-entry ledger served over MCP.")
    parser.add_argument("--version", action="version", version=f"ledger-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(sub: argparse._SubParsersAction[Parser], name: str, text: str) -> Parser:
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")

    serve = command(commands, "serve", "run the MCP server over stdio (--http: streamable HTTP); creates the "
                                       "ledger on first start")
    _common(serve)
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp, API keys required "
                                                           "(default: stdio)")
    serve.add_argument("--host", default=os.environ.get("LEDGER_MCP_HOST", "127.0.0.1"),
                       help="HTTP listen address (env LEDGER_MCP_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=os.environ.get("LEDGER_MCP_PORT", "8000"),
                       help="HTTP port (env LEDGER_MCP_PORT; default 8000)")
    serve.add_argument("--allowed-host", action="append", default=_env_list("LEDGER_MCP_ALLOWED_HOSTS"),
                       help="extra accepted Host header, e.g. ledger.example.com:443 (repeatable; env "
                            "LEDGER_MCP_ALLOWED_HOSTS, comma-separated; default none besides host:port)")
    serve.add_argument("--public-url", default=os.environ.get("LEDGER_MCP_PUBLIC_URL"),
                       help="base URL clients use when behind a proxy (env LEDGER_MCP_PUBLIC_URL; default "
                            "http://host:port)")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="HTTP without API keys, every caller has every scope: for test clients on a "
                            "loopback address only (default: off)")
    serve.add_argument("--read-only", action="store_true", default=None,
                       help="offer only reading tools (env LEDGER_MCP_READ_ONLY=1; default: off)")
    serve.add_argument("--toolsets", help="comma-separated toolsets to offer: default, all, or names such as setup, "
                                          "fx (env LEDGER_MCP_TOOLSETS; default: default)")
    serve.add_argument("--tools", help="comma-separated tool allow-list, overriding --toolsets (env LEDGER_MCP_TOOLS; "
                                       "default: the toolsets' tools)")
    serve.add_argument("--confirm-policy", choices=CONFIRM_POLICIES,
                       help="when a client cannot ask a human to confirm a consequential action, and always "
                            "over HTTP: pending (a human grants it with `ledger-mcp confirm grant` or an "
                            "approver's key), refuse, allow_and_record (env LEDGER_MCP_CONFIRM_POLICY; default "
                            "pending)")
    serve.add_argument("--chart", choices=CHARTS, help="chart of accounts of a ledger created on first start "
                                                       "(env LEDGER_MCP_CHART; default skr03)")

    keys = command(commands, "keys", "manage the API keys of the HTTP transport")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = command(key_commands, "create", "create a key; its secret is printed once")
    _location(create, company=False)
    create.add_argument("--label", required=True, help="who or what uses the key, e.g. invoice-agent")
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. ledger:read,ledger:book")
    create.add_argument("--companies", default="default",
                        help="comma-separated companies the key holds, e.g. default,mueller (default: default, the "
                             "home ledger)")
    listing = command(key_commands, "list", "list keys: prefix, label, scopes, last use (never their secrets)")
    _location(listing, company=False)
    revoke = command(key_commands, "revoke", "revoke a key by its prefix, effective from the next request")
    _location(revoke, company=False)
    revoke.add_argument("prefix", help="the key's prefix, e.g. lmk_ab12cd34")

    hooks = command(commands, "webhooks", "manage webhook endpoints and deliver the events they receive")
    hook_commands = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    add = command(hook_commands, "add", "register an endpoint; its signing secret is printed once")
    _location(add)
    add.add_argument("url", help="https URL that receives the events as signed JSON POSTs")
    add.add_argument("--events", required=True, help="comma-separated event types, e.g. intent.posted,period.locked, "
                                                     "or * for all")
    add.add_argument("--allow-private", action="store_true",
                     help="allow a URL on a private, loopback or link-local address, and plain http (default: "
                          "refused)")
    add.add_argument("--actor", help="who registers it (env LEDGER_MCP_ACTOR; default: the OS user)")
    listed = command(hook_commands, "list", "list active endpoints with pending and failed deliveries")
    _location(listed)
    removed = command(hook_commands, "remove", "stop delivering to an endpoint (its delivery log stays)")
    _location(removed)
    removed.add_argument("endpoint_id", help="e.g. whk_1a2b3c4d5e6f7a8b, from `webhooks list`")
    log_command = command(hook_commands, "deliveries", "the delivery log, newest first, or of one event")
    _location(log_command)
    log_command.add_argument("event_id", nargs="?", help="e.g. evt_..., from the log or a request's "
                                                         "Ledger-MCP-Event-Id header (default: all)")
    replayed = command(hook_commands, "replay", "send one event again to every endpoint that wants it")
    _location(replayed)
    replayed.add_argument("event_id", help="e.g. evt_..., from `webhooks deliveries`")
    pruned = command(hook_commands, "prune", "delete old events and their delivery log (none with a delivery "
                                             "still pending)")
    _location(pruned)
    pruned.add_argument("--older-than", type=float, default=90, metavar="DAYS", help="age in days (default 90)")
    deliver = command(hook_commands, "deliver", "send every delivery that is due now, once (e.g. from cron when no "
                                                "server runs)")
    _location(deliver)

    confirm = command(commands, "confirm", "decide what an agent is waiting for a human to confirm (a Storno, a "
                                           "period lock, a large approval)")
    confirm_commands = confirm.add_subparsers(dest="confirm_command", required=True, metavar="ACTION")
    pending = command(confirm_commands, "list", "list pending confirmations with their questions")
    _location(pending)
    for action, text in (("grant", "let the waiting call go ahead once"), ("deny", "refuse the waiting call")):
        decision = command(confirm_commands, action, text)
        _location(decision)
        decision.add_argument("confirmation_id", help="e.g. cnf_1a2b3c4d5e6f7a8b, from `confirm list`")
        decision.add_argument("--note", help="recorded with the decision (default: none)")
        decision.add_argument("--actor", help="who decides (env LEDGER_MCP_ACTOR; default: the OS user)")

    init = command(commands, "init", "create a ledger with a chart of accounts, or upgrade an existing "
                                     "ledger's schema")
    _location(init)
    init.add_argument("--chart", choices=CHARTS, help="chart of accounts (env LEDGER_MCP_CHART; default skr03); "
                                                      "cannot be changed once set")
    init.add_argument("--currency", default="EUR", help="base currency, ISO 4217 (default EUR)")
    init.add_argument("--name", help="the company's name, printed on reports and SEPA files; sets or changes it "
                                     "(default: unchanged)")

    verify = command(commands, "verify", "recompute the hash chains, the locked periods' closing hashes and the "
                                         "record history, check the anchor log; exit 1 if broken")
    _location(verify)
    verify.add_argument("--checkpoint", help="also check against a checkpoint file from `anchor export` "
                                             "(default: the anchor log only)")
    verify.add_argument("--public-key", help="the public key the checkpoint must be signed with (base64, as "
                                             "`anchor export` printed it; default: the key the checkpoint names)")
    anchor = command(commands, "anchor", "signed checkpoints of the chain heads, to keep apart from the ledger")
    anchor_commands = anchor.add_subparsers(dest="anchor_command", required=True, metavar="ACTION")
    export = command(anchor_commands, "export", "print a checkpoint of the current chain heads, signed with the "
                                                "ledger's key (<data-dir>/anchor-key.pem)")
    _location(export)

    importing = command(commands, "import", "book a Beancount file, an hledger/ledger journal or a DATEV EXTF "
                                            "Buchungsstapel into the ledger; the same file twice imports nothing")
    _location(importing)
    importing.add_argument("file", type=Path, help="the file to import")
    importing.add_argument("--format", choices=("beancount", "journal", "datev"),
                           help="default: DATEV by its EXTF header, Beancount by .beancount/.bean, else journal")
    importing.add_argument("--create-accounts", action="store_true",
                           help="create accounts the chart lacks, with a guessed type (default: refuse and list them)")
    importing.add_argument("--account-map", type=Path,
                           help="CSV source_account,number for accounts without a number in their name (default: none)")
    importing.add_argument("--allow-duplicates", action="store_true",
                           help="book transactions that look like an existing one (recorded; default: refuse)")
    importing.add_argument("--actor", help="who imports (env LEDGER_MCP_ACTOR; default: the OS user)")

    companies = command(commands, "companies", "several companies in one instance, each a ledger of its own")
    company_commands = companies.add_subparsers(dest="companies_command", required=True, metavar="ACTION")
    new = command(company_commands, "create", "create a company and its ledger, listed in the home ledger")
    new.add_argument("slug", help="its name in endpoints and --company, e.g. mueller-gmbh (a-z, 0-9, -)")
    new.add_argument("--name", required=True, help="the company's name, e.g. 'Müller GmbH'")
    new.add_argument("--chart", choices=CHARTS, help="its chart of accounts (env LEDGER_MCP_CHART; default skr03)")
    new.add_argument("--currency", default="EUR", help="its base currency, ISO 4217 (default EUR)")
    new.add_argument("--data-dir", help="the home ledger's data directory, where the company gets "
                                        "companies/<slug> (env LEDGER_MCP_DATA_DIR; default the user data dir)")
    new.add_argument("--database-url", dest="company_database_url",
                     help="the company's own database, e.g. postgresql+asyncpg://user:password@host:5432/mueller "
                          "(it must exist; default: SQLite in <data-dir>/companies/<slug>); the home ledger's is "
                          "LEDGER_MCP_DATABASE_URL")
    listed = command(company_commands, "list", "list the companies: slug, name, chart, database, endpoint")
    _location(listed, company=False)

    demo = command(commands, "demo", "start the server over stdio, book like an agent, print every call")
    demo.add_argument("--data-dir", help="ledger to use (default: a fresh temporary one)")
    demo.add_argument("--database-url", help="database to use instead (env LEDGER_MCP_DATABASE_URL; default: "
                                             "SQLite in the data directory)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return Settings.load(data_dir=args.data_dir, database_url=getattr(args, "database_url", None),
                             actor=getattr(args, "actor", None), chart=getattr(args, "chart", None),
                             read_only=getattr(args, "read_only", None), tools=getattr(args, "tools", None),
                             toolsets=getattr(args, "toolsets", None),
                             confirm_policy=getattr(args, "confirm_policy", None), inbox=getattr(args, "inbox", None),
                             anchor_log=getattr(args, "anchor_log", None))
    except ValueError as exc:
        raise Refused(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # stdout belongs to the MCP protocol on stdio: logs go to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(_run(args))
    except Refused as exc:
        print(f"ledger-mcp: {exc}", file=sys.stderr)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        sys.exit(130)


def _run(args: argparse.Namespace) -> int:
    from ledger_mcp.ledger.errors import LedgerError

    if args.command == "demo":
        from ledger_mcp.demo import run_demo

        try:
            anyio.run(run_demo, args.data_dir, args.database_url or os.environ.get("LEDGER_MCP_DATABASE_URL"))
        except Exception as exc:
            if not _server_gone(exc):
                raise
            raise Refused("the demo's server stopped before answering; its reason is on the line above") from None
        return 0
    try:
        if args.command == "serve":
            return _serve(args)
        settings = _command_settings(args)
        if args.command == "keys":
            return anyio.run(_keys, settings, args)
        if args.command == "companies":
            return anyio.run(_companies, settings, args)
        if args.command == "init":
            return anyio.run(_init, settings, args)
        if args.command == "confirm":
            return anyio.run(_confirm, settings, args)
        if args.command == "webhooks":
            return anyio.run(_webhooks, settings, args)
        if args.command == "import":
            return anyio.run(_import, settings, args)
        if args.command == "anchor":
            return anyio.run(_anchor_export, settings, args)
        return anyio.run(_verify, settings, args)
    except LedgerError as exc:
        raise Refused(f"{exc.message} {exc.hint}".strip(), FOUND_PROBLEM) from None


def _command_settings(args: argparse.Namespace) -> Settings:
    """The settings of the ledger the command works on: the home ledger's, or the company's it names."""
    settings = _settings(args)
    if getattr(args, "company", None):
        settings = anyio.run(_company_settings, settings, args)
    return settings


def _server_gone(exc: BaseException) -> bool:
    """The stdio server exited (its own one-line reason is already on stderr)."""
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, BaseExceptionGroup):
        return any(_server_gone(e) for e in exc.exceptions)
    return isinstance(exc, MCPError) and "closed" in str(exc).lower()


@asynccontextmanager
async def _ledger(settings: Settings, args: argparse.Namespace, *, create: bool,
                  db: Database | None = None) -> AsyncIterator[Database]:
    """The ledger's database (`db`, else one opened here and closed after). `create` (init, serve): make the
    data directory and bring the schema to the current revision. Otherwise the ledger must exist at the
    current revision; nothing is created. Database failures become one line naming the database and the cause."""
    from sqlalchemy.exc import DBAPIError

    from ledger_mcp import migrations
    from ledger_mcp.ledger.db import Database

    where = settings.database_display
    if create:
        try:
            settings.prepare()
        except OSError as exc:
            raise Refused(f"cannot create {exc.filename or settings.data_dir}: {exc.strerror or exc}") from None
    elif settings.database_url.startswith("sqlite"):
        # Opening a missing SQLite file would create it: look before connecting.
        path = Path(where)
        if not path.is_file() or path.stat().st_size == 0:
            raise _no_ledger(where, args)
    own = db is None
    if db is None:
        db = Database(settings.database_url, anchor_log=settings.anchor_log)
    try:
        if create:
            await db.create_schema()
        else:
            async with db.engine.connect() as conn:
                has_ledger = await conn.run_sync(_has_ledger)
                revision = await conn.run_sync(migrations.current)
            if not has_ledger:
                raise _no_ledger(where, args)
            if revision != migrations.head():
                raise Refused(f"the ledger at {where} has an older schema (revision {revision or 'baseline'}); "
                              f"upgrade it first: {_command('init', args)}")
        yield db
    except migrations.UnknownRevision as exc:
        raise Refused(f"{where}: {exc}") from None
    except OSError as exc:  # the server cannot be reached: refused, unknown host, timeout
        raise Refused(f"cannot reach the database {where}: {exc.strerror or exc}") from None
    except DBAPIError as exc:
        raise Refused(f"cannot use the database {where}: {str(exc.orig).strip() or type(exc.orig).__name__}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("asyncpg"):  # e.g. wrong password, no such database
            raise Refused(f"cannot use the database {where}: {exc}") from None
        raise
    finally:
        if own:
            await db.dispose()


def _has_ledger(conn: Connection) -> bool:
    from sqlalchemy import inspect, text

    return inspect(conn).has_table("ledger_meta") and bool(
        conn.execute(text("SELECT count(*) FROM ledger_meta")).scalar())


def _command(name: str, args: argparse.Namespace) -> str:
    """`ledger-mcp <name>` aimed at the same ledger as this command line."""
    from ledger_mcp.settings import display_url

    url = getattr(args, "database_url", None)
    where = (f" --database-url {display_url(url)}" if url else f" --data-dir {args.data_dir}" if args.data_dir else "")
    company = f" --company {args.company}" if getattr(args, "company", None) else ""
    return f"ledger-mcp {name}{where}{company}"


def _no_ledger(where: str, args: argparse.Namespace) -> Refused:
    return Refused(f"there is no ledger at {where}; create one with: {_command('init', args)}")


async def _init(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger.accounts import company_name, count_accounts, initialise, read_meta, set_company_name
    from ledger_mcp.ledger.money import minor_units

    currency = args.currency.upper()
    minor_units(currency)
    async with _ledger(settings, args, create=True) as db:
        created = await db.write(initialise, settings.chart, currency)  # type: ignore[arg-type]
        if args.name is not None:
            await db.write(set_company_name, args.name)
            if settings.home is not None:  # a company: its catalog entry in the home ledger says the same
                from ledger_mcp.ledger.companies import rename_company

                home_args = argparse.Namespace(**{**vars(args), "company": None})
                async with _ledger(settings.home, home_args, create=False) as home:
                    await home.write(rename_company, settings.company, args.name)
        meta = await db.read(read_meta)
        count = await db.read(count_accounts)
        name = await db.read(company_name)
    state = "created" if created else "already set up"
    print(f"ledger {state}: {name or 'no company name (--name)'}, chart {meta['chart']}, {count} accounts, base "
          f"currency {meta['base_currency']}, database {settings.database_display}")
    if not created and args.chart and meta["chart"] != args.chart:
        print(f"ledger-mcp: this ledger uses {meta['chart']}; a chart cannot be changed once set", file=sys.stderr)
        return FOUND_PROBLEM
    return 0


async def _verify(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger.anchor import Anchor, read_checkpoint
    from ledger_mcp.ledger.chain import verify_chain

    anchors: list[Anchor] = []
    if args.checkpoint:
        try:
            anchors.append(read_checkpoint(Path(args.checkpoint).read_text(encoding="utf-8"), args.public_key))
        except (OSError, ValueError) as exc:
            raise Refused(f"checkpoint {args.checkpoint}: {exc}", FOUND_PROBLEM) from None
    async with _ledger(settings, args, create=False) as db:
        try:
            log = db.anchor_log.anchor() if db.anchor_log else None
        except ValueError as exc:
            raise Refused(str(exc), FOUND_PROBLEM) from None
        report = await db.read(verify_chain, documents_dir=settings.documents_dir,
                               anchors=[log, *anchors] if log else anchors)
    print(json.dumps(report.__dict__, indent=2))
    if report.ok:
        return 0
    broken = report.first_break or {}
    in_journal = broken.get("journal_number") or broken.get("intent_id")
    keys = ("journal_number", "intent_id", "period") if in_journal else ("table", "row", "column", "period")
    where = ", ".join(f"{k.replace('_', ' ')} {broken[k]}" for k in keys if broken.get(k))
    print(f"ledger-mcp: the hash chain is broken ({where}): {broken.get('problem')}", file=sys.stderr)
    return FOUND_PROBLEM


async def _anchor_export(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger.anchor import current_heads, export_checkpoint

    async with _ledger(settings, args, create=False) as db:
        heads = await db.read(current_heads)
    checkpoint = export_checkpoint(heads, settings.data_dir, settings.database_display)
    print(json.dumps(checkpoint, indent=2))
    print(f"public key: {checkpoint['public_key']} (keep it with the checkpoint; verify --checkpoint FILE "
          f"--public-key KEY)", file=sys.stderr)
    return 0


@contextmanager
def _starting() -> Iterator[None]:
    """No garbage collection until the server is ready to serve (`_started`): starting makes many objects that live
    as long as the process (modules, classes, schemas, mappers), which every collection would walk again for nothing
    (a third of a start's time)."""
    gc.disable()
    try:
        yield
    finally:
        _started()


def _started() -> None:
    """The server is ready: what it made so far is frozen out of later collections, and collecting resumes."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _serve(args: argparse.Namespace) -> int:
    with _starting():
        return _start_serving(args)


def _start_serving(args: argparse.Namespace) -> int:
    settings = _command_settings(args)
    if args.http and settings.home is not None:
        raise Refused("over HTTP one instance serves the home ledger and every company (/companies/<slug>/mcp); "
                      "start it without --company")
    from ledger_mcp.server import build_server
    from ledger_mcp.server.http import HttpOptions

    try:
        options = HttpOptions(host=args.host, port=args.port, allowed_hosts=tuple(args.allowed_host),
                              public_url=args.public_url, require_key=not args.insecure_no_auth) if args.http \
            else None
        server = build_server(settings, options)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    if options is None:
        anyio.run(_serve_stdio, server, settings, args)
        return 0
    from ledger_mcp.server.http import serve

    with _listen(options.host, options.port) as sock:
        active_keys = anyio.run(_prepare_for_serving, settings, args)
        _started()
        if options.require_key and not active_keys:
            # An endpoint nobody can use is a set-up mistake: refuse to start.
            raise Refused("no active API key; create one first: "
                          f"{_command('keys create', args)} --label NAME --scopes ledger:read,ledger:book")
        print(f"ledger-mcp: serving MCP at {options.base_url}/mcp, companies at "
              f"{options.base_url}/companies/<slug>/mcp", file=sys.stderr)
        anyio.run(serve, server, options, sock)
    return 0


async def _serve_stdio(server: LedgerServer, settings: Settings, args: argparse.Namespace) -> None:
    """Open (or create) the ledger, then serve it: a database problem is one line here, not a failed lifespan
    inside the transport. One event loop and the server's own database for both: it is opened once."""
    from ledger_mcp.server.app import complete_ledger

    async with _ledger(settings, args, create=True, db=server.app.db) as db:
        await complete_ledger(db, settings.chart)
    server.prepared = True
    _started()
    if sys.stdin.isatty():  # someone typed the command: say why nothing seems to happen
        print("ledger-mcp: serving MCP over stdio for an MCP client that starts this command; Ctrl-C stops",
              file=sys.stderr)
    await server.run_stdio_async()


async def _prepare_for_serving(settings: Settings, args: argparse.Namespace) -> int:
    """Create or upgrade the ledger; the number of active API keys."""
    from ledger_mcp.server.app import complete_ledger
    from ledger_mcp.server.http import count_active_keys

    async with _ledger(settings, args, create=True) as db:
        await complete_ledger(db, settings.chart)
        return await count_active_keys(db)


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front, so that a busy port or a bad address is one clear line."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise Refused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _confirm(settings: Settings, args: argparse.Namespace) -> int:
    """The human's channel for confirmations: the server's machine, which the agent does not hold."""
    from ledger_mcp.ledger import confirmations

    async with _ledger(settings, args, create=False) as db:
        if args.confirm_command == "list":
            found = await db.read(confirmations.list_confirmations)
            for item in found:
                print(f"{item.id}  {item.created_at}  requested by {item.requested_by}\n    {item.question}")
            if not found:
                print("no pending confirmations", file=sys.stderr)
            return 0
        decided = await db.write(confirmations.decide, args.confirmation_id, grant=args.confirm_command == "grant",
                                 decided_by=f"user:{settings.actor}", via="cli", note=args.note)
    print(f"{decided.id} {decided.status}: {decided.question}")
    if decided.status == "granted":
        print("the agent may now repeat its call with this confirmation_id", file=sys.stderr)
    return 0


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from ledger_mcp.ledger.importers.importer import import_file
    from ledger_mcp.ledger.provenance import Channel, Provenance

    if not args.file.is_file():
        raise Refused(f"no such file: {args.file}")
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"{done:,} / {total:,} transactions ({rate:,.0f}/s)", file=sys.stderr)

    who = Provenance(surface="cli", channel=Channel.IMPORT, actor_type="user", actor_label=settings.actor)
    async with _ledger(settings, args, create=False) as db:
        report = await import_file(db, args.file, who, format=args.format, create_accounts=args.create_accounts,
                                   account_map=args.account_map, allow_duplicates=args.allow_duplicates,
                                   progress=progress)
    for number, name, kind, how in report.created_accounts:
        print(f"created account {number} {name!r} as {kind} ({how})")
    print(f"{args.file.name} ({report.format}): {report.transactions:,} transactions, {report.written:,} imported "
          f"({report.lines:,} journal lines), {report.replayed:,} already imported")
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger import api_keys
    from ledger_mcp.ledger.errors import LedgerError

    async with _ledger(settings, args, create=False) as db:
        try:
            if args.keys_command == "create":
                created = await db.write(api_keys.create_api_key, args.label, args.scopes, args.companies)
                print(f"created key {created.info.prefix} ({created.info.label}) with scopes "
                      f"{','.join(created.info.scopes)} for {','.join(created.info.companies)}", file=sys.stderr)
                print("the secret is shown only now; send it as 'Authorization: Bearer <secret>':", file=sys.stderr)
                print(created.secret)
            elif args.keys_command == "list":
                for key in await db.read(api_keys.list_api_keys):
                    state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
                    print(f"{key.prefix}  {key.label}  {','.join(key.scopes)}  {','.join(key.companies)}  "
                          f"created {key.created_at}  {state}  "
                          f"last used {key.last_used_at or 'never'}")
            else:
                revoked = await db.write(api_keys.revoke_api_key, args.prefix)
                print(f"revoked {revoked.prefix} ({revoked.label}) at {revoked.revoked_at}")
        except LedgerError as exc:
            raise Refused(f"{exc.message} {exc.hint}".strip(), FOUND_PROBLEM) from None
    return 0


async def _company_settings(home: Settings, args: argparse.Namespace) -> Settings:
    """The settings of the company --company names, from the catalog of the home ledger the options locate."""
    from ledger_mcp.ledger import companies

    slug = args.company.strip()
    if slug == companies.HOME:
        return home
    home_args = argparse.Namespace(**{**vars(args), "company": None})
    async with _ledger(home, home_args, create=False) as db:
        company = await db.read(companies.get_company, slug)
    return home.for_company(company.slug, company.database_url, company.chart)


async def _companies(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger import companies
    from ledger_mcp.ledger.money import minor_units
    from ledger_mcp.settings import display_url

    if args.companies_command == "list":
        async with _ledger(settings, args, create=False) as home:
            found = await home.read(companies.list_companies)
        for c in found:
            where = display_url(c.database_url) if c.database_url else settings.for_company(c.slug).database_display
            print(f"{c.slug}  {c.name}  {c.chart}  {where}  {companies.endpoint(c.slug)}  created {c.created_at}")
        if not found:
            print("no companies besides the home ledger; add one with: ledger-mcp companies create SLUG --name NAME",
                  file=sys.stderr)
        return 0
    slug = companies.check_slug(args.slug)
    currency = args.currency.upper()
    minor_units(currency)
    try:
        company = settings.for_company(slug, args.company_database_url, settings.chart)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    async with _ledger(settings, args, create=False) as home:
        if slug in {c.slug for c in await home.read(companies.list_companies)} or slug == companies.HOME:
            raise Refused(f"company {slug} exists already (ledger-mcp companies list)", FOUND_PROBLEM)
        async with _ledger(company, args, create=True) as db:
            await db.write(companies.set_up_company, slug, args.name, company.chart, currency)  # type: ignore[arg-type]
        await home.write(companies.add_company, slug, args.name, company.chart, args.company_database_url)
    print(f"company {slug} ({args.name.strip()}) created: chart {company.chart}, base currency {currency}, database "
          f"{company.database_display}; serve it with --company {slug}, over HTTP at {companies.endpoint(slug)}")
    return 0


async def _webhooks(settings: Settings, args: argparse.Namespace) -> int:
    from ledger_mcp.ledger import webhooks
    from ledger_mcp.ledger.delivery import Deliverer, DeliveryOptions
    from ledger_mcp.ledger.provenance import Channel, Provenance

    action = args.webhooks_command
    async with _ledger(settings, args, create=False) as db:
        if action == "add":
            who = Provenance(surface="cli", channel=Channel.CLI, actor_type="user", actor_label=settings.actor)
            endpoint = await db.write(webhooks.add_endpoint, args.url, webhooks.parse_events(args.events),
                                      args.allow_private, who)
            print(f"added {endpoint.id} for {','.join(endpoint.events)} -> {endpoint.url}", file=sys.stderr)
            print("the signing secret is shown only now; check each request's Ledger-MCP-Signature with it:",
                  file=sys.stderr)
            print(endpoint.secret)
        elif action == "list":
            for e in await db.read(webhooks.list_endpoints):
                private = "  private allowed" if e.allow_private else ""
                print(f"{e.id}  {e.url}  {','.join(e.events)}  pending {e.pending}  failed {e.failed}  "
                      f"created {e.created_at} by {e.created_by}{private}")
        elif action == "remove":
            gone = await db.write(webhooks.remove_endpoint, args.endpoint_id)
            print(f"removed {gone.id} ({gone.url}) at {gone.removed_at}")
        elif action == "deliveries":
            for d in await db.read(webhooks.list_deliveries, args.event_id):
                due = f", next attempt {d.next_attempt_at}" if d.next_attempt_at else ""
                print(f"{d.event_id}  {d.event_type}  {d.endpoint_id}  {d.url}  {d.status} after {d.attempts} "
                      f"attempt(s){due}")
                for a in d.log:
                    print(f"    #{a.attempt} {a.started_at}  {a.status_code or '-'}  {a.duration_ms} ms"
                          f"{'  ' + a.error if a.error else ''}")
        elif action == "prune":
            pruned, before = await db.write(webhooks.prune, args.older_than)
            print(f"{pruned} event(s) from before {before} deleted with their delivery log")
        elif action == "replay":
            pending = await db.write(webhooks.replay, args.event_id)
            print(f"{args.event_id}: {pending} deliver{'y' if pending == 1 else 'ies'} pending")
        else:
            try:
                options = DeliveryOptions.from_env()
            except ValueError as exc:
                raise Refused(str(exc)) from None
            attempts = await Deliverer(db, options).deliver_once()
            print(f"{attempts} attempt(s) made", file=sys.stderr)
    return 0
