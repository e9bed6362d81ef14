"""What the workflow writes share: the per-server ``Workflows`` machinery, the journaled
``WriteOperation`` base, the error a rolled-back operation raises, and ``resume_operation``.

Each multi-step write observes the *whole* state it depends on (every user of a credential,
every status of every affected flow, the journal of the operation it resumes), so the plan
token binds all of it; on confirmation it runs as one journaled operation
(``nexla_mcp.operations``) and either completes or rolls back. A rolled-back run is reported
as an error (``OperationFailedError``) that names the failed step and what was undone.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from nexla_mcp.errors import NexlaError, NotFoundError, ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.operations.actions import ActionContext
from nexla_mcp.operations.journal import (
    UNFINISHED,
    Journal,
    MemoryJournal,
    OperationRecord,
    is_interrupted,
)
from nexla_mcp.operations.new_credentials import NewCredentials
from nexla_mcp.operations.runner import Outcome, Progress, Runner, StepSpec
from nexla_mcp.runbooks.migration import (
    CHECKS,
)
from nexla_mcp.runbooks.rotation import (
    flow_statuses,
)
from nexla_mcp.server.write_policy import FlowScope, flow_refusal
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
)

__all__ = [
    "Journaled",
    "OperationFailedError",
    "ResumeOperation",
    "Workflows",
    "marker",
    "operation_summary",
    "silent",
]


async def silent(done: int, total: int, message: str) -> None:
    return None


@dataclass
class Workflows:
    """One server's operations machinery: journal, new-credentials file, lists, live set."""

    journal: Journal
    new_credentials: NewCredentials
    allow_flows: tuple[int, ...] = ()
    deny_flows: tuple[int, ...] = ()
    verify_timeout_s: float = 20.0
    dry_run: bool = False
    """Shadow writes: operations run against a client that sends no change, journaled only
    in memory, and are not verified (no run can follow a change that was never made)."""
    live: set[str] = field(default_factory=set)

    def runner(self, client: NexlaClient, progress: Progress = silent) -> Runner:
        context = ActionContext(client, self.new_credentials.body, CHECKS, dry_run=self.dry_run)
        journal = MemoryJournal() if self.dry_run else self.journal
        return Runner(journal, context, live=self.live, progress=progress)

    def scope(self, flow_ids: list[int]) -> FlowScope:
        """The scope the allow/deny lists judge: every flow must pass, so the first one that
        does not is the scope; otherwise all of them."""
        for flow_id in flow_ids:
            if flow_refusal(FlowScope(flow_id), self.allow_flows, self.deny_flows):
                return FlowScope(flow_id)
        return FlowScope(min(flow_ids) if flow_ids else None, frozenset(flow_ids))

    async def record(self, operation_id: str) -> OperationRecord:
        record = await self.journal.get(operation_id)
        if record is None:
            raise NotFoundError(
                f"No operation {operation_id} in this server's journal.",
                resource_type="operations",
                resource_id=operation_id,
                hint="Operation ids come from the receipt or error of rotate_credential or "
                "migrate_schema.",
            )
        return record


class OperationFailedError(NexlaError):
    """An operation stopped at a failing step; ``details`` says what was done and undone."""

    def __init__(self, kind: str, outcome: Outcome, restored: bool | None = None) -> None:
        cause = outcome.error
        where = f" at step '{outcome.failed_step}'" if outcome.failed_step else ""
        reason = f" ({type(cause).__name__}: {cause.message})" if cause else ""
        if outcome.status == "rolled_back":
            state = (
                f"Rolled back: {len(outcome.undone)} step(s) undone; "
                + {
                    True: "read back, Nexla is as it was before.",
                    False: "read back, the state differs from before (something else changed "
                    "it, or an undo did not take): check it.",
                    None: "the state could not be read back: check it.",
                }[restored]
            )
            hint = (
                f"Nothing is left half-done. get_operation {outcome.operation_id} lists the steps."
            )
        else:
            state = "The rollback could not finish; some steps are still applied."
            hint = (
                f"Call resume_operation with operation_id={outcome.operation_id} and "
                "direction=rollback once the cause is fixed."
            )
        details: dict[str, Any] = {
            "operation_id": outcome.operation_id,
            "status": outcome.status,
            "state_restored": restored,
            "failed_step": outcome.failed_step,
            "done": outcome.done,
            "undone": outcome.undone,
        }
        if cause is not None:
            details["cause"] = {
                "type": type(cause).__name__,
                "message": cause.message,
                **({"details": cause.details} if cause.details else {}),
            }
        super().__init__(
            f"The {kind} failed{where}{reason}. {state}",
            details=details,
            operation=kind,
            hint=hint,
            status_code=cause.status_code if cause else None,
        )


async def _restored(operation: Journaled, client: NexlaClient, before: Observation) -> bool | None:
    """Whether the state read back after a rollback is the state read before the run."""
    try:
        return (await operation.read_state(client)).fingerprint == before.fingerprint
    except NexlaError:
        return None


def operation_summary(record: OperationRecord, live: set[str]) -> dict[str, Any]:
    """An operation as tools show it: id, status, each step's status, whether to resume."""
    steps = {step.seq: step for step in record.steps}
    shown = []
    for seq, spec in enumerate(record.plan.get("steps", [])):
        step = steps.get(seq)
        entry = {"seq": seq, "name": spec["name"], "status": step.status if step else "pending"}
        if step is not None and step.error:
            entry["error"] = step.error
        shown.append(entry)
    return {
        "operation_id": record.id,
        "kind": record.kind,
        "status": record.status,
        "interrupted": is_interrupted(record, live),
        "arguments": record.arguments,
        "steps": shown,
        **({"note": record.note} if record.note else {}),
    }


def marker(operation_hint: str) -> str:
    """The tag that lets a resumed create find what it already made."""
    return f"nexla-mcp-op:{operation_hint}"


class Journaled(WriteOperation):
    """A write that runs as one journaled operation and reports it in its receipt."""

    kind: ClassVar[str]

    def __init__(self, workflows: Workflows, progress: Progress) -> None:
        self.workflows = workflows
        self.progress = progress
        self.outcome: Outcome | None = None
        self.report: dict[str, Any] = {}
        self.observed: Observation | None = None

    @abstractmethod
    async def read_state(self, client: NexlaClient) -> Observation:
        """Read the state the operation depends on (GET requests only)."""

    async def observe(self, client: NexlaClient) -> Observation:
        """``read_state``, remembered: the gate's last read before ``execute`` is the state a
        rollback is checked against."""
        self.observed = await self.read_state(client)
        return self.observed

    async def _run(
        self, client: NexlaClient, steps: list[StepSpec], extra: dict[str, Any]
    ) -> Outcome:
        before = self.observed or await self.observe(client)
        outcome = await self.workflows.runner(client, self.progress).start(
            self.kind, self.arguments, steps, extra
        )
        self.outcome = outcome
        if outcome.status != "completed":
            raise OperationFailedError(self.kind, outcome, await _restored(self, client, before))
        return outcome

    async def observe_after(self, client: NexlaClient) -> Observation:
        """The state read back after a completed run (by default: read it again)."""
        return await self.read_state(client)

    async def reread(self, client: NexlaClient) -> Observation:
        observed = await self.observe_after(client)
        if self.outcome is None:
            return observed
        record = await self.workflows.record(self.outcome.operation_id)
        state = {
            "operation": operation_summary(record, self.workflows.live),
            **self.report,
            **observed.state,
        }
        return Observation(state, observed.change, observed.changes, observed.scope)


# --- resume_operation -------------------------------------------------------------------------

Direction = Literal["finish", "rollback"]


def _may_need_undo(status: str) -> bool:
    return status in ("done", "started", "undoing", "failed")


class ResumeOperation(WriteOperation):
    """Finish or roll back an operation a crash or restart left half-done (or roll back a
    completed one)."""

    tool = "resume_operation"

    def __init__(
        self,
        workflows: Workflows,
        operation_id: str,
        direction: Direction,
        progress: Progress = silent,
    ) -> None:
        self.workflows = workflows
        self.operation_id = operation_id
        self.direction = direction
        self.progress = progress
        self.record: OperationRecord | None = None
        self.outcome: Outcome | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        return {"operation_id": self.operation_id, "direction": self.direction}

    def needs_person(self, observed: Observation) -> bool:
        """Deleting what an operation created (rolling a migration back) or what it set out
        to delete (finishing a cleanup) cannot be undone: only a person may approve it."""
        record = self.record
        if record is None:
            return True
        if self.direction == "rollback":
            ops = [step.undo["op"] for step in record.steps if step.undo]
        else:
            ops = [spec["action"]["op"] for spec in record.plan.get("steps", [])]
        return any(op.startswith("delete") for op in ops)

    def _blocked(self, record: OperationRecord) -> str | None:
        if record.status in UNFINISHED:
            if not is_interrupted(record, self.workflows.live):
                return "The operation is still running; wait for it (get_operation shows it)."
            return None
        if self.direction == "rollback" and record.status == "completed":
            if record.kind == "migration_cleanup":
                return "A cleanup deleted resources; it cannot be rolled back."
            return None
        return f"The operation is {record.status}; there is nothing to {self.direction}."

    def _changes(self, record: OperationRecord) -> list[Change]:
        journaled = {step.seq: step for step in record.steps}
        specs = record.plan.get("steps", [])
        if self.direction == "finish":
            return [
                Change(
                    subject=f"step {seq}: {spec['name']}",
                    field="step",
                    before=journaled[seq].status if seq in journaled else "pending",
                    after="done",
                )
                for seq, spec in enumerate(specs)
                if seq not in journaled or journaled[seq].status != "done"
            ]
        return [
            Change(
                subject=f"step {step.seq}: {step.name}",
                field="step",
                before=step.status,
                after="undone",
            )
            for step in sorted(record.steps, key=lambda s: -s.seq)
            if _may_need_undo(step.status) and step.undo is not None
        ]

    async def observe(self, client: NexlaClient) -> Observation:
        record = await self.workflows.record(self.operation_id)
        self.record = record
        flow_ids = list(record.plan.get("flow_ids", []))
        flows = [(await flow_statuses(client, flow_id)).as_dict() for flow_id in flow_ids]
        verb = "Finish" if self.direction == "finish" else "Roll back"
        changes = self._changes(record)
        return Observation(
            state={"operation": operation_summary(record, self.workflows.live), "flows": flows},
            change=f"{verb} operation {record.id} ({record.kind}): {len(changes)} step(s).",
            changes=changes,
            scope=self.workflows.scope(flow_ids),
            blast_radius=BlastRadius(
                summary=f"{verb} the {record.kind} {record.id} from its journal.",
                notes=["Steps are repeated or undone from the journal; each is safe to repeat."],
            ),
            reverse=ReverseAction(note="The journal keeps every step; get_operation shows them."),
            blocked_by=self._blocked(record) if self.outcome is None else None,
        )

    async def execute(self, client: NexlaClient) -> None:
        record = self.record
        assert record is not None  # the gate observes before it executes
        if record.id in self.workflows.live:
            raise ValidationError(f"Operation {record.id} is already being resumed.")
        outcome = await self.workflows.runner(client, self.progress).resume(record, self.direction)
        self.outcome = outcome
        if outcome.status == "failed" or (
            self.direction == "finish" and outcome.status != "completed"
        ):
            raise OperationFailedError(record.kind, outcome)

    async def reread(self, client: NexlaClient) -> Observation:
        observed = await self.observe(client)
        if self.outcome is not None:
            return Observation(observed.state, observed.change, [], observed.scope)
        return observed
