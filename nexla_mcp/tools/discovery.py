"""Dynamic discovery (``NEXLA_MCP_DYNAMIC_TOOLSETS``): the profile's tools plus ``enable_toolset``.

The model starts with the small profile; ``enable_toolset`` names every toolset it can add
with that toolset's tools in its description (so any tool is one call away), and on request
lists that toolset's tools to the caller and tells it the tool list changed: on the
2025-11-25 handshake era with ``notifications/tools/list_changed`` on the caller's session,
on 2026-07-28 as an event on the ``subscriptions/listen`` streams of the caller's scope.
What one caller enables is listed to it alone, as far as the transport can tell callers
apart (``nexla_mcp.server.toolset_scopes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from nexla_mcp.server.toolset_scopes import ScopeKind, ToolsetScopes
from nexla_mcp.tools import TOOLSET_NAMES, TOOLSET_SUMMARIES, register_toolsets
from nexla_mcp.tools._common import nexla_tool, tool_result
from nexla_mcp.tools.profiles import CATALOG, DISCOVERY_TOOL, available_tools, enabled_tools

if TYPE_CHECKING:
    from nexla_mcp.server.tool_server import NexlaMCPServer
    from nexla_mcp.settings import Settings

__all__ = [
    "DISCOVERY_TOOL",
    "ToolsetChange",
    "pending_toolsets",
    "register",
    "toolset_scopes_for",
]


class ToolsetChange(BaseModel):
    """What ``enable_toolset`` did, and what is left to enable."""

    added: list[str] = Field(default_factory=list, description="Tools listed from now on")
    toolsets: list[str] = Field(
        default_factory=list, description="Toolsets still to enable, one line each"
    )
    listed_to: ScopeKind = Field(
        description="Who sees the tools you enable: session: this session only; user: "
        "clients signed in as you; server: every client the server cannot tell apart"
    )


def pending_toolsets(settings: Settings, registered: set[str]) -> dict[str, list[str]]:
    """Toolset -> its tools that ``settings`` allow but that are not registered yet."""
    pending: dict[str, list[str]] = {}
    for name in available_tools(settings):
        if name not in registered:
            pending.setdefault(CATALOG[name].toolset, []).append(name)
    return {toolset: pending[toolset] for toolset in TOOLSET_NAMES if toolset in pending}


def _line(toolset: str, tools: list[str]) -> str:
    return f"{toolset}: {', '.join(tools)} ({TOOLSET_SUMMARIES[toolset]})"


_LISTED_TO: dict[ScopeKind, str] = {
    "session": "this session only",
    "user": "clients signed in as you",
    "server": "every client this server cannot tell apart (on stdio, only you)",
}


def toolset_scopes_for(settings: Settings) -> ToolsetScopes | None:
    """Who is listed which tools under dynamic discovery; None when the profile already
    lists every allowed tool (nothing to discover)."""
    base = enabled_tools(settings)
    pending = pending_toolsets(settings, set(base))
    if not pending:
        return None
    discoverable = {name: toolset for toolset, names in pending.items() for name in names}
    return ToolsetScopes([*base, DISCOVERY_TOOL], discoverable)


def register(server: NexlaMCPServer, settings: Settings) -> None:
    """Register ``enable_toolset`` on a server built with ``toolset_scopes_for(settings)``."""
    scopes = server.toolset_scopes
    if scopes is None:
        return
    pending = pending_toolsets(settings, set(scopes.base))

    async def enable_toolset(
        ctx: Context[Any, Any], toolset: str | None = None
    ) -> Annotated[CallToolResult, ToolsetChange]:
        scope = scopes.scope(ctx.request_context)
        left = pending_toolsets(settings, scopes.base | scope.tools)
        if toolset is None:
            lines = [_line(name, tools) for name, tools in left.items()]
            return tool_result(
                ToolsetChange(toolsets=lines, listed_to=scope.kind),
                f"{len(lines)} toolset(s) can be enabled." if lines else "Every tool is listed.",
            )
        added = left.get(toolset, [])
        if added:
            # Built once for the process; listed to this caller's scope only.
            unbuilt = [name for name in added if name not in server.toolset_of]
            if unbuilt:
                server.toolset_of.update(register_toolsets(server, settings, unbuilt))
            scope.tools.update(added)
            await scopes.announce(ctx, scope)
        summary = (
            f"Enabled {toolset}: {', '.join(added)} are listed now to {_LISTED_TO[scope.kind]}."
            if added
            else f"{toolset} is already enabled."
        )
        return tool_result(ToolsetChange(added=added, listed_to=scope.kind), summary)

    enable_toolset.__doc__ = (
        "Add a toolset's tools to your list (nothing changes in Nexla). Toolsets:\n"
        + "\n".join(f"- {name}: {', '.join(tools)}" for name, tools in pending.items())
    )
    # The toolsets known at start, as an enum the client can show; set here because the
    # names are only known now (this module's annotations are strings).
    names = Literal[tuple(pending)]  # type: ignore[valid-type]
    enable_toolset.__annotations__["toolset"] = Annotated[
        names | None, Field(description="Toolset to add")
    ]
    nexla_tool(
        server,
        name=DISCOVERY_TOOL,
        title="Enable toolset",
        read_only=True,
        destructive=False,
        idempotent=True,
        open_world=False,
    )(enable_toolset)
    server.toolset_of[DISCOVERY_TOOL] = "discovery"
