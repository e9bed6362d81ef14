"""The ``context`` toolset: what this server is connected to and what it is allowed to do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from nexla_mcp.tools._common import ServerSettings, nexla_tool, tool_result

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["ServerContext", "register"]

SANDBOX_HOST = "sandbox (in-process)"


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
    allow_flows: list[int] = Field(
        default_factory=list, description="If set, the only flow ids writes may touch"
    )
    deny_flows: list[int] = Field(
        default_factory=list, description="Flow ids writes may never touch"
    )


def api_host(settings: Settings) -> str:
    """The API's host[:port] for display: no scheme, path, query or user info."""
    if settings.sandbox:
        return SANDBOX_HOST
    parts = urlsplit(settings.api_url)
    host = parts.hostname or "unknown"
    return f"{host}:{parts.port}" if parts.port else host


def describe(settings: Settings) -> ServerContext:
    """The ``ServerContext`` for ``settings``."""
    from nexla_mcp import __version__

    return ServerContext(
        version=__version__,
        mode="sandbox" if settings.sandbox else "live",
        api_host=api_host(settings),
        auth_mode=settings.auth_mode,
        write_policy=settings.write_policy,
        toolsets=list(settings.toolsets),
        allow_flows=list(settings.allow_flows),
        deny_flows=list(settings.deny_flows),
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
        config: ServerSettings,
    ) -> Annotated[CallToolResult, ServerContext]:
        """Describe this server: version, Nexla API host or sandbox, credential kind, write
        policy, toolsets and flow allow/deny lists. Call it when a tool seems missing or to
        check whether writes are allowed.
        """
        context = describe(config)
        writes = "read-only" if context.write_policy == "off" else f"writes: {context.write_policy}"
        return tool_result(
            context,
            f"nexla-mcp {context.version}, {context.mode} API {context.api_host} "
            f"({context.auth_mode}); {writes}; toolsets: {', '.join(context.toolsets)}.",
        )
