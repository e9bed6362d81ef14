"""Run an operation's steps with a journal: forward in order, and on failure back in reverse.

Each step is journaled ``started`` before its request and ``done`` after it, so the journal
always says which requests may have reached Nexla. When a step fails, every step that may have
taken effect is undone, newest first, and the operation ends ``rolled_back`` (or ``failed``
when an undo fails too: then the journal says which undo to retry). ``resume`` picks up an
operation a crash or restart left ``running``: it finishes the remaining steps or rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from nexla_mcp.errors import NexlaError
from nexla_mcp.operations.actions import (
    ACTIONS,
    CREATES,
    ActionContext,
    find_created,
    resolve,
)
from nexla_mcp.operations.journal import Journal, OperationRecord, StepRecord

__all__ = ["Outcome", "Progress", "Runner", "StepSpec"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], Awaitable[None]]


async def _no_progress(done: int, total: int, message: str) -> None:
    return None


@dataclass(frozen=True)
class StepSpec:
    """A step before it runs: its name, its request and the request that undoes it."""

    name: str
    action: dict[str, Any]
    undo: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "undo": self.undo}


@dataclass
class Outcome:
    """How a run ended: ``completed``, ``rolled_back`` or ``failed`` (rollback incomplete)."""

    operation_id: str
    status: Literal["completed", "rolled_back", "failed"]
    done: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    failed_step: str | None = None
    error: NexlaError | None = None
    results: dict[int, dict[str, Any]] = field(default_factory=dict)


def _steps_of(record: OperationRecord) -> list[StepSpec]:
    return [StepSpec(**step) for step in record.plan["steps"]]


class Runner:
    """Runs the steps of one operation against Nexla, journaling each one."""

    def __init__(
        self,
        journal: Journal,
        context: ActionContext,
        *,
        live: set[str],
        progress: Progress = _no_progress,
    ) -> None:
        self.journal = journal
        self.context = context
        self.live = live
        self.progress = progress

    async def start(
        self,
        kind: str,
        arguments: dict[str, Any],
        steps: list[StepSpec],
        extra: dict[str, Any] | None = None,
    ) -> Outcome:
        """Journal a new operation with its full step list, then run it."""
        plan = {"steps": [step.as_dict() for step in steps], **(extra or {})}
        record = await self.journal.create(kind, arguments, plan)
        self.live.add(record.id)
        try:
            return await self._forward(record)
        finally:
            self.live.discard(record.id)

    async def resume(
        self, record: OperationRecord, direction: Literal["finish", "rollback"]
    ) -> Outcome:
        """Finish or roll back an operation a crash or restart left half-done."""
        self.live.add(record.id)
        try:
            await self.journal.claim(record)
            if direction == "rollback":
                await self.journal.set_status(record.id, "rolling_back")
                return await self._rollback(record, failed_step=None, error=None)
            await self.journal.set_status(record.id, "running")
            return await self._forward(record)
        finally:
            self.live.discard(record.id)

    async def _forward(self, record: OperationRecord) -> Outcome:
        specs = _steps_of(record)
        journaled = {step.seq: step for step in record.steps}
        results = {seq: step.result for seq, step in journaled.items() if step.status == "done"}
        total = len(specs)
        for seq, spec in enumerate(specs):
            previous = journaled.get(seq)
            if previous is not None and previous.status == "done":
                continue
            step = StepRecord(seq, spec.name, spec.action, spec.undo, "started")
            await self.progress(seq, total, spec.name)
            try:
                action = resolve(spec.action, results)
                existing = None
                if previous is not None and spec.action["op"] in CREATES:
                    existing = await find_created(self.context.client, action)
                if existing is None:
                    await self.journal.put_step(record.id, step)
                    step.result = await ACTIONS[action["op"]](self.context, action)
                else:
                    step.result = {"id": existing}
            except NexlaError as error:
                step.status, step.error = "failed", _error_text(error)
                await self.journal.put_step(record.id, step)
                record.steps = [*(s for s in record.steps if s.seq != seq), step]
                logger.info(
                    "operation %s: step %s failed: %s", record.id, seq, type(error).__name__
                )
                await self.journal.set_status(record.id, "rolling_back", note=step.error)
                with anyio.CancelScope(shield=True):
                    return await self._rollback(record, failed_step=spec.name, error=error)
            step.status = "done"
            await self.journal.put_step(record.id, step)
            results[seq] = step.result
            record.steps = [*(s for s in record.steps if s.seq != seq), step]
        await self.journal.set_status(record.id, "completed")
        await self.progress(total, total, "done")
        return Outcome(record.id, "completed", done=[spec.name for spec in specs], results=results)

    async def _rollback(
        self, record: OperationRecord, *, failed_step: str | None, error: NexlaError | None
    ) -> Outcome:
        steps = sorted(record.steps, key=lambda step: step.seq)
        results = {step.seq: step.result for step in steps if step.result}
        outcome = Outcome(record.id, "rolled_back", failed_step=failed_step, error=error)
        outcome.done = [step.name for step in steps if step.status in ("done", "undoing")]
        pending = [
            step
            for step in reversed(steps)
            if step.undo is not None and _may_have_applied(step, error)
        ]
        for index, step in enumerate(pending):
            await self.progress(index, len(pending), f"undo: {step.name}")
            try:
                undo = await self._undo_action(step, results)
                if undo is not None:
                    step.status = "undoing"
                    await self.journal.put_step(record.id, step)
                    await ACTIONS[undo["op"]](self.context, undo)
            except NexlaError as undo_error:
                step.error = f"undo failed: {_error_text(undo_error)}"
                await self.journal.put_step(record.id, step)
                note = f"Rollback stopped at '{step.name}': {_error_text(undo_error)}"
                await self.journal.set_status(record.id, "failed", note=note)
                outcome.status = "failed"
                return outcome
            step.status = "undone"
            await self.journal.put_step(record.id, step)
            if undo is not None:
                outcome.undone.append(step.name)
        await self.journal.set_status(record.id, "rolled_back")
        return outcome

    async def _undo_action(
        self, step: StepRecord, results: dict[int, dict[str, Any]]
    ) -> dict[str, Any] | None:
        if step.undo is None:
            return None
        if step.action["op"] in CREATES and "id" not in step.result:
            # Cut short before its reply: undo what it made only if it made something.
            created = await find_created(self.context.client, resolve(step.action, results))
            if created is None:
                return None
            results = {**results, step.seq: {"id": created}}
        return resolve(step.undo, results)


def _may_have_applied(step: StepRecord, error: NexlaError | None) -> bool:
    """Whether a journaled step may have changed Nexla and so needs its undo."""
    if step.status in ("done", "started", "undoing"):
        return True
    if step.status == "failed":
        # A refused request changed nothing; a lost reply may have changed something.
        return error is None or error.outcome_unknown
    return False


def _error_text(error: NexlaError) -> str:
    return f"{type(error).__name__}: {error.message}"[:500]
