"""Dynamic discovery (``NEXLA_MCP_DYNAMIC_TOOLSETS``): the profile's tools plus ``enable_toolset``.

The model starts with the small profile; ``enable_toolset`` names every toolset it can add
with that toolset's tools in its description (so any tool is one call away), and on request
registers that toolset's tools and tells the client the tool list changed: on the 2025-11-25
handshake era with ``notifications/tools/list_changed`` on the caller's session, on 2026-07-28
as an event on every ``subscriptions/listen`` stream. The server's tool list is shared by its
sessions, so over HTTP a toolset one client enables is listed to all of them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from nexla_mcp.tools import TOOLSET_NAMES, TOOLSET_SUMMARIES, register_toolsets
from nexla_mcp.tools._common import nexla_tool, registered_tools, tool_result
from nexla_mcp.tools.profiles import CATALOG, DISCOVERY_TOOL, available_tools, enabled_tools

if TYPE_CHECKING:
    from nexla_mcp.server.app import NexlaMCPServer
    from nexla_mcp.settings import Settings

__all__ = ["DISCOVERY_TOOL", "ToolsetChange", "pending_toolsets", "register"]

logger = logging.getLogger(__name__)


class ToolsetChange(BaseModel):
    """What ``enable_toolset`` did, and what is left to enable."""

    added: list[str] = Field(default_factory=list, description="Tools listed from now on")
    toolsets: list[str] = Field(
        default_factory=list, description="Toolsets still to enable, one line each"
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


async def _announce(ctx: Context[Any, Any]) -> None:
    # Best effort: a session without a back-channel (stateless HTTP) cannot be told; its
    # client sees the new tools at its next tools/list.
    try:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            await ctx.notify_tools_changed()
        else:
            await ctx.session.send_tool_list_changed()
    except Exception:
        logger.warning("could not send notifications/tools/list_changed", exc_info=True)


def register(server: NexlaMCPServer, settings: Settings) -> None:
    """Register ``enable_toolset`` when any allowed tool is left out of the profile."""
    pending = pending_toolsets(settings, set(enabled_tools(settings)))
    if not pending:
        return

    async def enable_toolset(
        ctx: Context[Any, Any], toolset: str | None = None
    ) -> Annotated[CallToolResult, ToolsetChange]:
        left = pending_toolsets(settings, set(registered_tools(server)))
        if toolset is None:
            lines = [_line(name, tools) for name, tools in left.items()]
            return tool_result(
                ToolsetChange(toolsets=lines),
                f"{len(lines)} toolset(s) can be enabled." if lines else "Every tool is listed.",
            )
        added = left.get(toolset, [])
        if added:
            server.toolset_of.update(register_toolsets(server, settings, added))
            await _announce(ctx)
        summary = (
            f"Enabled {toolset}: {', '.join(added)} are listed now."
            if added
            else f"{toolset} is already enabled."
        )
        return tool_result(ToolsetChange(added=added), summary)

    enable_toolset.__doc__ = (
        "Add a toolset's tools to your list (nothing changes in Nexla). Toolsets:\n"
        + "\n".join(f"{name}: {', '.join(tools)}" for name, tools in pending.items())
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
