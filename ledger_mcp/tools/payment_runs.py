"""Payment run tools: payment_run (create, approve, export, complete, cancel; set_terms) and
list_payment_runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, EmbeddedResource, TextResourceContents
from pydantic import BaseModel, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger.errors import ValidationFailed
from ledger_mcp.ledger.payment_runs import runs
from ledger_mcp.ledger.payment_runs.runs import (
    CreateRunRequest,
    EligibleList,
    PaymentRunView,
    RunInvoice,
    RunList,
    TermsRequest,
    TermsView,
)
from ledger_mcp.ledger.payment_runs.sepa import SepaFormat
from ledger_mcp.ledger.posting import ACK_DESCRIPTION
from ledger_mcp.tools.booking import APPEND
from ledger_mcp.tools.confirm import CONFIRMATION_ID, Confirmation, confirmation
from ledger_mcp.tools.result import READ_ONLY, answer, intent_uri

RunAction = Literal["create", "approve", "export", "complete", "cancel", "set_terms"]


class PaymentRunAnswer(BaseModel):
    """The run after the step (set_terms: the terms instead). export adds the file's figures; the XML
    itself is the embedded resource of the answer."""

    run: PaymentRunView | None = None
    terms: TermsView | None = None
    format: str | None = None
    file_name: str | None = None
    number_of_transactions: int | None = None
    control_sum: str | None = None


class PaymentRunReads(BaseModel):
    run: PaymentRunView | None = None
    runs: RunList | None = None
    eligible: EligibleList | None = None


async def run_approval(ctx: Context[Any, Any], action: str, run_id: str | None) -> str | None:
    """The question a human confirms before a run is released to the bank; rehearsed first (four eyes,
    status), so nobody is asked about a refused call."""
    app: AppContext = ctx.request_context.lifespan_context
    # Over HTTP the approval is itself a second key's decision (four eyes): that is the confirmation.
    if action != "approve" or not run_id or app.transport == "http":
        return None
    await app.db.rehearse(runs.approve_run, run_id, provenance(ctx, app))
    run = await app.db.read(runs.run_view, run_id)
    return (f"Approve payment run {run.label}: {run.invoice_count} SEPA transfers, total {run.total_amount} "
            f"{run.currency}, executed {run.execution_date}. Its file can then be sent to the bank.")


CONFIRM_RUN = confirmation(run_approval)


def _required(value: Any, name: str, action: str) -> Any:
    if not value:
        raise ValidationFailed(f"Action {action} needs {name}.", hint=f"Pass {name}.")
    return value


def _run_answer(result: PaymentRunAnswer, text: str, extra: list[Any] | None = None) -> CallToolResult:
    links = []
    if result.run:
        links.append((f"ledger://payment-runs/{result.run.id}", "payment-run"))
        links += [(intent_uri(i), "intent") for i in (result.run.intent_id, result.run.clearing_intent_id) if i]
    answered = answer(result, text, links)
    answered.content += extra or []
    return answered


def register(server: MCPServer[Any], app: AppContext) -> None:
    @server.tool(title="Payment run", annotations=APPEND)
    async def payment_run(
        ctx: Context[Any, Any],
        confirmed: Annotated[Confirmation, CONFIRM_RUN],
        action: Annotated[RunAction, Field(description="The step.")],
        run_id: Annotated[str | None, Field(description="The run.")] = None,
        bank_account_id: Annotated[str | None, Field(description="create: account paid from.")] = None,
        execution_date: Annotated[str | None, Field(description="create: YYYY-MM-DD.")] = None,
        invoices: Annotated[list[RunInvoice], Field(description="create: payables to pay.")] = [],  # noqa: B006
        label: Annotated[str | None, Field(description="create: a name.")] = None,
        format: Annotated[SepaFormat, Field(description="export: file format.")] = "pain.001.001.09",
        reason: Annotated[str | None, Field(description="cancel: why.")] = None,
        terms: Annotated[TermsRequest | None, Field(description="set_terms: the terms.")] = None,
        acknowledge_soft_lock: Annotated[bool, Field(description=ACK_DESCRIPTION)] = False,
        confirmation_id: Annotated[str | None, CONFIRMATION_ID] = None,
    ) -> Annotated[CallToolResult, PaymentRunAnswer]:
        """Pay payables by SEPA transfer: create (Skonto taken in time) -> approve (a DIFFERENT actor, a human
        confirms) -> export (pain.001) -> complete (settles them; suggest_matches finds the bank debit), or
        cancel. set_terms: Skonto, payment block."""
        who = provenance(ctx, app)
        if action == "set_terms":
            view = await app.db.write(runs.set_terms, _required(terms, "terms", action), who)
            return answer(PaymentRunAnswer(terms=view), "Payment terms saved.")
        if action == "create":
            request = CreateRunRequest(bank_account_id=_required(bank_account_id, "bank_account_id", action),
                                       execution_date=_required(execution_date, "execution_date", action),
                                       invoices=_required(invoices, "invoices", action), label=label)
            run = await app.db.write(runs.create_run, request, who)
            return _run_answer(PaymentRunAnswer(run=run), f"Payment run {run.label} created: {run.invoice_count} "
                               f"transfers, {run.total_amount} {run.currency} (Skonto {run.skonto_total}). A "
                               "different actor approves it next.")
        run_id = _required(run_id, "run_id", action)
        if action == "approve":
            confirmed.require()
            run = await app.db.write(runs.approve_run, run_id, who)
            return _run_answer(PaymentRunAnswer(run=run), f"Payment run {run.label} approved; export it next.")
        if action == "export":
            sepa = await app.db.write(runs.export_run, run_id, format, who)
            uri = f"ledger://payment-runs/{run_id}/{sepa.file_name}"
            attached = EmbeddedResource(type="resource", resource=TextResourceContents(
                uri=uri, mime_type="application/xml", text=sepa.xml))
            result = PaymentRunAnswer(run=sepa.run, format=sepa.format, file_name=sepa.file_name,
                                      number_of_transactions=sepa.number_of_transactions, control_sum=sepa.control_sum)
            return _run_answer(result, f"{sepa.format} file {sepa.file_name}: {sepa.number_of_transactions} "
                               f"transfers, control sum {sepa.control_sum}, validated against its XSD. Send it to "
                               "the bank, then complete the run.", [attached])
        if action == "complete":
            run = await app.db.write(runs.complete_run, run_id, who, acknowledge_soft_lock)
            return _run_answer(PaymentRunAnswer(run=run), f"Payment run {run.label} completed: {run.invoice_count} "
                               f"payables settled, {run.total_amount} {run.currency} in transit until the bank's "
                               "debit is reconciled.")
        run = await app.db.write(runs.cancel_run, run_id, reason, who)
        return _run_answer(PaymentRunAnswer(run=run), f"Payment run {run.label} cancelled.")

    @server.tool(title="List payment runs", annotations=READ_ONLY)
    async def list_payment_runs(
        run_id: Annotated[str | None, Field(description="One run with items and history.")] = None,
        eligible_due_by: Annotated[str | None, Field(description="Instead: payables due (or Skonto ending) by "
                                                                 "YYYY-MM-DD.")] = None,
        execution_date: Annotated[str | None, Field(description="Planned execution date; default: "
                                                                "eligible_due_by.")] = None,
    ) -> Annotated[CallToolResult, PaymentRunReads]:
        """Payment runs (ledger://payment-runs), one run (ledger://payment-runs/{id}), or the payables
        eligible for a new run with Skonto and amount to transfer."""
        if eligible_due_by:
            eligible = await app.db.read(runs.eligible_invoices, eligible_due_by, execution_date or eligible_due_by)
            return answer(PaymentRunReads(eligible=eligible), f"{len(eligible.invoices)} payables eligible, "
                                                              f"{eligible.total} {eligible.currency} to transfer.")
        if run_id:
            run = await app.db.read(runs.run_view, run_id)
            return answer(PaymentRunReads(run=run), f"Payment run {run.label}: {run.status}, {run.invoice_count} "
                                                    f"transfers, {run.total_amount} {run.currency}.",
                          [(f"ledger://payment-runs/{run.id}", "payment-run")])
        listed = await app.db.read(runs.list_runs)
        return answer(PaymentRunReads(runs=listed), f"{len(listed.runs)} payment runs.")
