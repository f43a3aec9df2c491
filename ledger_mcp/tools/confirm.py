"""Human confirmation of consequential actions (a Storno, a period lock, a large approval).

A tool asks for it with a parameter filled by a resolver, never by the agent, plus the
`confirmation_id` argument with which the agent repeats a call a human has granted meanwhile:

    async def reverse_intent(ctx: Context[Any, Any], intent_id: str, ...,
                             confirmed: Annotated[Confirmation, CONFIRM_REVERSAL],
                             confirmation_id: Annotated[str | None, CONFIRMATION_ID] = None) -> ...:
        confirmed.require()                      # CONFIRMATION_REQUIRED / _REFUSED unless a human said yes
        metadata = confirmed.record()            # store it with what the action writes

Bind the marker to a module-level name (`CONFIRM_REVERSAL = confirmation(reversal)`) and use that
name in the annotation: tool modules use postponed annotations, which the SDK resolves from module
globals. `LedgerServer` refuses to register a tool whose confirmation would otherwise become a
plain argument.

`summarise` is an async function taking the tool's arguments by name (and optionally the Context)
and returning the one-paragraph question shown to the human, or None when this call needs no
confirmation (e.g. an approval below an amount). It validates first (see `Database.rehearse`):
nobody is asked about a call that would then be refused.

Who answers:
- stdio, the client declares form elicitation: the human at the client, through elicitation.
- otherwise (no elicitation; and always over HTTP, where the asking client could answer its own
  question) the confirm policy decides: `pending` (default) records a pending confirmation that a
  human grants through a channel the agent does not hold (`ledger-mcp confirm grant ID` on the
  server's machine, or over HTTP another API key with `ledger:approve` calling decide_confirmation);
  the agent repeats the call with `confirmation_id`. `refuse` refuses; `allow_and_record` goes ahead
  and records that the policy allowed it.

This module has no `from __future__ import annotations`: the resolvers built here carry real
annotation objects, which the SDK reads to plan them.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, ConfigDict, Field

from ledger_mcp.context import AppContext, provenance
from ledger_mcp.ledger import confirmations
from ledger_mcp.ledger.errors import ConfirmationRefused, ConfirmationRequired

CONFIRMATION_ID = Field(description="Repeating a call a human has confirmed: the CONFIRMATION_REQUIRED error's id.")


class ConfirmForm(BaseModel):
    """What the human fills in."""

    confirm: bool = Field(title="Confirm", description="Yes, carry out this action.")


class Confirmation(BaseModel):
    """The outcome. confirmed: go ahead or not. method: "elicitation" (a human answered in the client),
    "granted" (a human granted a pending confirmation through the CLI or an approver's key), "pending"
    (waiting for that), "policy" (the confirm policy decided) or "not_required". outcome: for
    elicitation accepted, not_confirmed, decline or cancel; else the policy name, who granted, or
    not_required. question: what was asked."""

    model_config = ConfigDict(frozen=True)
    confirmed: bool
    method: Literal["elicitation", "granted", "pending", "policy", "not_required"]
    outcome: str
    question: str
    confirmation_id: str | None = None

    def require(self) -> None:
        if self.confirmed:
            return
        if self.method == "pending":
            raise ConfirmationRequired(
                f"This needs a human's confirmation; nothing was done yet. Pending confirmation "
                f"{self.confirmation_id}: {self.question}",
                hint=f"Tell the user what you want to do and ask them to grant {self.confirmation_id}: on the "
                     f"server's machine `ledger-mcp confirm grant {self.confirmation_id}`, or over HTTP an approver "
                     "(API key with ledger:approve, not yours) calls decide_confirmation. Then repeat this exact "
                     f"call with confirmation_id={self.confirmation_id}. Do not grant it yourself.",
                details={"confirmation_id": self.confirmation_id, "question": self.question})
        if self.method == "policy":
            raise ConfirmationRefused(
                "This action needs a human's confirmation, and this server refuses it when the client cannot ask; "
                "nothing was done.",
                hint="Use a client that supports elicitation, or ask the administrator to start the server with "
                     "--confirm-policy pending.", details={"confirmation": self.record()})
        raise ConfirmationRefused(f"The user did not confirm ({self.outcome}); nothing was done.",
                                  hint="Only call again if the user asks for this action.",
                                  details={"confirmation": self.record()})

    def record(self) -> dict[str, Any]:
        """How the action was confirmed, for the audit trail (e.g. an intent's custom metadata)."""
        record: dict[str, Any] = {"method": self.method, "outcome": self.outcome}
        if self.confirmation_id:
            record["confirmation_id"] = self.confirmation_id
        return record


def supports_elicitation(ctx: Context[Any, Any]) -> bool:
    """The client declared form elicitation (a bare `elicitation: {}` counts, url-only does not)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def confirmation(summarise: Callable[..., Awaitable[str | None]]) -> Resolve:
    """A `Resolve` marker for an `Annotated[Confirmation, ...]` tool parameter (see module doc)."""
    action = getattr(summarise, "__name__", "action")

    async def ask(ctx: Context[Any, Any], question: str | None, confirmation_id: str | None) -> Any:
        if question is None:
            return Confirmation(confirmed=True, method="not_required", outcome="not_required", question="")
        app: AppContext = ctx.request_context.lifespan_context
        if confirmation_id:
            used = await app.db.write(confirmations.redeem, confirmation_id, action, question)
            return Confirmation(confirmed=True, method="granted", outcome=f"granted by {used.decided_by}",
                                question=question, confirmation_id=used.id)
        if app.transport == "stdio" and supports_elicitation(ctx):
            return Elicit(f"{question}\n\nConfirm?", ConfirmForm)
        if app.confirm_policy == "pending":
            pending = await app.db.write(confirmations.request_confirmation, action, question,
                                         provenance(ctx, app).actor_id)
            return Confirmation(confirmed=False, method="pending", outcome="pending", question=question,
                                confirmation_id=pending.id)
        return Confirmation(confirmed=app.confirm_policy == "allow_and_record", method="policy",
                            outcome=app.confirm_policy, question=question)

    def decide(outcome: Any, question: str | None) -> Confirmation:
        if isinstance(outcome, AcceptedElicitation):
            data = outcome.data
            if isinstance(data, Confirmation):  # nobody was asked in the client
                return data
            confirmed = bool(getattr(data, "confirm", False))
            return Confirmation(confirmed=confirmed, method="elicitation",
                                outcome="accepted" if confirmed else "not_confirmed", question=question or "")
        return Confirmation(confirmed=False, method="elicitation", outcome=str(outcome.action),
                            question=question or "")

    asked = Annotated[str | None, Resolve(summarise)]
    ask.__annotations__ = {"ctx": Context, "question": asked, "confirmation_id": str | None,
                           "return": Elicit[ConfirmForm] | Confirmation}
    decide.__annotations__ = {"outcome": Annotated[ElicitationResult[ConfirmForm], Resolve(ask)],
                              "question": asked, "return": Confirmation}
    # Distinct names per action keep the resolvers' wire keys readable and apart.
    ask.__qualname__ = ask.__name__ = f"ask_{action}"
    decide.__qualname__ = decide.__name__ = f"confirm_{action}"
    return Resolve(decide)
