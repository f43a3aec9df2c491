"""Period tools: get_period_status, lock_period (soft lock, four-eyes lock, reopen) and close_fiscal_year."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import periods, year_end
from ledger_mcp.ledger.periods import LockAction, PeriodAnswer, PeriodRequest
from ledger_mcp.ledger.posting import ACK_DESCRIPTION
from ledger_mcp.ledger.year_end import YearEndRequest, YearEndResult
from ledger_mcp.tools.confirm import CONFIRMATION_ID, Confirmation, confirmation
from ledger_mcp.tools.result import READ_ONLY, answer, intent_uri


async def lock_approval(ctx: Context[Any, Any], action: str, period: str, request_id: str | None,
                        reason: str | None) -> str | None:
    """The question a human confirms before a period is locked for good; other actions need none. The
    approval is rehearsed first (four eyes, order, staleness): nobody is asked about a refused call."""
    app: AppContext = ctx.request_context.lifespan_context
    # Over HTTP the approval is itself a second key's decision (four eyes): that is the confirmation.
    if action != "approve_lock" or app.transport == "http":
        return None
    request = PeriodRequest(action=action, period=period, request_id=request_id, reason=reason)
    await app.db.rehearse(periods.change_period, request, provenance(ctx, app))
    status = await app.db.read(periods.period_status, period)
    return (f"Lock period {period} for good (Festschreibung): {status.intent_count} intents, debit total "
            f"{status.debit_total} {status.currency}. Nothing can be booked into it afterwards, by any path.")


CONFIRM_LOCK = confirmation(lock_approval)


def _period_answer(result: PeriodAnswer) -> CallToolResult:
    pending = f", pending request {result.request_id}" if result.has_pending_request else ""
    return answer(result, f"{result.message} {result.period}: {result.status}{pending}; {result.intent_count} "
                          f"intents, {result.line_count} lines, debit total {result.debit_total} {result.currency}.",
                  [(f"ledger://periods/{result.period}", "period")])


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Period status", annotations=READ_ONLY)
    async def get_period_status(
        period: Annotated[str, Field(description="The month, YYYY-MM, e.g. '2026-03'.")],
        end_period: Annotated[str | None, Field(description="Also list every period from period to end_period "
                                                            "(YYYY-MM).")] = None,
    ) -> Annotated[CallToolResult, PeriodAnswer]:
        """A period's state (open, soft_locked, locked), totals, pending lock request and history, where
        the ledger stands (locked_through, next_open_period); with end_period every period of the range.
        Same as resource ledger://periods/{period}."""
        result = await app.db.read(periods.period_status, period, end_period)
        return _period_answer(result)

    @server.tool(title="Lock an accounting period", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False))
    async def lock_period(
        ctx: Context[Any, Any],
        confirmed: Annotated[Confirmation, CONFIRM_LOCK],
        action: Annotated[LockAction, Field(description="soft_lock | request_lock | approve_lock | cancel_lock | "
                                                        "reopen")],
        period: Annotated[str, Field(description="The month, YYYY-MM, e.g. '2026-03'.")],
        request_id: Annotated[str | None, Field(description="approve_lock / cancel_lock: the pending request's "
                                                            "id.")] = None,
        reason: Annotated[str | None, Field(description="Recorded with the action, e.g. why a period is "
                                                        "reopened.")] = None,
        confirmation_id: Annotated[str | None, CONFIRMATION_ID] = None,
    ) -> Annotated[CallToolResult, PeriodAnswer]:
        """Close months under GoBD rules (state: get_period_status). soft_lock: bookings then need
        acknowledge_soft_lock; reopen undoes it. request_lock + approve_lock by a DIFFERENT actor: the
        final lock (Festschreibung), in month order, after the month ended; a request goes stale when the
        month changes. A locked month takes no booking by any path and is never reopened (correct with
        reverse_intent posting_mode current_date). cancel_lock voids a request. On stdio approve_lock
        asks a human to confirm (see reverse_intent)."""
        confirmed.require()
        request = PeriodRequest(action=action, period=period, request_id=request_id, reason=reason)
        return _period_answer(await app.db.write(periods.change_period, request, provenance(ctx, app)))

    @server.tool(title="Close a fiscal year", annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False))
    async def close_fiscal_year(
        ctx: Context[Any, Any],
        year: Annotated[int, Field(ge=1900, le=2199, description="The fiscal year, e.g. 2025.")],
        action: Annotated[Literal["close", "reverse"], Field(description="close, or reverse an earlier close "
                                                                         "(Storno of its intents).")] = "close",
        reason: Annotated[str, Field(description="Recorded on a reversal.")] = "Jahresabschluss / year-end close",
        acknowledge_soft_lock: Annotated[bool, Field(description=ACK_DESCRIPTION)] = False,
    ) -> Annotated[CallToolResult, YearEndResult]:
        """Year-end close: every revenue and expense balance onto the result account (SKR03 0869 / SKR04
        2979) on the year's last day, and each balance sheet account carried forward via 9000 on the next
        year's first day. Once per year; reverse works while those months are not locked."""
        request = YearEndRequest(year=year, action=action, reason=reason, acknowledge_soft_lock=acknowledge_soft_lock)
        result = await app.db.write(year_end.close_fiscal_year, request, provenance(ctx, app))
        ids = [i for i in (result.close_intent_id, result.carry_forward_intent_id, *result.reversal_intent_ids) if i]
        if action == "reverse":
            text = f"Year-end close of {year} reversed with {', '.join(result.reversal_intent_ids)}."
        else:
            text = (f"Closed {year}: result {result.result} {result.currency} onto {result.result_account} "
                    f"({result.accounts_closed} P&L accounts); {result.accounts_carried_forward} balance sheet "
                    "accounts carried forward.")
        return answer(result, text, [(intent_uri(i), "intent") for i in ids])
