"""``rotate_credential`` and ``delete_credential`` as ``WriteOperation``s."""

from __future__ import annotations

import time
from typing import Any

from nexla_mcp.errors import NotFoundError, ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.operations.runner import Progress
from nexla_mcp.runbooks.rotation import (
    RotationView,
    key_of,
    observe_rotation,
    rotation_steps,
    verify_rotation,
)
from nexla_mcp.runbooks.usage import credential_users
from nexla_mcp.server.write_policy import FlowScope
from nexla_mcp.tools._operation_ops import Journaled, Workflows, marker, silent
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
)

__all__ = ["DeleteCredential", "RotateCredential"]


# --- rotate_credential ------------------------------------------------------------------------


class RotateCredential(Journaled):
    """Move every source and destination from one credential to another, as one operation."""

    tool = "rotate_credential"
    kind = "rotate_credential"

    def __init__(
        self,
        workflows: Workflows,
        credential_id: int,
        *,
        new_credential_id: int | None,
        new_credential_entry: str | None,
        progress: Progress = silent,
    ) -> None:
        super().__init__(workflows, progress)
        if (new_credential_id is None) == (new_credential_entry is None):
            raise ValidationError(
                "Give exactly one of new_credential_id or new_credential_entry.",
                operation="validate_arguments",
                hint="Name the replacement the user created in Nexla by its id.",
            )
        self.credential_id = credential_id
        self.new_credential_id = new_credential_id
        self.new_credential_entry = new_credential_entry
        self.view: RotationView | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {"credential_id": self.credential_id}
        if self.new_credential_id is not None:
            arguments["new_credential_id"] = self.new_credential_id
        else:
            arguments["new_credential_entry"] = self.new_credential_entry
        return arguments

    async def read_state(self, client: NexlaClient) -> Observation:
        view = await observe_rotation(
            client,
            self.credential_id,
            new_id=self.new_credential_id,
            new_entry=self.new_credential_entry,
            new_credentials=self.workflows.new_credentials,
        )
        self.view = view
        new_label = (
            f"credential {self.new_credential_id}"
            if self.new_credential_id is not None
            else f"a new credential created from entry '{self.new_credential_entry}'"
        )
        changes = [
            Change(
                subject=f"{key_of(user)} '{user.name or ''}'",
                field="data_credentials_id",
                before=self.credential_id,
                after=self.new_credential_id or "new",
            )
            for user in view.users
        ]
        active = view.active_flows
        paused = [flow for flow in view.flows if not flow.active]
        steps = rotation_steps(view, marker("plan"))
        blast = BlastRadius(
            summary=f"{len(view.users)} source(s)/destination(s) in {len(view.flows)} flow(s) "
            f"move to {new_label}; {len(active)} active flow(s) pause for the switch and "
            "resume after it.",
            affected=[
                f"flow {flow.flow_id} '{flow.name or ''}' (paused, then re-activated)"
                for flow in active
            ]
            + [f"flow {flow.flow_id} '{flow.name or ''}' (stays paused)" for flow in paused],
            notes=[
                "Steps, in order: " + "; ".join(step.name for step in steps) + ".",
                "If any step fails, the done steps are undone in reverse and every flow is "
                "left as it is now. The old credential is kept (delete_credential removes it "
                "after a separate confirmation).",
                *view.notes,
            ],
        )
        return Observation(
            state=view.state(),
            change=f"Rotate credential {self.credential_id} to {new_label} for "
            f"{len(view.users)} user(s) in {len(view.flows)} flow(s).",
            changes=changes,
            scope=self.workflows.scope([flow.flow_id for flow in view.flows]),
            blast_radius=blast,
            reverse=self._reverse(),
            blocked_by=view.blocked_by,
        )

    def _reverse(self) -> ReverseAction:
        """Rotating back moves the same users to the old credential."""
        if self.new_credential_id is None:
            return ReverseAction(
                tool="rotate_credential",
                arguments={"new_credential_id": self.credential_id},
                note="With credential_id set to the created credential's id (in the receipt); "
                "or resume_operation direction=rollback with the operation id.",
            )
        return ReverseAction(
            tool="rotate_credential",
            arguments={
                "credential_id": self.new_credential_id,
                "new_credential_id": self.credential_id,
            },
            note="It moves the same users back to the old credential.",
        )

    async def execute(self, client: NexlaClient) -> None:
        view = self.view
        assert view is not None  # the gate observes before it executes
        since_ms = int(time.time() * 1000)
        steps = rotation_steps(view, marker(f"{self.kind}-{since_ms}"))
        extra = {"flow_ids": [flow.flow_id for flow in view.flows]}
        outcome = await self._run(client, steps, extra)
        if self.workflows.dry_run:
            return
        new_id = self.new_credential_id or outcome.results[0]["id"]
        self.report = {
            "verification": await verify_rotation(
                client,
                new_id,
                [flow.flow_id for flow in view.active_flows],
                since_ms=since_ms,
                timeout_s=self.workflows.verify_timeout_s,
            )
        }


# --- delete_credential ------------------------------------------------------------------------


class DeleteCredential(WriteOperation):
    """Delete a credential nothing uses any more (after a rotation)."""

    tool = "delete_credential"
    destructive = True

    def __init__(self, workflows: Workflows, credential_id: int) -> None:
        self.workflows = workflows
        self.credential_id = credential_id

    @property
    def arguments(self) -> dict[str, Any]:
        return {"credential_id": self.credential_id}

    async def observe(self, client: NexlaClient) -> Observation:
        try:
            credential = await client.get_credential(self.credential_id)
        except NotFoundError:
            return Observation(
                {"credential": None},
                f"Credential {self.credential_id} is already gone.",
                [],
                FlowScope(None),
            )
        users = await credential_users(client, self.credential_id)
        label = f"data_credentials {credential.id} '{credential.name or ''}'"
        blocked = None
        if users:
            blocked = (
                f"{len(users)} source(s)/destination(s) still use it (e.g. {key_of(users[0])});"
                " rotate_credential moves them first."
            )
        return Observation(
            state={
                "credential": {
                    "id": credential.id,
                    "name": credential.name,
                    "credentials_type": credential.credentials_type,
                },
                "users": [key_of(user) for user in users],
            },
            change=f"Delete credential {credential.id}. This cannot be undone.",
            changes=[Change(subject=label, field="exists", before=True, after=False)],
            scope=self.workflows.scope(sorted({u.flow_id for u in users if u.flow_id})),
            blast_radius=BlastRadius(summary="Nothing uses it; only the credential goes."),
            reverse=ReverseAction(
                note="A deleted credential cannot be restored; its secret "
                "would have to be entered again in Nexla."
            ),
            blocked_by=blocked,
        )

    async def execute(self, client: NexlaClient) -> None:
        await client.delete_credential(self.credential_id)
