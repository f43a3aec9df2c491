"""Human confirmation of consequential actions (a Storno, a period lock, a large approval).

A tool asks for it with a parameter filled by a resolver, never by the agent:

    async def reverse_intent(ctx: Context[Any, Any], intent_id: str, ...,
                             confirmed: Annotated[Confirmation, confirmation(summarise)]) -> ...:
        confirmed.require()                      # ConfirmationRefused unless a human (or the policy) said yes
        metadata = confirmed.record()            # store it with what the action writes

Bind the marker to a module-level name (`CONFIRM_REVERSAL = confirmation(reversal)`) and use that
name in the annotation: tool modules use postponed annotations, which the SDK resolves from module
globals. `LedgerServer` refuses to register a tool whose confirmation would otherwise become a
plain argument.

`summarise` is an async function taking the tool's arguments by name (and optionally the Context)
and returning the one-paragraph question shown to the human, or None when this call needs no
confirmation (e.g. an approval below an amount). Resolver parameters are not part of
the tool's input schema, so an agent cannot confirm by sending an argument.

If the client declares form elicitation, the human is asked through it: on the 2026 protocol the
SDK sends the question in an InputRequiredResult, on older ones as an elicitation/create request.
If it does not, the server's confirm policy decides (`refuse`, or `allow_and_record`).

This module has no `from __future__ import annotations`: the resolvers built here carry real
annotation objects, which the SDK reads to plan them.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, ConfigDict, Field

from ledger_mcp.ledger.errors import ConfirmationRefused


class ConfirmForm(BaseModel):
    """What the human fills in."""

    confirm: bool = Field(title="Confirm", description="Yes, carry out this action.")


class Confirmation(BaseModel):
    """The outcome. confirmed: go ahead or not. method: "elicitation" (a human answered), "policy"
    (the client could not ask; the server's confirm policy decided) or "not_required" (summarise said
    this call needs no confirmation). outcome: for elicitation accepted, not_confirmed (answered no),
    decline or cancel; otherwise the policy name or not_required. question: what was asked."""

    model_config = ConfigDict(frozen=True)
    confirmed: bool
    method: Literal["elicitation", "policy", "not_required"]
    outcome: str
    question: str

    def require(self) -> None:
        if self.confirmed:
            return
        if self.method == "policy":
            raise ConfirmationRefused(
                "This action needs a human's confirmation, and this client cannot ask for one; nothing was done.",
                hint="Use a client that supports elicitation, or ask the administrator to start the server with "
                     "--confirm-policy allow_and_record.",
                details={"confirmation": self.record()})
        raise ConfirmationRefused(f"The user did not confirm ({self.outcome}); nothing was done.",
                                  hint="Only call again if the user asks for this action.",
                                  details={"confirmation": self.record()})

    def record(self) -> dict[str, Any]:
        """How the action was confirmed, for the audit trail (e.g. an intent's custom metadata)."""
        return {"method": self.method, "outcome": self.outcome}


def supports_elicitation(ctx: Context[Any, Any]) -> bool:
    """The client declared form elicitation (a bare `elicitation: {}` counts, url-only does not)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def confirmation(summarise: Callable[..., Awaitable[str | None]]) -> Resolve:
    """A `Resolve` marker for an `Annotated[Confirmation, ...]` tool parameter (see module doc)."""

    async def ask(ctx: Context[Any, Any], question: str | None) -> Any:
        if question is None:
            return Confirmation(confirmed=True, method="not_required", outcome="not_required", question="")
        if supports_elicitation(ctx):
            return Elicit(f"{question}\n\nConfirm?", ConfirmForm)
        policy = getattr(ctx.request_context.lifespan_context, "confirm_policy", "refuse")
        return Confirmation(confirmed=policy == "allow_and_record", method="policy", outcome=policy,
                            question=question)

    def decide(outcome: Any, question: str | None) -> Confirmation:
        if isinstance(outcome, AcceptedElicitation):
            data = outcome.data
            if isinstance(data, Confirmation):  # nobody was asked: the policy decided, or no need to ask
                return data
            confirmed = bool(getattr(data, "confirm", False))
            return Confirmation(confirmed=confirmed, method="elicitation",
                                outcome="accepted" if confirmed else "not_confirmed", question=question or "")
        return Confirmation(confirmed=False, method="elicitation", outcome=str(outcome.action),
                            question=question or "")

    asked = Annotated[str | None, Resolve(summarise)]
    ask.__annotations__ = {"ctx": Context, "question": asked, "return": Elicit[ConfirmForm] | Confirmation}
    decide.__annotations__ = {"outcome": Annotated[ElicitationResult[ConfirmForm], Resolve(ask)],
                              "question": asked, "return": Confirmation}
    # Distinct names per action keep the resolvers' wire keys readable and apart.
    name = getattr(summarise, "__name__", "action")
    ask.__qualname__ = ask.__name__ = f"ask_{name}"
    decide.__qualname__ = decide.__name__ = f"confirm_{name}"
    return Resolve(decide)
