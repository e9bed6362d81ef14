"""What every write tool shares: its output (plan or receipt), its refusals, and the shape of
one write operation (observe the state, execute the change).

A write tool builds a ``WriteOperation`` from its arguments and hands it to the ``WriteGate``
(``_write_gate.py``), which runs plan → confirm → approve → execute → verify the same way for
every tool. An operation only knows Nexla: how to read the state its change depends on, what
would change, how to undo it, and how to make the change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from nexla_mcp.errors import NexlaError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.server.guard import digest_of
from nexla_mcp.server.write_policy import FlowScope

__all__ = [
    "FORBIDDEN",
    "FRESH_PLAN",
    "REFUSALS",
    "REFUSAL_HINTS",
    "ApprovalRecord",
    "BlastRadius",
    "Change",
    "Confirm",
    "Observation",
    "PlanToken",
    "ReverseAction",
    "WriteOperation",
    "WriteRefusedError",
    "WriteResult",
    "WriteStatus",
    "watch_after",
]

# What a refusal says (``WriteRefusedError``), by reason: what happened, never how around it.
FRESH_PLAN = "Nothing was changed. Get a fresh plan and let the user review it."
FORBIDDEN = "Nothing was changed. This server's write policy forbids it."
REFUSALS: dict[str, str] = {
    "missing": "No plan token was given, so there is no reviewed plan to carry out.",
    "invalid": "The plan token is not one this server issued.",
    "expired": "The plan expired (plans are valid for 5 minutes).",
    "other_tool": "The plan token was issued for a different tool.",
    "other_arguments": "The plan token was issued for different arguments.",
    "other_principal": "The plan was made by another user; only they can confirm it.",
    "replayed": "This plan was already used; a plan can be confirmed only once.",
    "state_changed": "The state changed since the plan was made, so the plan no longer "
    "describes what would happen.",
    "not_approved": "The approval question could not be put to the user, so the change was "
    "not approved.",
    "human_required": "This server requires a person to approve every write in the client's "
    "prompt, and this client cannot show one.",
    "person_required": "This change is destructive, so only a person may approve it, in the "
    "client's prompt, and this client cannot show one.",
    "declined": "The user declined the change.",
    "cancelled": "The user dismissed the approval prompt without answering.",
}
REFUSAL_HINTS: dict[str, str] = {
    "declined": "Nothing was changed. Do not repeat the request unless the user asks again.",
    "cancelled": "Nothing was changed. Do not repeat the request unless the user asks again.",
    "human_required": "Nothing was changed. Make the change in Nexla, or use an MCP client "
    "that supports elicitation.",
    "person_required": "Nothing was changed. Make the change in Nexla, or use an MCP client "
    "that supports elicitation.",
}


WriteStatus = Literal[
    "planned", "no_change", "blocked", "applied", "not_applied", "unknown", "shadow"
]


class Change(BaseModel):
    """One field of one thing that changes."""

    subject: str = Field(description="What changes, e.g. 'data_sinks 7114 orders-snowflake'")
    field: str = Field(description="Which attribute: status, name, access_roles, ...")
    before: Any = Field(None, description="Value now (absent: does not exist yet)")
    after: Any = Field(None, description="Value after the change (absent: removed)")


class BlastRadius(BaseModel):
    """Who else feels the change."""

    summary: str = Field(description="One sentence: what stops, starts or disappears")
    affected: list[str] = Field(
        default_factory=list, description="Resources or accessors the change reaches"
    )
    unaffected: list[str] = Field(
        default_factory=list, description="Parts of the same flow the change leaves alone"
    )
    runs_in_flight: list[str] = Field(
        default_factory=list, description="Runs that may be processing right now"
    )
    notes: list[str] = Field(default_factory=list, description="Cascade rules and side effects")


class ReverseAction(BaseModel):
    """The call that undoes the change (it is itself planned and confirmed like any write)."""

    tool: str | None = Field(None, description="Tool to call; absent when nothing can undo it")
    arguments: dict[str, Any] = Field(default_factory=dict, description="Its arguments")
    note: str | None = Field(None, description="What the undo does not restore")


class ApprovalRecord(BaseModel):
    """How the write was approved."""

    mechanism: Literal["elicitation", "plan_token"] = Field(
        description="elicitation: a person answered in the client; plan_token: confirmed with "
        "a verified plan token (this client cannot ask its user)"
    )
    answer: str = Field(description="accept or confirmed")


class WriteResult(BaseModel):
    """A plan (nothing changed yet) or a receipt (what was done, checked by re-reading)."""

    status: WriteStatus = Field(
        description="planned / no_change / blocked: a plan, nothing was changed. applied / "
        "not_applied / unknown: a receipt, after re-reading Nexla. shadow: confirmed under the "
        "shadow policy, nothing was sent (would_send lists it)"
    )
    tool: str = Field(description="The write tool")
    change: str = Field(description="The exact change, in one sentence")
    arguments: dict[str, Any] = Field(description="The arguments the plan is bound to")
    changes: list[Change] = Field(
        default_factory=list,
        description="Plan: every field that would change. Receipt: what is still different "
        "from the intended state (empty when applied)",
    )
    current_state: dict[str, Any] | None = Field(None, description="Plan: the state read now")
    blast_radius: BlastRadius | None = Field(None, description="Plan: who else is affected")
    blocked_by: str | None = Field(None, description="Why this change cannot be made now")
    reverse_action: ReverseAction | None = Field(None, description="How to undo the change")
    plan_token: str | None = Field(
        None, description="Binds a confirmation to this exact plan; single use"
    )
    expires_at: str | None = Field(None, description="When plan_token stops being accepted")
    approval: ApprovalRecord | None = Field(None, description="Receipt: how it was approved")
    before: dict[str, Any] | None = Field(None, description="Receipt: state before")
    after: dict[str, Any] | None = Field(None, description="Receipt: state read back after")
    would_send: list[dict[str, Any]] = Field(
        default_factory=list,
        description="shadow: each request the write would have sent (method, path, params, body)",
    )
    verify_with: ReverseAction | None = Field(
        None, description="Receipt: the read that shows whether the change fixed the flow"
    )
    note: str | None = Field(None, description="What to do next, when anything")


class WriteRefusedError(NexlaError):
    """A write call that was refused; nothing was changed. ``details["reason"]`` says why."""

    default_hint = "Nothing was changed. Get a fresh plan and let the user review it."

    def __init__(self, reason: str, message: str, *, tool: str, hint: str | None = None,
                 retry_after: float | None = None) -> None:  # fmt: skip
        super().__init__(
            message, details={"reason": reason}, operation=tool, hint=hint,
            retry_after=retry_after,
        )  # fmt: skip
        self.reason = reason


@dataclass(frozen=True)
class Observation:
    """The state a change depends on, read now, and what the change would do to it."""

    state: dict[str, Any]
    change: str
    changes: list[Change]
    scope: FlowScope
    blast_radius: BlastRadius | None = None
    reverse: ReverseAction | None = None
    blocked_by: str | None = None
    follow_up: ReverseAction | None = None  # the read to run once the change is applied

    @property
    def fingerprint(self) -> str:
        """Digest of ``state``: equal fingerprints mean the plan still describes the change."""
        return digest_of(self.state)


class WriteOperation(ABC):
    """One write, with its arguments already validated (nothing sent yet)."""

    tool: ClassVar[str]
    destructive: ClassVar[bool] = False
    """True for changes that cannot be taken back (deletions, access lists replaced)."""

    def needs_person(self, observed: Observation) -> bool:
        """True when only a person's answer may approve this change, never a plan token alone.

        Destructive operations say so by default; an operation overrides this when only some
        of its changes are (``revoke_access`` of the last admin).
        """
        return self.destructive

    @property
    @abstractmethod
    def arguments(self) -> dict[str, Any]:
        """The canonical arguments a plan token is bound to (no confirm, no plan_token)."""

    @property
    def named_flow_ids(self) -> frozenset[int]:
        """Flow ids named by the arguments, checked against the deny list before any request."""
        return frozenset()

    @abstractmethod
    async def observe(self, client: NexlaClient) -> Observation:
        """Read the current state and work out the change (GET requests only)."""

    @abstractmethod
    async def execute(self, client: NexlaClient) -> None:
        """Make the change (the one mutating request)."""

    async def reread(self, client: NexlaClient) -> Observation:
        """Read the state back after ``execute``; an applied write leaves no ``changes``."""
        return await self.observe(client)


def watch_after(flow_id: int | None) -> ReverseAction | None:
    """``watch_flow`` on ``flow_id`` for runs from now on: how a receipt says "now verify"."""
    if flow_id is None:
        return None
    since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return ReverseAction(
        tool="watch_flow", arguments={"flow_id": flow_id, "since": since},
        note="Waits for the flow's next run and says whether it recovered.",
    )  # fmt: skip


# --- arguments every write tool takes (design contract 6) ----------------------------------

Confirm = Annotated[
    bool, Field(description="true: carry out the plan of plan_token, once the user agreed")
]
PlanToken = Annotated[
    str | None, Field(max_length=2048, description="From the plan (the call without confirm)")
]
