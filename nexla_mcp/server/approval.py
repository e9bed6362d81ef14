"""Asking the human: the elicitation that approves a planned write, in both protocol eras.

Write tools take their approval as a resolver parameter (the SDK's ``Resolve`` + ``Elicit``):
on 2026-07-28 the question rides an ``InputRequiredResult`` round trip, on the handshake era
a live ``elicitation/create`` request. The model never sees the question or the answer; the
client shows them to its user. Nothing here can tell a person from a client that auto-accepts
(a documented residual risk); it only guarantees that a decline or cancel changes nothing and
that ``human`` mode never proceeds without an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
)
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, Field

from nexla_mcp.server.text import sanitize_text

__all__ = [
    "CLIENT_CANNOT_ASK",
    "ApprovalForm",
    "Decision",
    "NotAsked",
    "can_ask_user",
    "decide",
    "question",
]

MODERN_ERA = "2026-07-28"
MAX_QUESTION_CHARS = 900

Mechanism = Literal["elicitation", "plan_token"]


class ApprovalForm(BaseModel):
    """The form the client shows its user (flat primitives only, as elicitation requires)."""

    approve: bool = Field(description="Approve this change to your Nexla org")


CLIENT_CANNOT_ASK = "client_cannot_ask"


@dataclass(frozen=True)
class NotAsked:
    """The resolver's answer when no one was asked, and why.

    Only ``CLIENT_CANNOT_ASK`` lets ``confirm`` mode go ahead without a person; any other
    reason (the call was a plan, or its checks failed before asking) approves nothing.
    """

    reason: str


@dataclass(frozen=True)
class Decision:
    """What the approval step concluded."""

    approved: bool
    mechanism: Mechanism
    answer: str
    refusal: str | None = None


def can_ask_user(ctx: Context[Any, Any]) -> bool:
    """True when this request can put a question to the client's user.

    The client must declare elicitation; on the handshake era the request also needs a live
    back-channel (stateless or JSON-response HTTP has none).
    """
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return False
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, MODERN_ERA):
        return True
    return ctx.session.can_send_request


def question(summary: str) -> Elicit[ApprovalForm]:
    """The elicitation for a plan. Must be the same text on every round of one call."""
    text = sanitize_text(summary, max_chars=MAX_QUESTION_CHARS, keep_newlines=True)
    return Elicit(f"{text}\n\nApprove this change?", ApprovalForm)


def decide(outcome: Any, policy: str, *, person_required: bool = False) -> Decision:
    """Turn the resolver's outcome into a decision under ``policy`` (``confirm`` or ``human``).

    A person's accept approves; decline, cancel or an unticked box refuses. When the client
    cannot ask anyone, ``confirm`` proceeds on the verified plan token alone, unless the change
    needs a person (``person_required``: a destructive write), and ``human`` refuses. When the
    client could have asked but no question went out, nothing is approved.
    """
    if isinstance(outcome, DeclinedElicitation):
        return Decision(False, "elicitation", "decline", refusal="declined")
    if isinstance(outcome, CancelledElicitation):
        return Decision(False, "elicitation", "cancel", refusal="cancelled")
    data = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(data, ApprovalForm):
        if data.approve:
            return Decision(True, "elicitation", "accept")
        return Decision(False, "elicitation", "accept_unticked", refusal="declined")
    if not (isinstance(data, NotAsked) and data.reason == CLIENT_CANNOT_ASK):
        return Decision(False, "elicitation", "not_asked", refusal="not_approved")
    if policy == "human":
        return Decision(False, "elicitation", "not_asked", refusal="human_required")
    if person_required:
        return Decision(False, "elicitation", "not_asked", refusal="person_required")
    return Decision(True, "plan_token", "confirmed")
