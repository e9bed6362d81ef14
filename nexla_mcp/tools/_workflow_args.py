"""The ``workflows`` toolset's argument types, per-server machinery and approval resolvers.

Each write tool has a module-level approval resolver with the tool's own argument names: the
SDK fills resolver parameters from tool arguments by name and runs the resolver before the
body (as in ``control.py``).
"""

from __future__ import annotations

from typing import Annotated, Any
from weakref import WeakKeyDictionary

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from pydantic import Field

from nexla_mcp.server.approval import ApprovalForm, NotAsked
from nexla_mcp.tools._common import MAX_ID
from nexla_mcp.tools._migration_ops import FinishMigration, MigrateSchema, Stage
from nexla_mcp.tools._operation_ops import Direction, ResumeOperation, Workflows
from nexla_mcp.tools._rotation_ops import DeleteCredential, RotateCredential
from nexla_mcp.tools._write_gate import Gate

__all__ = [
    "DeleteApproval",
    "DirectionArg",
    "FinishApproval",
    "Machinery",
    "MigrateApproval",
    "NewCredentialEntry",
    "NewCredentialId",
    "NewTransform",
    "NexsetId",
    "OperationId",
    "OptionalOperationId",
    "OutputSchema",
    "ResumeApproval",
    "RotateApproval",
    "StageArg",
    "Suffix",
    "TransformId",
    "machinery",
]

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


machinery: WeakKeyDictionary[Any, Workflows] = WeakKeyDictionary()


def _workflows_of(ctx: Context) -> Workflows:
    return machinery[ctx.mcp_server]


Machinery = Annotated[Workflows, Resolve(_workflows_of)]


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
