"""Carrying out an approved write: send it once, read it back, write the receipt.

The gate (``_write_gate.py``) hands over an operation that passed every check. From here on
the change may reach Nexla, so nothing raises before the outcome is audited: a send without an
answer is never repeated but read back (``_outcomes.verdict``), a cancellation still finishes
the record under a shield, and a write whose outcome stays unknown is remembered (in the state
store, so on every replica) until the next plan of the same change reads it back
(``observe_for_plan``). In shadow mode the
operation runs against a client that sends no change and reports what it would have sent.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import anyio
from mcp.types import CallToolResult

from nexla_mcp.errors import NexlaError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.nexla.shadow import shadow_client
from nexla_mcp.server.audit import AuditError, AuditLog
from nexla_mcp.server.guard import token_digest
from nexla_mcp.settings import WritePolicy
from nexla_mcp.tools._common import tool_result
from nexla_mcp.tools._outcomes import (
    CANCELLED_READBACK_S,
    Steps,
    UnsettledWrites,
    unanswered,
    verdict,
)
from nexla_mcp.tools._writes import ApprovalRecord, Observation, WriteOperation, WriteResult

__all__ = ["WriteExecution"]

logger = logging.getLogger(__name__)


class WriteExecution:
    """Sends approved writes and reconciles the ones whose outcome was unknown."""

    def __init__(self, audit: AuditLog, policy: WritePolicy, unsettled: UnsettledWrites) -> None:
        self.audit = audit
        self.policy = policy
        self.unsettled = unsettled
        """Writes whose outcome is unknown, in the state store (shared by replicas)."""

    async def execute(
        self, operation: WriteOperation, client: NexlaClient, plan_token: str,
        before: Observation, approval: ApprovalRecord,
    ) -> CallToolResult:  # fmt: skip
        """Send the change once, read it back and write the receipt.

        A cancellation from here on (the client gave up, the server is stopping) still leaves
        the outcome in the audit log: the rest runs shielded, with a bounded read-back.
        """
        steps = Steps(digest=token_digest(plan_token))
        if self.policy == "shadow":
            return await self._shadow(operation, client, before, approval, steps.digest)
        try:
            await self._send(operation, client, steps)
            after = await self._reread(operation, client)
            return await self._receipt(operation, before, after, approval, steps)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._settle_cancelled(operation, client, before, approval, steps)
            raise

    async def _send(self, operation: WriteOperation, client: NexlaClient, steps: Steps) -> None:
        try:
            await operation.execute(client)
        except NexlaError as error:
            if not error.outcome_unknown:
                steps.recorded_execution = True
                await self._record_after(operation, "execution", plan_digest=steps.digest,
                                         outcome="failed", error=type(error).__name__)  # fmt: skip
                raise
            # The request may have reached Nexla: never resend it, read back what happened.
            steps.unanswered = unanswered(error)
            await self._record_after(operation, "execution", plan_digest=steps.digest,
                                     outcome="ambiguous", error=type(error).__name__)  # fmt: skip
        else:
            await self._record_after(operation, "execution", plan_digest=steps.digest,
                                     outcome="sent")  # fmt: skip
        steps.recorded_execution = True

    async def _settle_cancelled(
        self, operation: WriteOperation, client: NexlaClient, before: Observation,
        approval: ApprovalRecord, steps: Steps,
    ) -> None:  # fmt: skip
        if not steps.recorded_execution:
            steps.unanswered = "the call was cancelled while the request was in flight"
            await self._record_after(operation, "execution", plan_digest=steps.digest,
                                     outcome="cancelled")  # fmt: skip
        if steps.recorded_verification:
            return
        after = None
        with anyio.move_on_after(CANCELLED_READBACK_S):
            after = await self._reread(operation, client)
        await self._receipt(operation, before, after, approval, steps)

    async def _shadow(
        self, operation: WriteOperation, client: NexlaClient, before: Observation,
        approval: ApprovalRecord, digest: str,
    ) -> CallToolResult:  # fmt: skip
        """Run the operation against a client that sends no change, and report what it tried."""
        dry, sent = shadow_client(client)
        try:
            await operation.execute(dry)
        except NexlaError as error:
            # The local reply to a write cannot satisfy every parser; what was sent is recorded.
            logger.info("shadow %s stopped after its write: %s", operation.tool,
                        type(error).__name__)  # fmt: skip
        would_send = [asdict(request) for request in sent]
        await self._record_after(operation, "execution", plan_digest=digest, outcome="shadow",
                                 would_send=would_send)  # fmt: skip
        result = WriteResult(
            status="shadow", tool=operation.tool, change=before.change,
            arguments=operation.arguments, changes=before.changes, approval=approval,
            before=before.state, would_send=would_send,
            note="Shadow mode (NEXLA_MCP_WRITES=shadow): approved, but nothing was sent to "
            "Nexla. would_send is exactly what this write sends when writes are on.",
        )  # fmt: skip
        calls = "; ".join(f"{r['method']} {r['path']}" for r in would_send) or "no request"
        return tool_result(result, f"SHADOW, nothing sent: {before.change} Would send: {calls}.")

    async def _record_after(self, operation: WriteOperation, event: str, **fields: Any) -> None:
        """Audit a step after the write was sent: a failure is logged, never raised, because
        the change may already be made and the caller must still learn what happened."""
        try:
            await self.audit.append(event, tool=operation.tool, args=operation.arguments, **fields)
        except AuditError:
            logger.exception("could not audit the %s of %s", event, operation.tool)

    async def _reread(self, operation: WriteOperation, client: NexlaClient) -> Observation | None:
        try:
            return await operation.reread(client)
        except NexlaError as error:
            logger.warning("could not re-read after %s: %s", operation.tool, type(error).__name__)
            return None

    async def _receipt(
        self, operation: WriteOperation, before: Observation, after: Observation | None,
        approval: ApprovalRecord, steps: Steps,
    ) -> CallToolResult:  # fmt: skip
        status, note = verdict(before, after, steps.unanswered)
        result = WriteResult(
            status=status, tool=operation.tool, change=before.change,
            arguments=operation.arguments, changes=after.changes if after else [],
            reverse_action=before.reverse if status != "not_applied" else None,
            approval=approval, before=before.state, after=after.state if after else None,
            verify_with=before.follow_up if status == "applied" else None, note=note,
        )  # fmt: skip
        steps.recorded_verification = True
        await self._record_after(
            operation, "verification", plan_digest=steps.digest, outcome=status,
            before=before.state, after=result.after,
        )  # fmt: skip
        if status == "unknown":
            await self.unsettled.remember(operation.tool, operation.arguments, steps.digest,
                                          steps.unanswered or "not visible")  # fmt: skip
        words = {"applied": "Done", "not_applied": "NOT APPLIED", "unknown": "OUTCOME UNKNOWN"}
        summary = f"{words[status]}: {before.change}"
        if status != "applied":
            summary += f" {note} Do not repeat the write blindly: read the state first."
        elif result.verify_with is not None:
            summary += f" Verify with {result.verify_with.tool}."
        return tool_result(result, summary)

    async def observe_for_plan(
        self, operation: WriteOperation, client: NexlaClient
    ) -> tuple[Observation, str | None]:
        """Read the state for a plan; when an earlier write of this change had an unknown
        outcome, settle it from this read-back and say what happened to it."""
        earlier = await self.unsettled.get(operation.tool, operation.arguments)
        if earlier is None:
            return await operation.observe(client), None
        observed = await operation.reread(client)
        if observed.changes:
            return observed, (
                "An earlier confirmed write of this change had an unknown outcome and does not "
                "show yet; it may still land, so read the state again before confirming."
            )
        if await self.unsettled.settle(operation.tool, operation.arguments):
            # Of plans settling it at once (on any replica) only the one that removed it audits.
            await self.audit.append(
                "reconciliation", tool=operation.tool, args=operation.arguments,
                plan_digest=earlier.plan_digest, outcome="applied", cause=earlier.cause,
                after=observed.state,
            )  # fmt: skip
        return observed, (
            "The earlier confirmed write of this change, whose outcome was unknown, has been "
            "applied: the state read back now shows it."
        )
