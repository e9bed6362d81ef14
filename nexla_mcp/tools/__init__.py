"""The toolset registry: toolset name -> function that registers that toolset's tools.

Toolset modules are imported only when one of their tools is registered, so reading the
names (settings validation, ``--help``) costs no MCP import. Which tools a server registers is
decided in ``nexla_mcp.tools.profiles`` (one catalog line per tool). Each module exposes
``register(server: MCPServer, settings: Settings) -> None`` and registers its tools with
``nexla_mcp.tools._common.nexla_tool``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["TOOLSETS", "TOOLSET_NAMES", "TOOLSET_SUMMARIES", "register_toolsets"]

RegisterToolset = Callable[["MCPServer", "Settings"], None]

TOOLSET_SUMMARIES: dict[str, str] = {
    "flows": "list flows and read one flow's graph, status and recent errors",
    "resources": "inspect sources, nexsets, destinations, credentials and transforms",
    "metrics": "record and error counts by day and by run",
    "logs": "flow logs, clustered into error templates",
    "credentials": "probe a credential (does it still work, and if not, why) and see what uses it",
    "runbooks": "diagnose a flow in one call (root cause with evidence and next steps), health "
    "checks, SLA tracking, run comparison and an org-wide problem scan",
    "context": "this server's configuration (version, API host, write policy)",
    "control": "pause, activate or delete flows, relabel, repoint or retune resources, replace "
    "transform code: each call plans first, changes happen only on confirmation (absent when "
    "writes are off)",
    "workflows": "rotate a credential and migrate a nexset's schema as journaled operations "
    "that roll back on failure; get_operation and resume_operation (only get_operation when "
    "writes are off)",
    "access": "who can access a flow or resource; grant, revoke or replace access behind the "
    "same plan and confirmation (read only when writes are off)",
}
TOOLSET_NAMES: tuple[str, ...] = tuple(TOOLSET_SUMMARIES)


def _lazy_register(toolset: str) -> RegisterToolset:
    def register(server: MCPServer, settings: Settings) -> None:
        importlib.import_module(f"{__name__}.{toolset}").register(server, settings)

    register.__name__ = f"register_{toolset}"
    register.__qualname__ = register.__name__
    return register


TOOLSETS: dict[str, RegisterToolset] = {name: _lazy_register(name) for name in TOOLSET_NAMES}


def register_toolsets(
    server: MCPServer, settings: Settings, tools: Iterable[str] | None = None
) -> dict[str, str]:
    """Register ``tools`` (default: the tools ``settings`` enable, see ``profiles``); return
    tool name -> owning toolset for the tools registered now.

    Only the toolsets that own one of ``tools`` are imported, and within them only those
    tools are built. A write tool stays absent when the write policy is off, whatever is asked.

    Raises:
        ValueError: if a toolset registers a tool name that is already taken.
    """
    from nexla_mcp.tools._common import registered_tools, registering_only
    from nexla_mcp.tools.profiles import CATALOG, enabled_tools

    wanted = frozenset(enabled_tools(settings) if tools is None else tools)
    owner: dict[str, str] = {}
    with registering_only(server, wanted - set(registered_tools(server))):
        for toolset in TOOLSET_NAMES:
            if not any(CATALOG[name].toolset == toolset for name in wanted if name in CATALOG):
                continue
            before = set(registered_tools(server))
            TOOLSETS[toolset](server, settings)
            for name in registered_tools(server):
                if name not in before:
                    owner[name] = toolset
    return owner
