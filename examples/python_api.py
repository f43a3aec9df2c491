"""The ledger from Python, without MCP: create a ledger, book an invoice, print the trial balance and
check the hash chain. The same functions the MCP tools call, in-process.

    python examples/python_api.py                        # a fresh temporary ledger
    python examples/python_api.py --data-dir DIR         # a ledger in DIR (created if missing)
    python examples/python_api.py --database-url postgresql+asyncpg://user:password@host:5432/ledger

Running it twice against the same ledger books nothing new: the idempotency key replays the booking.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import anyio

from ledger_mcp.ledger.accounts import initialise
from ledger_mcp.ledger.chain import verify_chain
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.posting import BookingLine, BookingRequest, post_booking
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.ledger.reports import trial_balance

# Recorded on every intent and journal line this script writes.
WHO = Provenance(surface="api", channel=Channel.API, actor_type="user", actor_label="python_api.py")


async def main(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.create_schema()             # create the tables, or upgrade an older ledger (as `ledger-mcp init`)
        await db.write(initialise, "skr03")  # load the chart on first use; a ledger's chart never changes

        # One write is one transaction: all of it is booked, or nothing (a LedgerError says why).
        booking = BookingRequest(
            booking_date="2026-03-02", description="Büromaterial Papier & Co RE-4711", external_reference="RE-4711",
            idempotency_key="python-api-re-4711",
            lines=[BookingLine(debit_account="4930", credit_account="1200", amount="119.00", tax_code="VSt19")])
        posted = await db.write(post_booking, booking, WHO)
        print(f"booked intent {posted.intent_id}: journal lines #{posted.journal_number_first}-"
              f"{posted.journal_number_last}, {posted.total_amount} {posted.currency}"
              f"{' (replayed)' if posted.replayed else ''}")
        for line in posted.lines:
            print(f"  {line.debit_account} / {line.credit_account}  {line.amount:>8}  {line.line_role}")

        balances = await db.read(trial_balance, end_date="2026-03-31")
        print(f"trial balance to 2026-03-31 ({balances.currency}; positive = debit):")
        for row in balances.rows:
            print(f"  {row.account}  {row.name[:36]:<36} {row.closing_balance:>10}")
        print(f"  debits {balances.total_debit}, credits {balances.total_credit}, balanced: {balances.balanced}")

        chain = await db.read(verify_chain)
        print(f"hash chain: ok={chain.ok}, {chain.lines_checked} lines in {chain.intents_checked} intents, "
              f"head #{chain.head_journal_number}")
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="directory of the SQLite ledger (default: a fresh temporary one)")
    parser.add_argument("--database-url", help="SQLAlchemy async URL instead of --data-dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(args.data_dir or scratch).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        anyio.run(main, args.database_url or f"sqlite+aiosqlite:///{directory / 'ledger.sqlite3'}")
