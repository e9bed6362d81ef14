"""``migrate_schema`` and ``finish_migration`` (cutover, cleanup) as ``WriteOperation``s."""

from __future__ import annotations

import time
from typing import Any, Literal

from nexla_mcp.errors import NotFoundError, ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.operations.journal import OperationRecord
from nexla_mcp.operations.runner import Progress
from nexla_mcp.runbooks.migration import (
    MigrationView,
    cleanup_steps,
    cutover_steps,
    migration_steps,
    observe_migration,
)
from nexla_mcp.runbooks.recovery import watch_recovery
from nexla_mcp.tools._operation_ops import (
    Journaled,
    Workflows,
    marker,
    operation_summary,
    silent,
)
from nexla_mcp.tools._writes import BlastRadius, Change, Observation, ReverseAction

__all__ = ["FinishMigration", "MigrateSchema", "Stage"]

Stage = Literal["cutover", "cleanup"]


class MigrateSchema(Journaled):
    """Child nexset with the new transform → sample check → parallel destinations → activate."""

    tool = "migrate_schema"
    kind = "migrate_schema"

    def __init__(
        self,
        workflows: Workflows,
        nexset_id: int,
        *,
        output_schema: dict[str, Any],
        transform: dict[str, Any] | None,
        transform_id: int | None,
        suffix: str,
        progress: Progress = silent,
    ) -> None:
        super().__init__(workflows, progress)
        if (transform is None) == (transform_id is None):
            raise ValidationError(
                "Give exactly one of transform or transform_id.",
                operation="validate_arguments",
                hint="transform is the new transform's code; transform_id a reusable one.",
            )
        self.nexset_id = nexset_id
        self.output_schema = output_schema
        self.transform = transform
        self.transform_id = transform_id
        self.suffix = suffix
        self.view: MigrationView | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "nexset_id": self.nexset_id,
            "output_schema": self.output_schema,
            "suffix": self.suffix,
        }
        if self.transform is not None:
            arguments["transform"] = self.transform
        else:
            arguments["transform_id"] = self.transform_id
        return arguments

    @property
    def _transform_body(self) -> dict[str, Any]:
        if self.transform is not None:
            return {"transform": self.transform}
        return {"transform_id": self.transform_id}

    async def read_state(self, client: NexlaClient) -> Observation:
        view = await observe_migration(
            client,
            self.nexset_id,
            transform=self._transform_body,
            output_schema=self.output_schema,
            suffix=self.suffix,
        )
        self.view = view
        steps = migration_steps(view, marker("plan"))
        changes = [
            Change(
                subject=f"data_sets (new) '{view.child_name}'",
                field="exists",
                before=None,
                after=f"child of nexset {self.nexset_id}",
            )
        ]
        changes += [
            Change(
                subject=f"data_sinks (new) '{d['name']}{self.suffix}'",
                field="sink_config",
                before=None,
                after=d["new_sink_config"],
            )
            for d in view.destinations
        ]
        flow_id = view.nexset.get("flow_id")
        return Observation(
            state=view.state(),
            change=f"Migrate nexset {self.nexset_id} to a new schema: a child nexset and "
            f"{len(view.destinations)} parallel destination(s), activated beside the old ones.",
            changes=changes,
            scope=self.workflows.scope([flow_id] if flow_id else []),
            blast_radius=BlastRadius(
                summary="Nothing existing changes: the old nexset and its destinations keep "
                "running; the new ones run beside them.",
                affected=[
                    f"data_sinks {d['id']} '{d['name']}' (gets a parallel twin)"
                    for d in view.destinations
                ],
                notes=[
                    "Steps, in order: " + "; ".join(step.name for step in steps) + ".",
                    "If the samples do not match the schema, or any step fails, everything "
                    "created is deleted again. Cutover (pause the old destinations) and "
                    "cleanup (delete them) are separate finish_migration calls.",
                    *view.notes,
                ],
            ),
            reverse=ReverseAction(
                tool="resume_operation",
                arguments={"direction": "rollback"},
                note="Pass the operation_id from the receipt; it deletes what was created.",
            ),
            blocked_by=view.blocked_by,
        )

    async def execute(self, client: NexlaClient) -> None:
        view = self.view
        assert view is not None  # the gate observes before it executes
        since_ms = int(time.time() * 1000)
        steps = migration_steps(view, marker(f"{self.kind}-{since_ms}"))
        created = [seq for seq, step in enumerate(steps) if step.action["op"].startswith("create")]
        extra = {
            "flow_ids": [view.nexset["flow_id"]] if view.nexset.get("flow_id") else [],
            "old_destinations": [d["id"] for d in view.destinations],
            "created_steps": created,
        }
        outcome = await self._run(client, steps, extra)
        self.created = [outcome.results[seq]["id"] for seq in created]
        flow_id = view.nexset.get("flow_id")
        if flow_id and not self.workflows.dry_run:
            watched = await watch_recovery(
                client, flow_id, since_ms=since_ms, timeout_s=self.workflows.verify_timeout_s
            )
            self.report = {"verification": watched.as_dict()}

    async def observe_after(self, client: NexlaClient) -> Observation:
        child, *sinks = self.created
        found = [("data_sets", child, await client.get_nexset(child))]
        found += [("data_sinks", sink, await client.get_destination(sink)) for sink in sinks]
        state = {
            "created": [
                {"resource": f"{kind}/{ident}", "status": item.status}
                for kind, ident, item in found
            ]
        }
        changes = [
            Change(subject=f"{kind} {ident}", field="status", before=item.status, after="ACTIVE")
            for kind, ident, item in found
            if item.status != "ACTIVE"
        ]
        return Observation(state, "", changes, self.workflows.scope([]))


def _created_destinations(record: OperationRecord) -> list[int]:
    results = {step.seq: step.result for step in record.steps}
    seqs = record.plan.get("created_steps", [])[1:]
    return [results[seq]["id"] for seq in seqs if "id" in results.get(seq, {})]


class FinishMigration(Journaled):
    """Cutover (pause the old destinations) or cleanup (delete them) of a completed migration."""

    tool = "finish_migration"

    def __init__(
        self, workflows: Workflows, operation_id: str, stage: Stage, progress: Progress = silent
    ) -> None:
        super().__init__(workflows, progress)
        self.operation_id = operation_id
        self.stage = stage
        self.kind = f"migration_{stage}"  # type: ignore[misc]

    @property
    def arguments(self) -> dict[str, Any]:
        return {"operation_id": self.operation_id, "stage": self.stage}

    def needs_person(self, observed: Observation) -> bool:
        """A cleanup deletes the old destinations: only a person may approve it."""
        return self.stage == "cleanup"

    async def _statuses(self, client: NexlaClient, ids: list[int]) -> dict[int, str | None]:
        statuses: dict[int, str | None] = {}
        for sink_id in ids:
            try:
                statuses[sink_id] = (await client.get_destination(sink_id)).status
            except NotFoundError:
                statuses[sink_id] = None
        return statuses

    async def read_state(self, client: NexlaClient) -> Observation:
        record = await self.workflows.record(self.operation_id)
        self.old = list(record.plan.get("old_destinations", []))
        old = await self._statuses(client, self.old)
        new = await self._statuses(client, _created_destinations(record))
        blocked = None
        if record.kind != "migrate_schema" or record.status != "completed":
            blocked = f"Operation {record.id} is not a completed migration ({record.status})."
        elif self.stage == "cutover" and any(status != "ACTIVE" for status in new.values()):
            blocked = "The parallel destinations are not all ACTIVE; fix them before cutover."
        elif self.stage == "cleanup" and any(status == "ACTIVE" for status in old.values()):
            blocked = "The old destinations are still ACTIVE: run the cutover first."
        if self.stage == "cutover":
            changes = [
                Change(subject=f"data_sinks {i}", field="status", before=s, after="PAUSED")
                for i, s in old.items()
                if s == "ACTIVE"
            ]
            verb = "Pause the old destinations"
            reverse = ReverseAction(
                tool="resume_operation",
                arguments={"direction": "rollback"},
                note="With this cutover's operation_id: re-activates them.",
            )
        else:
            changes = [
                Change(subject=f"data_sinks {i}", field="exists", before=True, after=False)
                for i, s in old.items()
                if s is not None
            ]
            verb = "Delete the old destinations (cannot be undone)"
            reverse = ReverseAction(note="Deleted destinations cannot be restored.")
        flow_ids = list(record.plan.get("flow_ids", []))
        return Observation(
            state={
                "operation": operation_summary(record, self.workflows.live),
                "old_destinations": old,
                "new_destinations": new,
            },
            change=f"{verb} of migration {record.id}: {len(changes)} destination(s).",
            changes=changes,
            scope=self.workflows.scope(flow_ids),
            blast_radius=BlastRadius(
                summary="Only the old destinations; the new path keeps running."
            ),
            reverse=reverse,
            blocked_by=blocked,
        )

    async def execute(self, client: NexlaClient) -> None:
        targets = self.old
        steps = cutover_steps(targets) if self.stage == "cutover" else cleanup_steps(targets)
        record = await self.workflows.record(self.operation_id)
        await self._run(
            client,
            steps,
            {"flow_ids": record.plan.get("flow_ids", []), "migration": self.operation_id},
        )
