"""Foreign-currency tools: exchange rates and the period-end revaluation of open items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import fx, revaluation
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.fx import RateImportResult, RateInfo, RateInput
from ledger_mcp.ledger.posting import ACK_DESCRIPTION
from ledger_mcp.ledger.revaluation import RevaluationRequest, RevaluationResult
from ledger_mcp.tools.result import READ_ONLY, answer, intent_uri

APPEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class RateList(BaseModel):
    rates: list[RateInfo]


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Save an exchange rate", annotations=APPEND)
    async def save_exchange_rate(
        ctx: Context[Any, Any],
        currency: Annotated[str, Field(description="ISO 4217 code, e.g. 'USD'.")],
        rate_date: Annotated[str, Field(description="YYYY-MM-DD; monthly rates: the first of the month.")],
        rate: Annotated[str, Field(description="Units of the currency per 1 EUR, as the ECB quotes it, e.g. "
                                               "'1.0856' for USD (not EUR per dollar).")],
        source: Annotated[Literal["manual", "document", "ecb", "monthly"], Field(
            description="manual (default), document (stated on an invoice), ecb (reference rate) or monthly "
                        "(official monthly VAT rate, § 16 (6) UStG).")] = "manual",
    ) -> Annotated[CallToolResult, RateInfo]:
        """Record an exchange rate that foreign-currency bookings of that date use when they name no rate.
        Bookings copy the rate onto their lines, so a later change never alters what is booked."""
        request = RateInput(currency=currency, rate_date=rate_date, rate=rate, source=source)
        saved = await app.db.write(fx.save_rate, request, provenance(ctx, app))
        was = f" (was {saved.replaced_rate})" if saved.replaced_rate else ""
        return answer(saved, f"Saved {saved.currency} {saved.rate} per EUR on {saved.rate_date} "
                             f"({saved.source}){was}.")

    @server.tool(title="Import ECB reference rates", annotations=APPEND)
    async def import_exchange_rates(
        ctx: Context[Any, Any],
        path: Annotated[str | None, Field(description="The ECB CSV file (eurofxref-hist.csv or eurofxref.csv, "
                                                      "unzipped) inside the inbox folder.")] = None,
        csv_text: Annotated[str | None, Field(description="Or the file's text: header 'Date,USD,JPY,...' and one "
                                                          "line per day.")] = None,
        start_date: Annotated[str | None, Field(description="Only days from YYYY-MM-DD (the history file goes "
                                                            "back to 1999).")] = None,
        end_date: Annotated[str | None, Field(description="Only days up to YYYY-MM-DD.")] = None,
    ) -> Annotated[CallToolResult, RateImportResult]:
        """Import the ECB euro reference rates from a file the user downloaded (no network access). Rates
        already stored for a day are updated; currencies the ledger does not book in are skipped."""
        if bool(path) == bool(csv_text):
            raise ValidationFailed("Give exactly one of path or csv_text.",
                                   hint="Pass the CSV file's path inside the inbox folder, or its text.")
        text = csv_text or app.documents.read_source(path, None, None)[0].decode("utf-8-sig")
        result = await app.db.write(fx.import_ecb_rates, text, provenance(ctx, app), start_date, end_date)
        return answer(result, f"Imported ECB rates for {result.days} days ({result.first_date} to {result.last_date}), "
                              f"{len(result.currencies)} currencies: {result.inserted} new, {result.updated} "
                              f"updated, {result.unchanged} unchanged.")

    @server.tool(title="List exchange rates", annotations=READ_ONLY)
    async def list_exchange_rates(
        ctx: Context[Any, Any],
        currency: Annotated[str | None, Field(description="ISO 4217 code, e.g. 'USD'; omit for all.")] = None,
        start_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        end_date: Annotated[str | None, Field(description="YYYY-MM-DD, inclusive")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many, newest first.")] = 100,
    ) -> Annotated[CallToolResult, RateList]:
        """Stored exchange rates (units of currency per 1 EUR), newest first."""
        rates = await app.db.read(fx.list_rates, currency, start_date, end_date, limit)
        shown = "; ".join(f"{r.rate_date} {r.currency} {r.rate} ({r.source})" for r in rates[:5])
        return answer(RateList(rates=rates), f"{len(rates)} rates. {shown}{' …' if len(rates) > 5 else ''}")

    @server.tool(title="Revalue open foreign-currency items", annotations=APPEND)
    async def revalue_open_items(
        ctx: Context[Any, Any],
        closing_date: Annotated[str, Field(description="Balance sheet date, YYYY-MM-DD, e.g. '2026-12-31'.")],
        description: Annotated[str | None, Field(description="Booking text; default names the date.")] = None,
        acknowledge_soft_lock: Annotated[bool, Field(description=ACK_DESCRIPTION)] = False,
    ) -> Annotated[CallToolResult, RevaluationResult]:
        """Value the open receivables and payables in foreign currency at the closing rate (§ 256a HGB:
        due within a year at the closing rate either way; due later only to a receivable's loss or a
        liability's rise) and book the differences as exchange gains or losses in one intent. Needs each
        currency's rate for the closing date. Undo it with reverse_intent on the returned intent."""
        request = RevaluationRequest(closing_date=closing_date, description=description,
                                     acknowledge_soft_lock=acknowledge_soft_lock)
        result = await app.db.write(revaluation.revalue_open_items, request, provenance(ctx, app))
        if result.intent_id is None:
            return answer(result, f"Revalued {len(result.items)} foreign-currency items on {result.closing_date}: "
                                  "nothing to book.")
        return answer(result, f"Revalued {len(result.items)} foreign-currency items on {result.closing_date}: gain "
                              f"{result.total_gain}, loss {result.total_loss} {result.base_currency}, intent "
                              f"{result.intent_id}.", [(intent_uri(result.intent_id), "intent")])
