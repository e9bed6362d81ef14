"""The ``control`` toolset: pause, activate and delete flows; relabel resources, repoint or retune
a source or destination (``update_resource``) and replace a transform's code
(``update_transform``).

Every tool here is a write behind the gate (``_write_gate.py``): called without ``confirm`` it
changes nothing and returns a plan with a ``plan_token``; called again with ``confirm=true``
and that token it re-checks the state, asks the user when the client can, makes the change
and returns a receipt read back from Nexla. Not registered at all when writes are off.

Each tool has a module-level approval resolver with the tool's own argument names: the SDK
fills resolver parameters from tool arguments by name and runs the resolver before the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.server.approval import ApprovalForm, NotAsked
from nexla_mcp.tools._common import (
    Client,
    FlowId,
    OptionalCredentialId,
    OptionalFlowId,
    OptionalResourceId,
    OptionalResourceType,
    ResourceId,
    ResourceType,
    ResourceTypeName,
    nexla_tool,
)
from nexla_mcp.tools._flow_ops import ActivateFlow, DeleteFlow, FlowTarget, PauseFlow
from nexla_mcp.tools._resource_ops import UpdateResource
from nexla_mcp.tools._transform_ops import MAX_CODE_CHARS, CodeType, UpdateTransform
from nexla_mcp.tools._write_gate import Gate, write_gate
from nexla_mcp.tools._writes import Confirm, PlanToken, WriteResult

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["register"]

Asked = ApprovalForm | NotAsked | Elicit[ApprovalForm]

WholeFlow = Annotated[
    bool, Field(description="true: the whole flow from its origin, not just downstream")
]
NewName = Annotated[str | None, Field(min_length=1, max_length=255, description="New name")]
NewDescription = Annotated[str | None, Field(max_length=2000, description="New description")]
NewTags = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]] | None,
    Field(max_length=50, description="The complete new tag list"),
]
SettingName = Literal["timeout_ms", "page_size", "batch_size", "max_retries", "retry_backoff_ms"]
NewSettings = Annotated[
    dict[SettingName, int] | None,
    Field(description="Connector settings to change (sources; destinations: no page_size)"),
]
NewSchedule = Annotated[
    str | None,
    Field(min_length=1, max_length=100, description='Source poll schedule, e.g. "every 2 hours"'),
]
TransformId = Annotated[int, Field(gt=0, le=2**53 - 1, description="Transform id (get_flow)")]
NewCode = Annotated[
    str, Field(min_length=1, max_length=MAX_CODE_CHARS, description="The complete new code")
]
NewCodeType = Annotated[CodeType | None, Field(description="Default: keep the current type")]


async def _pause_approval(
    ctx: Context, gate: Gate, flow_id: int | None, resource_type: ResourceTypeName | None,
    resource_id: int | None,
    all: bool, confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    def build() -> PauseFlow:
        return PauseFlow(FlowTarget(flow_id, resource_type, resource_id), all)

    return await gate.ask(ctx, build, confirm, plan_token)


async def _activate_approval(
    ctx: Context, gate: Gate, flow_id: int | None, resource_type: ResourceTypeName | None,
    resource_id: int | None,
    all: bool, confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    def build() -> ActivateFlow:
        return ActivateFlow(FlowTarget(flow_id, resource_type, resource_id), all)

    return await gate.ask(ctx, build, confirm, plan_token)


async def _delete_approval(
    ctx: Context, gate: Gate, flow_id: int, confirm: bool, plan_token: str | None
) -> Asked:
    return await gate.ask(ctx, lambda: DeleteFlow(flow_id), confirm, plan_token)


async def _update_approval(
    ctx: Context, gate: Gate, resource_type: ResourceTypeName, resource_id: int, name: str | None,
    description: str | None, tags: list[str] | None, credential_id: int | None,
    poll_schedule: str | None, settings: dict[str, int] | None, confirm: bool,
    plan_token: str | None,
) -> Asked:  # fmt: skip
    def build() -> UpdateResource:
        return UpdateResource(resource_type, resource_id, name=name, description=description,
                              tags=tags, credential_id=credential_id,
                              poll_schedule=poll_schedule, settings=settings)  # fmt: skip

    return await gate.ask(ctx, build, confirm, plan_token)


async def _transform_approval(
    ctx: Context, gate: Gate, transform_id: int, code: str, code_type: CodeType | None,
    confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    return await gate.ask(ctx, lambda: UpdateTransform(transform_id, code, code_type), confirm,
                          plan_token)  # fmt: skip


PauseApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_pause_approval)]
ActivateApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_activate_approval)]
DeleteApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_delete_approval)]
UpdateApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_update_approval)]
TransformApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_transform_approval)]


def register(server: MCPServer, settings: Settings) -> None:
    """Register the control tools, unless writes are off."""
    if settings.write_policy == "off":
        return
    write_gate(server, settings)

    @nexla_tool(server, name="pause_flow", title="Pause flow", read_only=False,
                destructive=False, idempotent=True)  # fmt: skip
    async def pause_flow(
        client: Client, gate: Gate, approval: PauseApproval,
        flow_id: OptionalFlowId = None, resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None, all: WholeFlow = False,
        confirm: Confirm = False, plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Pause a flow node (flow_id, or resource_type + resource_id) and everything downstream of
        it; all=true pauses the whole flow.

        Without confirm nothing changes: you get a plan (what stops, what keeps running, runs in
        flight, the undo call) and a plan_token valid 5 minutes. Show it to the user; only if
        they agree, repeat the call with confirm=true and plan_token (their client may ask them
        to approve).
        """
        operation = PauseFlow(FlowTarget(flow_id, resource_type, resource_id), all)
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip

    @nexla_tool(server, name="activate_flow", title="Activate flow", read_only=False,
                destructive=False, idempotent=True)  # fmt: skip
    async def activate_flow(
        client: Client, gate: Gate, approval: ActivateApproval,
        flow_id: OptionalFlowId = None, resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None, all: WholeFlow = False,
        confirm: Confirm = False, plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Activate a flow node (flow_id, or resource_type + resource_id) and everything downstream
        of it; all=true activates the whole flow. An active source runs at once.

        Without confirm nothing changes: you get a plan (what starts, the undo call) and a
        plan_token valid 5 minutes. Show it to the user; only if they agree, repeat the call with
        confirm=true and plan_token (their client may ask them to approve).
        """
        operation = ActivateFlow(FlowTarget(flow_id, resource_type, resource_id), all)
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip

    @nexla_tool(server, name="delete_flow", title="Delete flow", read_only=False,
                destructive=True, idempotent=False)  # fmt: skip
    async def delete_flow(
        client: Client, gate: Gate, approval: DeleteApproval, flow_id: FlowId,
        confirm: Confirm = False, plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Delete a flow node and everything downstream of it, resources included. No undo. Nexla
        refuses while anything in that scope is ACTIVE (pause first).

        Without confirm nothing changes: you get a plan listing all that would be removed and a
        plan_token valid 5 minutes. Show it to the user; only if they agree, repeat the call with
        confirm=true and plan_token (their client may ask them to approve).
        """
        return await gate.run(DeleteFlow(flow_id), client, confirm=confirm,
                              plan_token=plan_token, approval=approval)  # fmt: skip

    @nexla_tool(server, name="update_resource", title="Update resource", read_only=False,
                destructive=False, idempotent=True)  # fmt: skip
    async def update_resource(
        client: Client, gate: Gate, approval: UpdateApproval,
        resource_type: ResourceType, resource_id: ResourceId, name: NewName = None,
        description: NewDescription = None, tags: NewTags = None,
        credential_id: OptionalCredentialId = None, poll_schedule: NewSchedule = None,
        settings: NewSettings = None, confirm: Confirm = False, plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Change a source, nexset or destination: name, description, tags; on a source or
        destination also its credential (credential_id) and, to fix throttling or timeouts, a
        source's poll_schedule and connector settings. Omitted fields keep their value.

        Without confirm nothing changes: you get a plan (old and new values, the undo call) and a
        plan_token valid 5 minutes. Show it to the user; only if they agree, repeat the call with
        confirm=true and plan_token (their client may ask them to approve).
        """
        operation = UpdateResource(resource_type, resource_id, name=name,
                                   description=description, tags=tags,
                                   credential_id=credential_id, poll_schedule=poll_schedule,
                                   settings=settings)  # fmt: skip
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip

    @nexla_tool(server, name="update_transform", title="Update transform", read_only=False,
                destructive=False, idempotent=True)  # fmt: skip
    async def update_transform(
        client: Client, gate: Gate, approval: TransformApproval, transform_id: TransformId,
        code: NewCode, code_type: NewCodeType = None, confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Replace a transform's code: a python or javascript script as text, other types a JSON
        list of operations (as get_transform shows). Every nexset using it runs the new code.

        Without confirm nothing changes: you get a plan (a diff against the current code, the
        nexsets and flows that use it, the undo call) and a plan_token valid 5 minutes. Show it to
        the user; only if they agree, repeat with confirm=true and plan_token.
        """
        operation = UpdateTransform(transform_id, code, code_type)
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip
