"""The ``workflows`` toolset: credential rotation and schema migration as journaled operations.

``rotate_credential``, ``delete_credential``, ``migrate_schema``, ``finish_migration`` and
``resume_operation`` are writes behind the gate (``_write_gate.py``): without ``confirm`` they
return a plan that binds the whole observed state; confirmed, each runs its steps as one
operation journaled in the server's state store (the one the write gate uses: SQLite in
``NEXLA_MCP_STATE_DIR``, or PostgreSQL shared by replicas) and either completes or rolls back.
``get_operation`` reads the journal, so any replica sees any replica's operations. The
domain logic lives in ``runbooks/rotation.py`` and ``runbooks/migration.py``; this module only
wires tools to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from nexla_mcp.operations.journal import LEGACY_JOURNAL_FILE, StoreJournal
from nexla_mcp.operations.new_credentials import NewCredentials
from nexla_mcp.server.state import server_store
from nexla_mcp.tools._common import (
    Client,
    CredentialId,
    nexla_tool,
    progress_of,
    tool_result,
)
from nexla_mcp.tools._migration_ops import FinishMigration, MigrateSchema
from nexla_mcp.tools._operation_ops import (
    ResumeOperation,
    Workflows,
    operation_summary,
)
from nexla_mcp.tools._rotation_ops import DeleteCredential, RotateCredential
from nexla_mcp.tools._workflow_args import (
    DeleteApproval,
    DirectionArg,
    FinishApproval,
    Machinery,
    MigrateApproval,
    NewCredentialEntry,
    NewCredentialId,
    NewTransform,
    NexsetId,
    OperationId,
    OptionalOperationId,
    OutputSchema,
    ResumeApproval,
    RotateApproval,
    StageArg,
    Suffix,
    TransformId,
    machinery,
)
from nexla_mcp.tools._write_gate import Gate, write_gate
from nexla_mcp.tools._writes import Confirm, PlanToken, WriteResult

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["register"]


class StepView(BaseModel):
    """One step of an operation."""

    seq: int
    name: str
    status: str = Field(description="pending, started, done, failed, undoing or undone")
    error: str | None = None


class OperationView(BaseModel):
    """An operation from the journal."""

    operation_id: str
    kind: str
    status: str = Field(description="running, completed, rolled_back, rolling_back or failed")
    interrupted: bool = Field(description="true: nothing runs it; resume_operation can")
    arguments: dict[str, Any]
    steps: list[StepView] = Field(default_factory=list)
    note: str | None = None


class OperationList(BaseModel):
    """The operations, newest first (one in full when operation_id is given)."""

    operations: list[OperationView] = Field(default_factory=list)


def register(server: MCPServer, settings: Settings) -> None:
    """Register the workflow tools (the writes only when writes are on)."""
    workflows = Workflows(
        journal=StoreJournal(
            server_store(server, settings),
            legacy=settings.effective_state_dir / LEGACY_JOURNAL_FILE,
        ),
        new_credentials=NewCredentials(settings.new_credentials_file),
        allow_flows=settings.allow_flows,
        deny_flows=settings.deny_flows,
        verify_timeout_s=settings.verify_timeout_s,
        dry_run=str(settings.write_policy) == "shadow",
    )
    machinery[server] = workflows

    @nexla_tool(
        server,
        name="get_operation",
        title="Get operation",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def get_operation(
        workflows: Machinery, operation_id: OptionalOperationId = None
    ) -> Annotated[CallToolResult, OperationList]:
        """A rotation's or migration's progress from the journal: each step's status, and
        whether it was interrupted (resume_operation finishes or rolls it back). Without
        operation_id: the 10 newest operations, without steps."""
        if operation_id is not None:
            record = await workflows.record(operation_id)
            view = OperationView.model_validate(operation_summary(record, workflows.live))
            done = sum(step.status == "done" for step in view.steps)
            return tool_result(
                OperationList(operations=[view]),
                f"Operation {view.operation_id}"
                f" ({view.kind}) is {view.status}: {done} of {len(view.steps)} "
                "steps done.",
            )
        records = await workflows.journal.recent(10)
        views = [
            OperationView.model_validate({**operation_summary(r, workflows.live), "steps": []})
            for r in records
        ]
        return tool_result(OperationList(operations=views), f"{len(views)} operation(s).")

    if settings.write_policy == "off":
        return
    write_gate(server, settings)

    @nexla_tool(
        server,
        name="rotate_credential",
        title="Rotate credential",
        read_only=False,
        destructive=False,
        idempotent=False,
    )
    async def rotate_credential(
        ctx: Context,
        client: Client,
        gate: Gate,
        workflows: Machinery,
        approval: RotateApproval,
        credential_id: CredentialId,
        new_credential_id: NewCredentialId = None,
        new_credential_entry: NewCredentialEntry = None,
        confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Move every source and destination using credential_id to a new credential, as one
        journaled operation: probe the new one → pause the affected active flows → repoint each
        user → re-activate exactly those flows → verify (probe, watch the next run). A failing
        step rolls everything back. Never pass secrets: name the replacement by its id.
        Without confirm nothing changes: you get the plan and a plan_token; repeat with
        confirm=true and it only once the user agreed.
        """
        operation = RotateCredential(
            workflows,
            credential_id,
            new_credential_id=new_credential_id,
            new_credential_entry=new_credential_entry,
            progress=progress_of(ctx),
        )
        return await gate.run(
            operation, client, confirm=confirm, plan_token=plan_token, approval=approval
        )

    @nexla_tool(
        server,
        name="delete_credential",
        title="Delete credential",
        read_only=False,
        destructive=True,
        idempotent=False,
    )
    async def delete_credential(
        client: Client,
        gate: Gate,
        workflows: Machinery,
        approval: DeleteApproval,
        credential_id: CredentialId,
        confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Delete a credential that nothing uses any more (after rotate_credential). No undo.
        Plan first, then confirm=true with the plan_token once the user agreed."""
        return await gate.run(
            DeleteCredential(workflows, credential_id),
            client,
            confirm=confirm,
            plan_token=plan_token,
            approval=approval,
        )

    @nexla_tool(
        server,
        name="migrate_schema",
        title="Migrate schema",
        read_only=False,
        destructive=False,
        idempotent=False,
    )
    async def migrate_schema(
        ctx: Context,
        client: Client,
        gate: Gate,
        workflows: Machinery,
        approval: MigrateApproval,
        nexset_id: NexsetId,
        output_schema: OutputSchema,
        transform: NewTransform = None,
        transform_id: TransformId = None,
        suffix: Suffix = "_v2",
        confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Zero-downtime schema change, as one journaled operation: a child nexset of nexset_id
        with the new transform → its samples checked against output_schema (abort on any
        mismatch) → a parallel destination beside each old one → activate and watch. Nothing
        existing changes; finish_migration cuts over and cleans up later. Plan first, then
        confirm=true with the plan_token once the user agreed.
        """
        operation = MigrateSchema(
            workflows,
            nexset_id,
            output_schema=output_schema,
            transform=transform,
            transform_id=transform_id,
            suffix=suffix,
            progress=progress_of(ctx),
        )
        return await gate.run(
            operation, client, confirm=confirm, plan_token=plan_token, approval=approval
        )

    @nexla_tool(
        server,
        name="finish_migration",
        title="Finish migration",
        read_only=False,
        destructive=True,
        idempotent=False,
    )
    async def finish_migration(
        ctx: Context,
        client: Client,
        gate: Gate,
        workflows: Machinery,
        approval: FinishApproval,
        operation_id: OperationId,
        stage: StageArg,
        confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """After migrate_schema: stage=cutover pauses the old destinations; stage=cleanup then
        deletes them (no undo). Plan first, then confirm=true with the plan_token."""
        operation = FinishMigration(workflows, operation_id, stage, progress=progress_of(ctx))
        return await gate.run(
            operation, client, confirm=confirm, plan_token=plan_token, approval=approval
        )

    @nexla_tool(
        server,
        name="resume_operation",
        title="Resume operation",
        read_only=False,
        destructive=True,
        idempotent=False,
    )
    async def resume_operation(
        ctx: Context,
        client: Client,
        gate: Gate,
        workflows: Machinery,
        approval: ResumeApproval,
        operation_id: OperationId,
        direction: DirectionArg,
        confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Finish (direction=finish) or undo (direction=rollback) an operation a crash or
        restart interrupted, from its journal; rollback also undoes a completed one. Plan
        first, then confirm=true with the plan_token."""
        operation = ResumeOperation(workflows, operation_id, direction, progress=progress_of(ctx))
        return await gate.run(
            operation, client, confirm=confirm, plan_token=plan_token, approval=approval
        )
