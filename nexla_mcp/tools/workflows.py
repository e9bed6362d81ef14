"""The ``workflows`` toolset: credential rotation and schema migration as journaled operations.

``rotate_credential``, ``delete_credential``, ``migrate_schema``, ``finish_migration`` and
``resume_operation`` are writes behind the gate (``_write_gate.py``): without ``confirm`` they
return a plan that binds the whole observed state; confirmed, each runs its steps as one
operation journaled under ``NEXLA_MCP_STATE_DIR`` and either completes or rolls back.
``get_operation`` reads the journal. The domain logic lives in ``runbooks/rotation.py`` and
``runbooks/migration.py``; this module only wires tools to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from weakref import WeakKeyDictionary

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from nexla_mcp.operations.journal import JOURNAL_FILE, SqliteJournal
from nexla_mcp.operations.new_credentials import NewCredentials
from nexla_mcp.server.approval import ApprovalForm, NotAsked
from nexla_mcp.tools._common import (
    MAX_ID,
    Client,
    CredentialId,
    nexla_tool,
    tool_result,
)
from nexla_mcp.tools._migration_ops import FinishMigration, MigrateSchema, Stage
from nexla_mcp.tools._operation_ops import (
    Direction,
    ResumeOperation,
    Workflows,
    operation_summary,
)
from nexla_mcp.tools._rotation_ops import DeleteCredential, RotateCredential
from nexla_mcp.tools._write_gate import Gate, write_gate
from nexla_mcp.tools._writes import Confirm, PlanToken, WriteResult

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.operations.runner import Progress
    from nexla_mcp.settings import Settings

__all__ = ["register"]

Asked = ApprovalForm | NotAsked | Elicit[ApprovalForm]

OperationId = Annotated[
    str, Field(pattern=r"^op-[0-9a-f]{12}$", description="Operation id, from a receipt")
]
OptionalOperationId = Annotated[
    str | None, Field(pattern=r"^op-[0-9a-f]{12}$", description="Operation id, from a receipt")
]
NewCredentialId = Annotated[
    int | None, Field(gt=0, le=MAX_ID, description="Replacement the user created in Nexla")
]
NewCredentialEntry = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Or: entry of the server's new-credentials file to create it from",
    ),
]
NexsetId = Annotated[int, Field(gt=0, le=MAX_ID, description="Nexset (data_sets) id")]
OutputSchema = Annotated[
    dict[str, Any],
    Field(description="JSON Schema every output record of the new nexset must match"),
]
NewTransform = Annotated[
    dict[str, Any] | None, Field(description="New transform code, e.g. {operations: [...]}")
]
TransformId = Annotated[int | None, Field(gt=0, le=MAX_ID, description="Or: reusable transform")]
Suffix = Annotated[
    str,
    Field(
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Appended to new names and destination targets",
    ),
]


StageArg = Annotated[
    Stage, Field(description="cutover: pause the old destinations; cleanup: delete them")
]
DirectionArg = Annotated[
    Direction, Field(description="finish the remaining steps, or roll back the done ones")
]


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


_machinery: WeakKeyDictionary[Any, Workflows] = WeakKeyDictionary()


def _workflows_of(ctx: Context) -> Workflows:
    return _machinery[ctx.mcp_server]


Machinery = Annotated[Workflows, Resolve(_workflows_of)]


def _progress(ctx: Context) -> Progress:
    async def report(done: int, total: int, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report


async def _rotate_approval(
    ctx: Context,
    gate: Gate,
    workflows: Machinery,
    credential_id: int,
    new_credential_id: int | None,
    new_credential_entry: str | None,
    confirm: bool,
    plan_token: str | None,
) -> Asked:
    def build() -> RotateCredential:
        return RotateCredential(
            workflows,
            credential_id,
            new_credential_id=new_credential_id,
            new_credential_entry=new_credential_entry,
        )

    return await gate.ask(ctx, build, confirm, plan_token)


async def _delete_approval(
    ctx: Context,
    gate: Gate,
    workflows: Machinery,
    credential_id: int,
    confirm: bool,
    plan_token: str | None,
) -> Asked:
    return await gate.ask(
        ctx, lambda: DeleteCredential(workflows, credential_id), confirm, plan_token
    )


async def _migrate_approval(
    ctx: Context,
    gate: Gate,
    workflows: Machinery,
    nexset_id: int,
    output_schema: dict[str, Any],
    transform: dict[str, Any] | None,
    transform_id: int | None,
    suffix: str,
    confirm: bool,
    plan_token: str | None,
) -> Asked:
    def build() -> MigrateSchema:
        return MigrateSchema(
            workflows,
            nexset_id,
            output_schema=output_schema,
            transform=transform,
            transform_id=transform_id,
            suffix=suffix,
        )

    return await gate.ask(ctx, build, confirm, plan_token)


async def _finish_approval(
    ctx: Context,
    gate: Gate,
    workflows: Machinery,
    operation_id: str,
    stage: Stage,
    confirm: bool,
    plan_token: str | None,
) -> Asked:
    return await gate.ask(
        ctx, lambda: FinishMigration(workflows, operation_id, stage), confirm, plan_token
    )


async def _resume_approval(
    ctx: Context,
    gate: Gate,
    workflows: Machinery,
    operation_id: str,
    direction: Direction,
    confirm: bool,
    plan_token: str | None,
) -> Asked:
    return await gate.ask(
        ctx, lambda: ResumeOperation(workflows, operation_id, direction), confirm, plan_token
    )


RotateApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_rotate_approval)]
DeleteApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_delete_approval)]
MigrateApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_migrate_approval)]
FinishApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_finish_approval)]
ResumeApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_resume_approval)]


def register(server: MCPServer, settings: Settings) -> None:
    """Register the workflow tools (the writes only when writes are on)."""
    workflows = Workflows(
        journal=SqliteJournal(settings.state_dir / JOURNAL_FILE),
        new_credentials=NewCredentials(settings.new_credentials_file),
        allow_flows=settings.allow_flows,
        deny_flows=settings.deny_flows,
        verify_timeout_s=settings.verify_timeout_s,
    )
    _machinery[server] = workflows

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
            progress=_progress(ctx),
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
            progress=_progress(ctx),
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
        operation = FinishMigration(workflows, operation_id, stage, progress=_progress(ctx))
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
        operation = ResumeOperation(workflows, operation_id, direction, progress=_progress(ctx))
        return await gate.run(
            operation, client, confirm=confirm, plan_token=plan_token, approval=approval
        )
