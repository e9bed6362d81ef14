"""The ``control`` toolset: pause, activate and delete flows, and rename or re-tag resources.

Every tool here is a write behind the gate (``_write_gate.py``): called without ``confirm`` it
changes nothing and returns a plan with a ``plan_token``; called again with ``confirm=true``
and that token it re-checks the state, asks the user when the client can, makes the change
and returns a receipt read back from Nexla. Not registered at all when writes are off.

Each tool has a module-level approval resolver with the tool's own argument names: the SDK
fills resolver parameters from tool arguments by name and runs the resolver before the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.server.approval import ApprovalForm, NotAsked
from nexla_mcp.tools._common import (
    Client,
    FlowId,
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
    description: str | None, tags: list[str] | None, confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    def build() -> UpdateResource:
        return UpdateResource(resource_type, resource_id, name=name, description=description,
                              tags=tags)  # fmt: skip

    return await gate.ask(ctx, build, confirm, plan_token)


PauseApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_pause_approval)]
ActivateApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_activate_approval)]
DeleteApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_delete_approval)]
UpdateApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_update_approval)]


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
        confirm: Confirm = False, plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Rename, re-describe or re-tag a source, nexset or destination (nothing else); omitted
        fields keep their value.

        Without confirm nothing changes: you get a plan (old and new values, the undo call) and a
        plan_token valid 5 minutes. Show it to the user; only if they agree, repeat the call with
        confirm=true and plan_token (their client may ask them to approve).
        """
        operation = UpdateResource(resource_type, resource_id, name=name,
                                   description=description, tags=tags)  # fmt: skip
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip
