"""Journal reading tools: get_intent, list_intents, query_journal, verify_chain."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext
from ledger_mcp.ledger import chain, journal
from ledger_mcp.ledger.journal import IntentPage, IntentView, JournalPage
from ledger_mcp.ledger.untrusted import mark
from ledger_mcp.tools.result import READ_ONLY, answer, intent_uri


class ChainVerification(BaseModel):
    ok: bool
    lines_checked: int
    intents_checked: int
    head_journal_number: int
    head_hash: str
    first_break: dict[str, Any] | None = Field(description="The first broken link: journal_number, intent_id, "
                                                           "period, table, row, column, problem. Null when intact.")
    locked_periods_checked: int = Field(description="Locked periods whose closing hash was recomputed.")
    coverage: dict[str, int] = Field(description="Rows checked per table; document_file: stored files hashed.")
    anchors: list[dict[str, Any]] = Field(description="Anchors the chain heads were checked against.")


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Get an intent's audit view", annotations=READ_ONLY)
    async def get_intent(ctx: Context[Any, Any], intent_id: str) -> Annotated[CallToolResult, IntentView]:
        """An intent's audit view (as ledger://intents/{intent_id}): lines with account names, provenance
        (channel, actor, client), hash fields, reversal and settlement links, metadata."""
        view = await app.db.read(journal.get_intent, intent_id)
        s = view.summary
        reversal = f" Reversed by {s.reversed_by_intent_id}." if s.reversed_by_intent_id else ""
        return answer(view, f"Intent {intent_id} ({s.category}, {s.booking_date}): "
                            f"{mark(s.description, 'description')}; "
                            f"{len(view.entries)} lines, total {s.total_amount} {s.currency}, booked by "
                            f"{s.provenance_summary.actor_display} through {s.source}.{reversal}",
                      [(intent_uri(intent_id), "intent")])

    @server.tool(title="List recent intents", annotations=READ_ONLY)
    async def list_intents(ctx: Context[Any, Any], limit: int = 50,
                           cursor: str | None = None) -> Annotated[CallToolResult, IntentPage]:
        """Intents (bookings, opening balances, reversals), most recent first, with totals and reversal
        links (same as resource ledger://intents). Page with next_cursor."""
        page = await app.db.read(journal.list_intents, limit=limit, cursor=cursor)
        more = " More: pass next_cursor." if page.next_cursor else ""
        return answer(page, f"{len(page.intents)} intents.{more}")

    @server.tool(title="Query journal lines", annotations=READ_ONLY)
    async def query_journal(
        ctx: Context[Any, Any],
        account: Annotated[str | None, Field(description="Lines debiting or crediting this account.")] = None,
        start_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        end_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        search: Annotated[str | None, Field(max_length=200,
                                            description="Text contained in the line description.")] = None,
        external_reference: str | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor of the previous page.")] = None,
    ) -> Annotated[CallToolResult, JournalPage]:
        """Journal lines in journal-number order, filtered by account, date range, text and external
        reference, with account names, provenance and hash fields. Keyset-paginated: pass next_cursor."""
        page = await app.db.read(
            journal.query_journal, account=account, start_date=start_date, end_date=end_date, search=search,
            external_reference=external_reference, limit=limit, cursor=cursor)
        more = " More: pass next_cursor." if page.next_cursor else ""
        return answer(page, f"{len(page.entries)} journal lines.{more}")

    @server.tool(title="Verify the hash chain", annotations=READ_ONLY)
    async def verify_chain(ctx: Context[Any, Any]) -> Annotated[CallToolResult, ChainVerification]:
        """Recompute the journal's hash chain and locked periods' closing hashes, replay the record history
        of invoices, settlements, documents (files hashed), review cases and master data, and check the
        chain heads against the anchor log. Reports coverage per table and the first break."""
        log = app.db.anchor_log.anchor() if app.db.anchor_log else None
        report = await app.db.read(chain.verify_chain, documents_dir=app.documents.root,
                                   anchors=[log] if log else [])
        result = ChainVerification(**report.__dict__)
        if report.ok:
            text = (f"Chain intact: {report.lines_checked} lines, {report.intents_checked} intents, head "
                    f"#{report.head_journal_number} {report.head_hash[:16]}…; "
                    f"{sum(report.coverage.values())} rows in {len(report.coverage)} tables checked.")
        else:
            text = f"Chain BROKEN at {report.first_break}."
        return answer(result, text)
