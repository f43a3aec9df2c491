"""The chain heads outside the database: tail deletion, an older copy of the file and recomputed hashes
are named by the anchor log, and by a signed checkpoint when the anchor log was rewritten too."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger_mcp import cli
from ledger_mcp.ledger import chain, posting, records
from ledger_mcp.ledger.anchor import current_heads, export_checkpoint, read_checkpoint
from ledger_mcp.ledger.models import Intent, JournalLine
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.settings import Settings
from tests.conftest import CLI, ON_POSTGRES, call, fail
from tests.http.conftest import connect, running
from tests.ledger.test_tamper import Books, books_fixture, sql  # noqa: F401  (the books fixture)

pytestmark = pytest.mark.anyio


def booking(day: str, amount: str = "10.00") -> BookingRequest:
    return BookingRequest(booking_date=day, description="Papier",
                          lines=[BookingLine(debit_account="4930", credit_account="1200", amount=amount)])


async def cut_the_newest_booking(books: Books) -> None:
    """Delete the newest booking with its lines and its history: a clean tail, every chain consistent."""
    intent = (await sql(books.db, "SELECT id FROM intent ORDER BY created_at DESC LIMIT 1"))[0]
    first_event = (await sql(books.db, "SELECT min(seq) AS seq FROM record_event WHERE table_name = 'intent' "
                                       "AND row_key = :key", key=json.dumps([intent["id"]])))[0]["seq"]
    await sql(books.db, "DELETE FROM journal_line WHERE intent_id = :id", id=intent["id"])
    await sql(books.db, "DELETE FROM intent WHERE id = :id", id=intent["id"])
    await sql(books.db, "DELETE FROM record_event WHERE seq >= :seq", seq=first_event)


async def assert_anchor_names(books: Books, chain_name: str, words: str) -> None:
    unanchored = await books.db.read(chain.verify_chain)
    assert unanchored.ok, "without the anchor this tamper is invisible, as in the issue"
    report = await books.verify()
    assert not report.ok and report.first_break, "the anchor log must name it"
    assert report.first_break["table"] == chain_name and words in report.first_break["problem"], report.first_break


async def test_deleting_the_newest_intent_with_its_history_is_named(books: Books) -> None:
    await books.db.write(posting.post_booking, booking("2024-12-05"), CLI)
    await cut_the_newest_booking(books)
    await assert_anchor_names(books, "journal_line", "no longer holds")


async def test_deleting_the_newest_period_events_is_named_and_reopens_nothing(books: Books) -> None:
    await sql(books.db, "DELETE FROM period_event WHERE seq >= (SELECT min(seq) FROM period_event "
                        "WHERE action = 'approve_lock')")
    await books.db.write(posting.post_booking, booking("2024-11-28"), CLI)  # accepted: the lock is gone
    report = await books.verify()
    assert not report.ok and report.first_break and report.first_break["table"] == "period_event"
    assert "no longer holds" in report.first_break["problem"]


@pytest.mark.skipif(ON_POSTGRES, reason="restoring an older copy of the database file is SQLite's case")
async def test_an_older_copy_of_the_database_file_is_named(books: Books) -> None:
    path = Path(books.settings.database_display)
    copy = path.with_name("copy.sqlite3")
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    await books.db.write(posting.post_booking, booking("2024-12-03"), CLI)
    assert (await books.verify()).ok
    await books.db.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    copy.replace(path)
    await assert_anchor_names(books, "journal_line", "restored from an older copy")


async def test_recomputed_journal_hashes_are_named(books: Books) -> None:
    """An edit of the newest line (an open period) with every hash after it recomputed by the project's
    own functions: the journal chain is consistent again, the anchored head is not."""
    head = (await sql(books.db, "SELECT max(journal_number) AS n FROM journal_line"))[0]["n"]
    await sql(books.db, "UPDATE journal_line SET amount = amount + 100, base_amount = base_amount + 100 "
                        "WHERE journal_number = :n", n=head)

    async def rehash(session: AsyncSession) -> None:
        line = await session.get(JournalLine, head)
        assert line is not None
        intent = await session.get(Intent, line.intent_id)
        chain.seal_line(line, chain.intent_hash(intent), line.prev_hash)

    await books.db.write(rehash)
    await assert_anchor_names(books, "journal_line", "recomputed")


async def test_recomputed_history_is_named(books: Books) -> None:
    """An invoice total changed, its snapshot in the history changed to match, every event hash after it
    recomputed."""
    await sql(books.db, "UPDATE invoice SET total_gross = total_gross + 100")
    events = await sql(books.db, "SELECT * FROM record_event ORDER BY seq")
    prev = records.GENESIS_HASH
    for event in events:
        snapshot = event["snapshot"]
        if event["table_name"] == "invoice" and snapshot:
            data = json.loads(snapshot)
            data["total_gross"] += 100
            snapshot = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = records.event_hash(prev, event["seq"], event["table_name"], event["row_key"], event["action"],
                                    snapshot, event["created_at"])
        await sql(books.db, "UPDATE record_event SET snapshot = :s, prev_hash = :p, event_hash = :h WHERE seq = :n",
                  s=snapshot, p=prev, h=digest, n=event["seq"])
        prev = digest
    await assert_anchor_names(books, "record_event", "recomputed")


async def test_a_checkpoint_names_what_a_rewritten_anchor_log_hides(books: Books) -> None:
    await books.db.write(posting.post_booking, booking("2024-12-05"), CLI)
    checkpoint = export_checkpoint(await books.db.read(current_heads), books.settings.data_dir, "test ledger")
    anchor = read_checkpoint(json.dumps(checkpoint), checkpoint["public_key"])
    assert (await books.db.read(chain.verify_chain, anchors=[anchor])).ok
    await cut_the_newest_booking(books)
    assert books.settings.anchor_log is not None
    books.settings.anchor_log.unlink()  # whoever rewrote the database rewrote the anchor log as well
    report = await books.db.read(chain.verify_chain, anchors=[anchor])
    assert not report.ok and report.first_break and report.first_break["table"] == "journal_line"
    assert report.first_break["problem"].startswith(f"the {anchor.source} records journal_line")


def test_a_changed_or_foreign_checkpoint_is_refused(tmp_path: Path) -> None:
    checkpoint = export_checkpoint({"journal_line": (3, "a" * 64)}, tmp_path, "test ledger")
    assert (tmp_path / "anchor-key.pem").stat().st_mode & 0o077 == 0
    assert read_checkpoint(json.dumps(checkpoint)).heads == {"journal_line": (3, "a" * 64)}
    changed = {**checkpoint, "heads": {"journal_line": {"number": 2, "hash": "a" * 64}}}
    with pytest.raises(ValueError, match="signature"):
        read_checkpoint(json.dumps(changed))
    other = export_checkpoint({"journal_line": (3, "a" * 64)}, tmp_path / "..", "other")
    with pytest.raises(ValueError, match="another key"):
        read_checkpoint(json.dumps(other), checkpoint["public_key"])


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    return int(exit_.value.code or 0), capsys.readouterr().out


def test_anchor_export_and_verify_with_the_checkpoint(settings: Settings, capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    where = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url]
    assert _cli(capsys, "init", *where)[0] == 0

    async def post() -> None:
        from ledger_mcp.ledger.db import Database
        db = Database(settings.database_url, anchor_log=settings.anchor_log)
        await db.write(posting.post_booking, booking("2026-03-02"), CLI)
        await db.dispose()

    anyio.run(post)
    code, out = _cli(capsys, "anchor", "export", *where)
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(out)
    key = json.loads(out)["public_key"]
    code, out = _cli(capsys, "verify", *where, "--checkpoint", str(checkpoint), "--public-key", key)
    assert code == 0 and json.loads(out)["anchors"][1]["heads"]["journal_line"] == {"anchored": 1, "database": 1}
    checkpoint.write_text(checkpoint.read_text().replace('"number": 1', '"number": 2'))
    assert _cli(capsys, "verify", *where, "--checkpoint", str(checkpoint))[0] == cli.FOUND_PROBLEM


async def test_special_accounts_are_chosen_by_an_administrator(settings: Settings) -> None:
    """The account redirect of the issue: a ledger:book key may not add a payables account 1599 (it would
    take every later invoice's payable from 1600); an administrator may, and the history records it."""
    from ledger_mcp.ledger import api_keys
    from ledger_mcp.ledger.db import Database

    async with running(settings) as ledger:
        db = Database(settings.database_url)
        booker = (await db.write(api_keys.create_api_key, "agent", "ledger:read,ledger:book")).secret
        admin = (await db.write(api_keys.create_api_key, "admin", "ledger:admin")).secret
        async with connect(ledger.url, booker) as client:
            for category in ("payables", "opening_balance", "receivables", "result", "input_vat", " Payables"):
                error = await fail(client, "create_account", number="1599", name="Redirect", type="liability",
                                   category=category)
                assert error["code"] == "MISSING_SCOPE" and error["details"]["required_scope"] == "ledger:admin"
            await call(client, "create_account", number="4931", name="Software", type="expense", category="office")
        async with connect(ledger.url, admin) as client:
            await call(client, "create_account", number="1599", name="Verbindlichkeiten 2", type="liability",
                       category="payables")
        events = await sql(Books(settings, db).db, "SELECT action, snapshot FROM record_event "
                                                   "WHERE table_name = 'account' AND row_key = '[\"1599\"]'")
        assert [(e["action"], json.loads(e["snapshot"])["category"]) for e in events] == [("insert", "payables")]
        await db.dispose()
