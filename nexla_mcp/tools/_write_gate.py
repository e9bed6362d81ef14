"""The write gate: plan → confirm → approve → execute → verify, the same for every write tool.

One gate per server instance (``write_gate``) holds the plan-token guard, the audit log, the
rate limiter and the allow/deny lists; nonces, rate windows and the audit chain live in the
server's state store, which replicas share. A write tool calls ``run`` with its
operation and the approval its resolver produced (``ask`` is that resolver's body).

Order on a confirmed call, each step refusing with nothing changed and an audit record:
verify the token (signature, expiry, tool, arguments, principal, unused) → use it up →
re-read the state and compare fingerprints → apply the approval (elicitation answer, or the
token alone in ``confirm`` mode when the client cannot ask and the change is not destructive)
→ rate limit → execute → re-read and classify (``_write_execution.py``; ``_outcomes.verdict``:
never more than was observed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn
from weakref import WeakKeyDictionary

from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp.types import CallToolResult

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.redaction import register_secret
from nexla_mcp.server.approval import (
    CLIENT_CANNOT_ASK,
    ApprovalForm,
    NotAsked,
    can_ask_user,
    decide,
    question,
)
from nexla_mcp.server.audit import AuditError, AuditLog, ChainKey
from nexla_mcp.server.guard import NonceStore, PlanClaims, PlanGuard, PlanRejected, token_digest
from nexla_mcp.server.principal import Principal, current_principal
from nexla_mcp.server.state import server_store
from nexla_mcp.server.write_policy import FlowScope, WriteRateLimiter, flow_refusal
from nexla_mcp.settings import Settings
from nexla_mcp.state import StateError, StateStore
from nexla_mcp.tools._common import server_state, tool_result
from nexla_mcp.tools._outcomes import UnsettledWrites
from nexla_mcp.tools._write_execution import WriteExecution
from nexla_mcp.tools._writes import (
    FORBIDDEN,
    FRESH_PLAN,
    REFUSAL_HINTS,
    REFUSALS,
    ApprovalRecord,
    Observation,
    WriteOperation,
    WriteRefusedError,
    WriteResult,
)

__all__ = ["Gate", "WriteGate", "write_gate"]

logger = logging.getLogger(__name__)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


class WriteGate:
    """Runs write operations under one server's policy, secret, audit log and rate limit."""

    def __init__(self, settings: Settings, store: StateStore) -> None:
        """Raises ``AuditFileError`` when ``NEXLA_MCP_AUDIT_LOG`` is not a regular file."""
        secret = settings.secret.get_secret_value()
        register_secret(secret, "plan_secret")
        self.policy = settings.write_policy
        self.allow_flows = settings.allow_flows
        self.deny_flows = settings.deny_flows
        self.write_scope = settings.oauth_write_scope
        self.guard = PlanGuard(secret, nonces=NonceStore(store))
        key = ChainKey.for_settings(secret if settings.secret_configured else None,
                                    settings.effective_state_dir)  # fmt: skip
        self.audit = AuditLog(
            store,
            key,
            mirror=settings.audit_path,
            environment="sandbox" if settings.sandbox else "live",
        )
        self.limiter = WriteRateLimiter(
            store, settings.write_rate_limit, settings.write_rate_window_s,
            per_principal=settings.write_rate_limit_per_user,
        )  # fmt: skip
        self.token_only_destructive = settings.allow_token_only_destructive
        self.execution = WriteExecution(self.audit, self.policy, UnsettledWrites(store))

    # --- the approval resolver ---------------------------------------------------------------

    async def ask(
        self, ctx: Context[Any, Any], build: Callable[[], WriteOperation], confirm: bool,
        plan_token: str | None,
    ) -> ApprovalForm | NotAsked | Elicit[ApprovalForm]:  # fmt: skip
        """The approval resolver: the question for a confirmed call that passes its checks.

        Runs before the tool body (again on each round of the 2026-07-28 era), so it only
        reads: the token is verified but not used up, and the state is re-read so that no one
        is asked to approve a plan that no longer holds. It never raises: the body repeats
        every check and reports the failure properly.
        """
        if not confirm:
            return NotAsked("plan_only")
        if not can_ask_user(ctx):
            return NotAsked(CLIENT_CANNOT_ASK)
        try:
            operation = build()
            who = _principal_id(current_principal())
            claims = self.guard.verify(plan_token, operation.tool, operation.arguments, who)
            await self.guard.check_unused(claims)
            if await self.limiter.retry_after(who) is not None:
                return NotAsked("rate_limited")
            observed = await operation.observe(server_state(ctx).client)
        except Exception as error:
            # A resolver that raises becomes an opaque internal error; the body reports it.
            logger.info("write approval not asked: %s", type(error).__name__)
            return NotAsked("checks_failed")
        if self._scope_refusal(observed) or observed.fingerprint != claims.state_fingerprint:
            return NotAsked("state_changed")
        return question(_question_text(observed))

    # --- the tool body -----------------------------------------------------------------------

    async def run(
        self, operation: WriteOperation, client: NexlaClient, *, confirm: bool,
        plan_token: str | None, approval: Any,
    ) -> CallToolResult:  # fmt: skip
        """Plan (``confirm`` false) or carry out a confirmed plan; see the module docstring.

        Raises:
            WriteRefusedError: the call was refused; nothing changed.
            NexlaError: reading the state or making the change failed.
        """
        principal = current_principal()
        try:
            if principal is not None and self.write_scope not in principal.scopes:
                await self._refuse(
                    operation, "insufficient_scope", plan_token,
                    message=f"Not executed. Your sign-in does not grant the {self.write_scope} "
                    "scope, which changes need.",
                    hint=f"Nothing was changed. Sign in again with the {self.write_scope} scope.",
                )  # fmt: skip
            denied = flow_refusal(_named(operation), (), self.deny_flows)
            if denied:
                await self._refuse(operation, "not_allowed", plan_token,
                                   message=f"Not executed: {denied}.", hint=FORBIDDEN)  # fmt: skip
            if not confirm:
                return await self._plan(operation, client, principal)
            return await self._confirm(operation, client, plan_token, approval, principal)
        except (AuditError, StateError) as error:
            # Every step before the write is audited first, so reaching here means unsent.
            logger.error("write refused, state store or audit log unavailable: %s", error)
            raise WriteRefusedError(
                "audit_unavailable",
                "Not executed. The audit log cannot be written, and no write happens unaudited.",
                tool=operation.tool,
                hint="Nothing was changed. The server's operator must fix its state store "
                "(NEXLA_MCP_STATE_DIR or NEXLA_MCP_STATE_URL).",
            ) from error

    async def _plan(
        self, operation: WriteOperation, client: NexlaClient, principal: Principal | None
    ) -> CallToolResult:
        observed, settled = await self.execution.observe_for_plan(operation, client)
        await self._check_scope(operation, observed, None)
        result = WriteResult(
            status="planned", tool=operation.tool, change=observed.change,
            arguments=operation.arguments, changes=observed.changes,
            current_state=observed.state, blast_radius=observed.blast_radius,
            reverse_action=observed.reverse, blocked_by=observed.blocked_by,
        )  # fmt: skip
        if observed.blocked_by:
            result.status = "blocked"
            result.note = "This plan cannot be carried out as it stands; no token was issued."
        elif not observed.changes:
            result.status = "no_change"
            result.note = "Nothing would change, so there is nothing to confirm."
        else:
            token, expires_at = self.guard.mint(
                operation.tool, operation.arguments, observed.fingerprint,
                _principal_id(principal),
            )  # fmt: skip
            result.plan_token, result.expires_at = token, _iso(expires_at)
            result.note = (
                "Nothing has changed yet. Show this plan to the user; only they decide "
                "whether it goes ahead."
            )
            if self._needs_person(operation, observed):
                result.note += (
                    " This change is destructive: it goes ahead only when the user approves it "
                    "in the client's prompt, never on the plan token alone."
                )
        await self.audit.append(
            "plan", tool=operation.tool, args=operation.arguments, outcome=result.status,
            principal=_named_principal(principal),
            plan_digest=token_digest(result.plan_token) if result.plan_token else None,
            before=observed.state, changes=[c.model_dump() for c in observed.changes],
        )  # fmt: skip
        summary = {
            "planned": f"PLAN ONLY, nothing changed yet: {observed.change} The plan expires "
            f"at {result.expires_at}.",
            "no_change": f"Nothing to do: {observed.change}",
            "blocked": f"Cannot plan this change: {observed.blocked_by}",
        }[result.status]
        if settled:
            result.note = f"{settled} {result.note}"
            summary = f"{settled} {summary}"
        return tool_result(result, summary)

    async def _confirm(
        self, operation: WriteOperation, client: NexlaClient, plan_token: str | None,
        approval: Any, principal: Principal | None,
    ) -> CallToolResult:  # fmt: skip
        who = _principal_id(principal)
        claims = await self._verified(operation, plan_token, who)
        before = await operation.observe(client)
        await self._check_scope(operation, before, plan_token)
        if before.fingerprint != claims.state_fingerprint:
            await self._refuse(operation, "state_changed", plan_token)
        decision = decide(
            approval, self.policy, person_required=self._needs_person(operation, before)
        )
        record = ApprovalRecord(mechanism=decision.mechanism, answer=decision.answer)
        if not decision.approved:
            reason = decision.refusal or "not_approved"
            if decision.answer == "not_asked":
                # The resolver does not ask while the limit is reached; say so, with the wait.
                wait = await self.limiter.retry_after(who) if reason == "not_approved" else None
                if wait is not None:
                    await self._refuse_rate_limited(operation, plan_token, wait, record, who)
                await self._refuse(operation, reason, plan_token)
            await self.audit.append(
                "decline", tool=operation.tool, args=operation.arguments,
                plan_digest=token_digest(plan_token or ""), approval=record.model_dump(),
                outcome="refused", reason=reason, principal=_named_principal(principal),
            )  # fmt: skip
            await self._refuse(operation, reason, plan_token, audit=False)
        wait = await self.limiter.acquire(who)
        if wait is not None:
            await self._refuse_rate_limited(operation, plan_token, wait, record, who)
        await self.audit.append(
            "approval", tool=operation.tool, args=operation.arguments,
            plan_digest=token_digest(plan_token or ""), approval=record.model_dump(),
            outcome="approved", principal=_named_principal(principal),
        )  # fmt: skip
        return await self.execution.execute(operation, client, plan_token or "", before, record)

    # --- checks ------------------------------------------------------------------------------

    async def _verified(
        self, operation: WriteOperation, plan_token: str | None, who: str | None
    ) -> PlanClaims:
        try:
            claims = self.guard.verify(plan_token, operation.tool, operation.arguments, who)
            await self.guard.spend(claims)
        except PlanRejected as rejected:
            await self._refuse(operation, rejected.reason, plan_token)
        return claims

    def _needs_person(self, operation: WriteOperation, observed: Observation) -> bool:
        return operation.needs_person(observed) and not self.token_only_destructive

    def _scope_refusal(self, observed: Observation) -> str | None:
        return flow_refusal(observed.scope, self.allow_flows, self.deny_flows)

    async def _check_scope(
        self, operation: WriteOperation, observed: Observation, plan_token: str | None
    ) -> None:
        refusal = self._scope_refusal(observed)
        if refusal:
            await self._refuse(operation, "not_allowed", plan_token,
                               message=f"Not executed: {refusal}.", hint=FORBIDDEN)  # fmt: skip

    async def _refuse_rate_limited(
        self, operation: WriteOperation, plan_token: str | None, wait: float,
        approval: ApprovalRecord, who: str | None,
    ) -> NoReturn:  # fmt: skip
        await self._refuse(
            operation, "rate_limited", plan_token, retry_after=round(wait, 1), approval=approval,
            message=f"{self.limiter.describe(who)}, and that limit is reached.",
            hint=f"Nothing was changed. Wait {wait:.0f} s, then get a fresh plan.",
        )  # fmt: skip

    async def _refuse(
        self, operation: WriteOperation, reason: str, plan_token: str | None, *,
        message: str | None = None, hint: str | None = None, retry_after: float | None = None,
        approval: ApprovalRecord | None = None, audit: bool = True,
    ) -> NoReturn:  # fmt: skip
        if audit:
            await self.audit.append(
                "refusal", tool=operation.tool, args=operation.arguments, outcome="refused",
                principal=_named_principal(current_principal()),
                reason=reason, plan_digest=token_digest(plan_token) if plan_token else None,
                approval=approval.model_dump() if approval else None,
            )  # fmt: skip
        raise WriteRefusedError(
            reason, message or f"Not executed. {REFUSALS[reason]}", tool=operation.tool,
            hint=hint or REFUSAL_HINTS.get(reason, FRESH_PLAN), retry_after=retry_after,
        )  # fmt: skip


def _question_text(observed: Observation) -> str:
    """What the person is asked to approve: the change, runs it interrupts, how to undo it."""
    lines = [observed.change]
    if observed.blast_radius is not None and observed.blast_radius.runs_in_flight:
        lines.append("Running now: " + "; ".join(observed.blast_radius.runs_in_flight))
    reverse = observed.reverse
    if reverse is not None and reverse.tool:
        arguments = ", ".join(f"{key}={value!r}" for key, value in reverse.arguments.items())
        lines.append(f"Undo: {reverse.tool}({arguments})")
    elif reverse is not None:
        lines.append("This cannot be undone.")
    return "\n".join(lines)


def _principal_id(principal: Principal | None) -> str | None:
    return principal.id if principal else None


def _named_principal(principal: Principal | None) -> dict[str, Any] | None:
    return principal.audit_fields() if principal else None


def _named(operation: WriteOperation) -> FlowScope:
    return FlowScope(origin_id=None, named_ids=operation.named_flow_ids)


_gates: WeakKeyDictionary[MCPServer[Any], WriteGate] = WeakKeyDictionary()


def write_gate(server: MCPServer[Any], settings: Settings) -> WriteGate:
    """The server's one gate (the control and access toolsets share its nonces and limit)."""
    gate = _gates.get(server)
    if gate is None:
        gate = _gates[server] = WriteGate(settings, server_store(server, settings))
    return gate


def _gate_of_request(ctx: Context[Any, Any]) -> WriteGate:
    gate = _gates.get(ctx.mcp_server)
    if gate is None:
        raise TypeError("write tools were not registered through write_gate")
    return gate


Gate = Annotated[WriteGate, Resolve(_gate_of_request)]
"""The server's ``WriteGate`` (a tool or resolver parameter of this type is filled in)."""
