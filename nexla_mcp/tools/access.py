"""The ``access`` toolset: who can see or operate a flow or resource, and changing that.

``list_accessors`` is a read and is served in read-only mode too; ``grant_access``,
``revoke_access`` and ``replace_accessors`` are writes behind the gate (plan, then confirm)
and are not registered when writes are off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from nexla_mcp.server.approval import ApprovalForm, NotAsked
from nexla_mcp.tools._access_ops import (
    MAX_ACCESSORS,
    AccessCollection,
    AccessorGrant,
    AccessorRef,
    GrantAccess,
    ReplaceAccessors,
    RevokeAccess,
    accessor_view,
)
from nexla_mcp.tools._budget import LeftOut, MaxTokens, Tokens, fit, left_out
from nexla_mcp.tools._common import Client, Cursor, ResourceId, nexla_tool, tool_result
from nexla_mcp.tools._paging import decode_cursor, encode_cursor
from nexla_mcp.tools._write_gate import Gate, write_gate
from nexla_mcp.tools._writes import Confirm, PlanToken, WriteResult

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["AccessList", "register"]

Asked = ApprovalForm | NotAsked | Elicit[ApprovalForm]

AccessTarget = Annotated[
    AccessCollection, Field(description="Whose access list: a flow, resource or credential")
]
Grants = Annotated[
    list[AccessorGrant],
    Field(min_length=1, max_length=MAX_ACCESSORS,
          description="Who gets which roles"),
]  # fmt: skip
Refs = Annotated[
    list[AccessorRef],
    Field(min_length=1, max_length=MAX_ACCESSORS,
          description="Whom to remove"),
]  # fmt: skip


class AccessEntry(BaseModel):
    """One accessor."""

    type: str = Field(description="USER, TEAM or ORG")
    id: int | None = Field(None, description="Its id")
    email: str | None = Field(None, description="USER: email")
    name: str | None = Field(None, description="TEAM: name")
    access_roles: list[str] = Field(default_factory=list, description="owner, admin, ...")


class AccessList(BaseModel):
    """Who has access to one flow or resource."""

    resource_type: str = Field(description="Collection of the resource")
    resource_id: int = Field(description="Its id")
    accessors: list[AccessEntry] = Field(default_factory=list, description="Everyone with access")
    total: int = Field(description="Number of accessors")
    next_cursor: str | None = None
    left_out: LeftOut = None
    tokens: Tokens = None


def _short_entry(entry: AccessEntry) -> AccessEntry:
    """An accessor for a tight budget: type, id and roles (the id names it for a revoke)."""
    return entry.model_copy(update={"email": None, "name": None})


def _accessors_left_out(rows: int, short: bool, budget: int | None) -> str | None:
    what = [f"{rows} more accessors (next_cursor resumes at them)"] if rows else []
    what += ["emails and team names (ids kept)"] if short else []
    return left_out(budget, what)


async def _grant_approval(
    ctx: Context, gate: Gate, resource_type: AccessCollection, resource_id: int,
    accessors: list[AccessorGrant], confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    return await gate.ask(ctx, lambda: GrantAccess(resource_type, resource_id, accessors),
                          confirm, plan_token)  # fmt: skip


async def _revoke_approval(
    ctx: Context, gate: Gate, resource_type: AccessCollection, resource_id: int,
    accessors: list[AccessorRef], confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    return await gate.ask(ctx, lambda: RevokeAccess(resource_type, resource_id, accessors),
                          confirm, plan_token)  # fmt: skip


async def _replace_approval(
    ctx: Context, gate: Gate, resource_type: AccessCollection, resource_id: int,
    accessors: list[AccessorGrant], confirm: bool, plan_token: str | None,
) -> Asked:  # fmt: skip
    return await gate.ask(ctx, lambda: ReplaceAccessors(resource_type, resource_id, accessors),
                          confirm, plan_token)  # fmt: skip


GrantApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_grant_approval)]
RevokeApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_revoke_approval)]
ReplaceApproval = Annotated[ElicitationResult[ApprovalForm], Resolve(_replace_approval)]


def register(server: MCPServer, settings: Settings) -> None:
    """Register ``list_accessors``, and the access writes unless writes are off."""

    @nexla_tool(server, name="list_accessors", title="List accessors", read_only=True,
                destructive=False, idempotent=True)  # fmt: skip
    async def list_accessors(
        client: Client, resource_type: AccessTarget, resource_id: ResourceId,
        cursor: Cursor = None, max_tokens: MaxTokens = None,
    ) -> Annotated[CallToolResult, AccessList]:  # fmt: skip
        """List who can access a flow, source, nexset, destination or credential, with roles:
        owner, admin (manages access), operator (activates and pauses), collaborator (reads).
        """
        target = {"resource_type": resource_type, "resource_id": resource_id}
        offset, _ = decode_cursor("list_accessors", target, cursor)
        entries = await client.get_accessors(resource_type, resource_id)
        views = [AccessEntry.model_validate(accessor_view(entry)) for entry in entries]
        rows = views[offset:]
        owners = [f"{v.type} {v.id}" for v in views if "owner" in v.access_roles]

        def page(shown: int, tokens: int, short: bool) -> CallToolResult:
            end = offset + shown
            result = AccessList(
                resource_type=resource_type, resource_id=resource_id,
                accessors=[_short_entry(v) if short else v for v in rows[:shown]],
                total=len(views),
                next_cursor=(
                    encode_cursor("list_accessors", target, end) if end < len(views) else None
                ),
                left_out=_accessors_left_out(len(rows) - shown, short, max_tokens),
                tokens=tokens or None,
            )  # fmt: skip
            more = f"; {shown} shown, more with next_cursor" if result.next_cursor else ""
            return tool_result(result, f"{len(views)} accessor(s) on {resource_type} "
                               f"{resource_id}{more}"
                               + (f"; owner {', '.join(owners)}." if owners else "."))  # fmt: skip

        return fit(
            [lambda n, t: page(n, t, False), lambda n, t: page(n, t, True)], len(rows), max_tokens
        )

    if settings.write_policy == "off":
        return
    write_gate(server, settings)

    @nexla_tool(server, name="grant_access", title="Grant access", read_only=False,
                destructive=False, idempotent=True)  # fmt: skip
    async def grant_access(
        client: Client, gate: Gate, approval: GrantApproval, resource_type: AccessTarget,
        resource_id: ResourceId, accessors: Grants, confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Give users, teams or the org roles on a flow or resource; others keep theirs, and an
        accessor already listed gets exactly the roles given (owner cannot be granted).

        Without confirm nothing changes: you get a plan (roles before and after, the undo call)
        and a plan_token valid 5 minutes. Show it to the user; only if they agree, repeat the
        call with confirm=true and plan_token (their client may ask them to approve).
        """
        operation = GrantAccess(resource_type, resource_id, accessors)
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip

    @nexla_tool(server, name="revoke_access", title="Revoke access", read_only=False,
                destructive=True, idempotent=True)  # fmt: skip
    async def revoke_access(
        client: Client, gate: Gate, approval: RevokeApproval, resource_type: AccessTarget,
        resource_id: ResourceId, accessors: Refs, confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Remove the named users, teams or org from a flow's or resource's access list (never the
        owner).

        Without confirm nothing changes: you get a plan (who loses which roles, the undo call)
        and a plan_token valid 5 minutes. Show it to the user; only if they agree, repeat the
        call with confirm=true and plan_token (their client may ask them to approve).
        """
        operation = RevokeAccess(resource_type, resource_id, accessors)
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip

    @nexla_tool(server, name="replace_accessors", title="Replace accessors", read_only=False,
                destructive=True, idempotent=True)  # fmt: skip
    async def replace_accessors(
        client: Client, gate: Gate, approval: ReplaceApproval, resource_type: AccessTarget,
        resource_id: ResourceId, accessors: Grants, confirm: Confirm = False,
        plan_token: PlanToken = None,
    ) -> Annotated[CallToolResult, WriteResult]:  # fmt: skip
        """Make a flow's or resource's access list exactly these accessors plus the owner; anyone
        not listed loses access.

        Without confirm nothing changes: you get a plan (who gains, changes or loses roles, the
        undo call) and a plan_token valid 5 minutes. Show it to the user; only if they agree,
        repeat the call with confirm=true and plan_token (their client may ask them to approve).
        """
        operation = ReplaceAccessors(resource_type, resource_id, accessors)
        return await gate.run(operation, client, confirm=confirm, plan_token=plan_token,
                              approval=approval)  # fmt: skip
