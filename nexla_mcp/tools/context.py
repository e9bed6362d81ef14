"""The ``context`` toolset: what this server is connected to and what it is allowed to do."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from nexla_mcp.tools._common import (
    Client,
    ServerSettings,
    listed_tools,
    nexla_tool,
    tool_result,
)
from nexla_mcp.tools.profiles import available_tools, enabled_tools, how_to_get_more

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.nexla.core import UpstreamOutcome
    from nexla_mcp.settings import Settings

__all__ = ["LastUpstream", "ServerContext", "register"]

SANDBOX_HOST = "sandbox (in-process)"


class LastUpstream(BaseModel):
    """How the latest Nexla API call ended."""

    outcome: str = Field(
        description="ok, or the failure class: api_url, unreachable, tls, service_key, "
        "access_token, clock_skew, permission, upstream (nexla-mcp doctor explains each)"
    )
    at: str = Field(description="When (UTC)")
    error: str | None = Field(None, description="The error type, when it failed")


class ServerContext(BaseModel):
    """The server's configuration as an assistant needs to know it (never a secret)."""

    version: str = Field(description="nexla-mcp version")
    mode: Literal["sandbox", "live"] = Field(
        description="sandbox: the embedded Nexla simulation; live: a real Nexla API"
    )
    api_host: str = Field(description="Host of the Nexla API in use")
    auth_mode: Literal["sandbox", "service_key", "access_token"] = Field(
        description="Which kind of Nexla credential the server uses (never its value)"
    )
    write_policy: Literal["off", "confirm", "human", "shadow"] = Field(
        description="off: no write tools; confirm: writes need a plan and confirmation; "
        "human: writes need a human answer through the client; shadow: writes plan and "
        "confirm, then report what they would have sent and send nothing"
    )
    toolsets: list[str] = Field(description="Enabled toolsets")
    profile: Literal["default", "operator", "all"] = Field(description="Tool profile")
    dynamic_toolsets: bool | None = Field(
        None, description="True: enable_toolset adds the tools not listed"
    )
    not_listed: list[str] = Field(
        default_factory=list, description="Tools this server has but does not list now"
    )
    how_to_list_more: str | None = Field(None, description="How to get the tools not listed")
    allow_flows: list[int] = Field(
        default_factory=list, description="If set, the only flow ids writes may touch"
    )
    deny_flows: list[int] = Field(
        default_factory=list, description="Flow ids writes may never touch"
    )
    last_upstream: LastUpstream | None = Field(
        None, description="The latest Nexla API call's outcome (absent before the first)"
    )


def api_host(settings: Settings) -> str:
    """The API's host[:port] for display: no scheme, path, query or user info."""
    if settings.sandbox:
        return SANDBOX_HOST
    parts = urlsplit(settings.api_url)
    host = parts.hostname or "unknown"
    return f"{host}:{parts.port}" if parts.port else host


def _last_upstream(outcome: UpstreamOutcome | None) -> LastUpstream | None:
    if outcome is None:
        return None
    at = datetime.fromtimestamp(outcome.at, UTC).isoformat(timespec="seconds")
    return LastUpstream(outcome=outcome.outcome, at=at.replace("+00:00", "Z"), error=outcome.error)


def describe(
    settings: Settings, last: UpstreamOutcome | None = None, listed: Iterable[str] | None = None
) -> ServerContext:
    """The ``ServerContext`` for ``settings``, the client's latest call outcome and the tools
    the server lists (default: the tools the settings enable at start)."""
    from nexla_mcp import __version__

    shown = set(enabled_tools(settings) if listed is None else listed)

    return ServerContext(
        version=__version__,
        mode="sandbox" if settings.sandbox else "live",
        api_host=api_host(settings),
        auth_mode=settings.auth_mode,
        write_policy=settings.write_policy,
        toolsets=list(settings.toolsets),
        profile=settings.profile or "default",
        dynamic_toolsets=settings.dynamic_toolsets or None,
        not_listed=[name for name in available_tools(settings) if name not in shown],
        how_to_list_more=how_to_get_more(settings, shown) or None,
        allow_flows=list(settings.allow_flows),
        deny_flows=list(settings.deny_flows),
        last_upstream=_last_upstream(last),
    )


def register(server: MCPServer, settings: Settings) -> None:
    """Register ``get_server_context``."""

    @nexla_tool(
        server,
        name="get_server_context",
        title="Get server context",
        read_only=True,
        destructive=False,
        idempotent=True,
        open_world=False,
    )
    async def get_server_context(
        config: ServerSettings, client: Client, ctx: Context
    ) -> Annotated[CallToolResult, ServerContext]:
        """This server's version, Nexla API host or sandbox, credential kind, write policy,
        toolsets, unlisted tools and how to get them, flow allow/deny lists and how the latest
        Nexla call ended. Call it when a tool seems missing, to check whether
        writes are allowed, or after a failure.
        """
        listed = [tool.name for tool in await listed_tools(server, ctx)]
        context = describe(config, client.last_outcome, listed)
        writes = "read-only" if context.write_policy == "off" else f"writes: {context.write_policy}"
        last = context.last_upstream
        upstream = (
            ""
            if last is None
            else f" Last Nexla call: {last.outcome} at {last.at}."
            if last.outcome == "ok"
            else f" Last Nexla call failed ({last.outcome}, {last.error}) at {last.at}; "
            "nexla-mcp doctor says what to fix."
        )
        return tool_result(
            context,
            f"nexla-mcp {context.version}, {context.mode} API {context.api_host} "
            f"({context.auth_mode}); {writes}; profile {context.profile}, toolsets: "
            f"{', '.join(context.toolsets)}.{upstream}"
            + (f" {context.how_to_list_more}" if context.how_to_list_more else ""),
        )
