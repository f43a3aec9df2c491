"""The booking context (accounts, tax codes, base currency) is cached per database and kept while the
record history shows no change to them, whichever process made the change; a long history since the
cache (a bulk import) is not read event by event."""

from __future__ import annotations

import pytest

from ledger_mcp.ledger import bulk, posting
from ledger_mcp.ledger.accounts import TaxCodeChanges, save_tax_code
from ledger_mcp.ledger.db import Database
from ledger_mcp.ledger.errors import LedgerError
from ledger_mcp.ledger.posting import BookingLine, BookingRequest
from ledger_mcp.ledger.provenance import Channel, Provenance
from ledger_mcp.settings import Settings

pytestmark = pytest.mark.anyio

WHO = Provenance(surface="mcp", channel=Channel.MCP, actor_type="agent", actor_label="tester")


def _booking(n: int, tax_code: str = "VSt19") -> BookingRequest:
    return BookingRequest(booking_date="2026-03-02", description=f"Bürobedarf {n}", external_reference=f"R-{n}",
                          lines=[BookingLine(debit_account="4930", credit_account="1200", amount="119.00",
                                             tax_code=tax_code)])


async def test_a_tax_code_deactivated_by_another_process_is_refused_at_once(db: Database, settings: Settings) -> None:
    await db.write(save_tax_code, TaxCodeChanges(code="VSt19M", label="Vorsteuer 19 % Messe", rate="19",
                                                 kind="input", vat_account="1576"))
    first = await db.write(posting.post_booking, _booking(1, "VSt19M"), WHO)  # the context now holds VSt19M
    assert [line.tax_code for line in first.lines] == ["VSt19M", "VSt19M"]
    # Many history events after the cached head: a bulk run of bookings (one event per intent).
    await db.write(bulk.post_many, [_booking(n) for n in range(2, 302)], WHO, with_results=False)

    other = Database(settings.database_url)  # another server or the CLI on the same ledger
    try:
        await other.write(save_tax_code, TaxCodeChanges(code="VSt19M", is_active=False))
    finally:
        await other.dispose()

    with pytest.raises(LedgerError) as refused:
        await db.write(posting.post_booking, _booking(302, "VSt19M"), WHO)
    assert refused.value.code == "UNKNOWN_TAX_CODE"
    again = await db.write(posting.post_booking, _booking(303), WHO)  # the context read anew still books
    assert again.event_count == 2
