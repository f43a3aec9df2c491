"""Writing tools: post_booking, post_opening_balances, reverse_intent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import bulk, journal, posting
from ledger_mcp.ledger.posting import (
    BookingLine,
    BookingRequest,
    OpeningBalance,
    OpeningBalancesRequest,
    OpeningBalancesResult,
    PostingResult,
    ReversalRequest,
)
from ledger_mcp.tools.confirm import CONFIRMATION_ID, Confirmation, confirmation
from ledger_mcp.tools.result import answer, intent_uri


class BatchBooking(BaseModel):
    """A booking as in post_booking."""

    # post_booking's main arguments, in the base currency: foreign currency, documents, metadata and
    # control-account reasons only through post_booking (the tools/list budget).

    model_config = ConfigDict(extra="forbid")
    booking_date: str = Field(description="YYYY-MM-DD")
    description: str = Field(description="Booking text.")
    lines: list[BookingLine] = Field(description="As in post_booking.")
    external_reference: str | None = Field(default=None, description="Document number.")
    idempotency_key: str | None = Field(default=None, description="This booking's own key.")
    skip_duplicate_check: bool = Field(default=False, description="As in post_booking.")
    acknowledge_soft_lock: bool = Field(default=False, description="As in post_booking.")

    def request(self) -> BookingRequest:
        return BookingRequest(**self.model_dump())


APPEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


def _summary(verb: str, result: PostingResult) -> str:
    replay = " (replayed: this idempotency_key was already booked; nothing new written)" if result.replayed else ""
    base = "" if result.currency == result.base_currency else f" = {result.total_base_amount} {result.base_currency}"
    return (f"{verb} intent {result.intent_id} on {result.booking_date}: {result.event_count} journal lines "
            f"#{result.journal_number_first}-{result.journal_number_last}, total {result.total_amount} "
            f"{result.currency}{base}{replay}.")


async def reversal(ctx: Context[Any, Any], intent_id: str, reason: str, posting_mode: str = "original_date",
                   acknowledge_soft_lock: bool = False) -> str:
    """The question a human confirms before a Storno. The Storno is rehearsed first (periods, soft
    locks, settlements, an earlier reversal): nobody is asked about a call that would then be refused."""
    request = ReversalRequest(intent_id=intent_id, reason=reason, posting_mode=posting_mode,  # type: ignore[arg-type]
                              acknowledge_soft_lock=acknowledge_soft_lock)
    app: AppContext = ctx.request_context.lifespan_context
    await app.db.rehearse(posting.reverse_intent, request, provenance(ctx, app))
    s = (await app.db.read(journal.get_intent, request.intent_id)).summary
    when = "today" if request.posting_mode == "current_date" else f"on {s.booking_date}"
    return (f"Reverse intent {request.intent_id} ({s.booking_date}, {s.description!r}, {s.total_amount} {s.currency}) "
            f"with a Storno dated {when}? Reason: {request.reason}")


CONFIRM_REVERSAL = confirmation(reversal)


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Post a booking", annotations=APPEND)
    async def post_booking(
        ctx: Context[Any, Any],
        booking_date: Annotated[str, Field(description="YYYY-MM-DD")],
        description: Annotated[str, Field(description="Booking text, e.g. 'Büromaterial Müller GmbH RE-4711'")],
        lines: Annotated[list[BookingLine], Field(description="1-500 lines. Each moves a positive gross amount "
                                                              "from credit_account to debit_account.")],
        currency: Annotated[str | None, Field(description="ISO 4217 code of the amounts, e.g. 'USD'; default: "
                                                          "the ledger's base currency (EUR).")] = None,
        exchange_rate: Annotated[str | None, Field(description=posting.EXCHANGE_RATE_DESCRIPTION)] = None,
        external_reference: Annotated[str | None, Field(description="Invoice/document number.")] = None,
        idempotency_key: str | None = None,
        document_id: Annotated[str | None, Field(description="Id of a stored document (from ingest_document) "
                                                             "this booking is based on.")] = None,
        custom_metadata: Annotated[dict[str, Any] | None, Field(description="Your own JSON object, kept with the "
                                                                            "intent.")] = None,
        skip_duplicate_check: Annotated[bool, Field(description="Book even if an identical booking exists. "
                                                                "Never for a retry: use idempotency_key.")] = False,
        acknowledge_soft_lock: Annotated[bool, Field(description=posting.ACK_DESCRIPTION)] = False,
        adjustment_period: Annotated[bool, Field(description="A closing adjustment (Abschlussbuchung) for "
                                                             "booking_date's fiscal year; recorded on the intent.")
                                     ] = False,
        control_account_reason: Annotated[str | None, Field(
            description="Only to book a receivables/payables account (migration, reclassification): why. "
                        "Recorded.")] = None,
    ) -> Annotated[CallToolResult, PostingResult]:
        """Book a business event that is not an invoice or its payment (bank fees, purchases paid at once,
        private withdrawals, depreciation, corrections) as a balanced intent. Invoices: create_invoice;
        their payments: settle_open_items or reconcile_transaction. Receivables/payables accounts are
        refused (CONTROL_ACCOUNT).

        Lines move a positive amount from credit_account to debit_account (e.g. SKR03 4930 / 1200). With
        a tax_code the amount is GROSS, split into net + VAT (RC19 reverse charge: net, VAT self-assessed).
        A split booking gives one side per line; those lines must balance."""
        request = BookingRequest(
            booking_date=booking_date, description=description, lines=lines, currency=currency,
            exchange_rate=exchange_rate,
            external_reference=external_reference, idempotency_key=idempotency_key, document_id=document_id,
            custom_metadata=custom_metadata, skip_duplicate_check=skip_duplicate_check,
            acknowledge_soft_lock=acknowledge_soft_lock, adjustment_period=adjustment_period,
            control_account_reason=control_account_reason)
        result = await app.db.write(posting.post_booking, request, provenance(ctx, app))
        return answer(result, _summary("Booked", result), [(intent_uri(result.intent_id), "intent")])

    @server.tool(title="Post bookings as one batch", annotations=APPEND)
    async def post_bookings(
        ctx: Context[Any, Any],
        bookings: Annotated[list[BatchBooking], Field(description="1-100 bookings.", min_length=1,
                                                      max_length=bulk.MAX_BATCH)],
        idempotency_key: Annotated[str | None, Field(description="Key of the batch; a resend replays it.")
                                   ] = None,
    ) -> Annotated[CallToolResult, bulk.BatchResult]:
        """Book 1-100 bookings (post_booking's rules) at once, all or nothing: if any is refused,
        BATCH_REFUSED lists each by index and nothing is written."""
        result = await app.db.write(bulk.post_batch, [b.request() for b in bookings], provenance(ctx, app),
                                    idempotency_key)
        replayed = f", {result.total_replayed} replayed" if result.total_replayed else ""
        return answer(result, f"Booked {result.total_created} intents{replayed}.",
                      [(intent_uri(e.intent_id), f"intent {i}") for i, e in enumerate(result.intents, start=1)])

    @server.tool(title="Post opening balances", annotations=APPEND)
    async def post_opening_balances(
        ctx: Context[Any, Any],
        booking_date: Annotated[str, Field(description="YYYY-MM-DD, usually the first day of the fiscal year")],
        balances: Annotated[list[OpeningBalance], Field(description="One entry per balance sheet account.")],
        description: Annotated[str, Field(description="Booking text.")] = "Eröffnungsbilanz / opening balances",
        idempotency_key: str | None = None,
        acknowledge_soft_lock: Annotated[bool, Field(description=posting.ACK_DESCRIPTION)] = False,
    ) -> Annotated[CallToolResult, OpeningBalancesResult]:
        """Book opening balances (Saldenvorträge) against the opening balance account (SKR03/04 9000).

        Give each account's balance and side: debit for assets (bank, receivables), credit for
        liabilities and equity. The server books the counter side on the opening balance account,
        which nets to zero once all opening balances are in."""
        request = OpeningBalancesRequest(booking_date=booking_date, balances=balances, description=description,
                                         idempotency_key=idempotency_key,
                                         acknowledge_soft_lock=acknowledge_soft_lock)
        result = await app.db.write(posting.post_opening_balances, request, provenance(ctx, app))
        summary = _summary("Opened balances in", result) + (
            f" Debit {result.total_debit}, credit {result.total_credit}.")
        return answer(result, summary, [(intent_uri(result.intent_id), "intent")])

    @server.tool(title="Reverse an intent (Storno)", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False))
    async def reverse_intent(
        ctx: Context[Any, Any],
        confirmed: Annotated[Confirmation, CONFIRM_REVERSAL],
        intent_id: Annotated[str, Field(description="The intent to reverse (uuid).")],
        reason: Annotated[str, Field(description="Why, recorded in the audit trail.")],
        posting_mode: Annotated[Literal["original_date", "current_date"], Field(
            description="original_date: the Storno carries the original booking date; current_date: today "
                        "(use when the original period is closed).")] = "original_date",
        acknowledge_soft_lock: Annotated[bool, Field(description=posting.ACK_DESCRIPTION)] = False,
        confirmation_id: Annotated[str | None, CONFIRMATION_ID] = None,
    ) -> Annotated[CallToolResult, PostingResult]:
        """Storno: a new intent reversing every line of an intent (debit and credit swapped), linked both
        ways; once per intent. To correct a booking, reverse it and book again. A human confirms: the
        client asks, or CONFIRMATION_REQUIRED returns a confirmation_id for the user to grant; then
        repeat the call with it."""
        confirmed.require()
        request = ReversalRequest(intent_id=intent_id, reason=reason, posting_mode=posting_mode,
                                  acknowledge_soft_lock=acknowledge_soft_lock,
                                  custom_metadata={"confirmation": confirmed.record()})
        result = await app.db.write(posting.reverse_intent, request, provenance(ctx, app))
        return answer(result, _summary(f"Reversed {intent_id} with", result),
                      [(intent_uri(result.intent_id), "reversal"), (intent_uri(intent_id), "original")])
