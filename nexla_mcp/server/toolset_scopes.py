"""Dynamic discovery per caller: what a client enables is listed to and callable by it alone.

A dynamic-discovery server builds the tools ``enable_toolset`` adds once for the process, but
lists each caller only the profile, ``enable_toolset`` and what the caller's *scope* enabled.
The scope is the finest identity of the caller the transport can give:

- ``session``: a handshake-era (2025-11-25 and before) connection that lives across requests
  (stdio, the in-memory client, stateful streamable HTTP: one ``Mcp-Session-Id``). Its tools
  live in the SDK's per-connection state and end with the connection.
- ``user``: a request without such a connection (every 2026-07-28 request; stateless HTTP)
  from a signed-in user (OAuth): that user's tools, shared by the user's clients.
- ``server``: a request without either. Nothing tells its client apart from another, so
  what it enables is listed to every such client of the running server: on stdio that is the
  one client of the process (in memory, each client runs its own lifespan), over HTTP every
  anonymous 2026-era or stateless client.

``user`` and ``server`` tools live in the lifespan state, so they are per process: behind a
load balancer only the replica that served ``enable_toolset`` lists them. The change is
announced to the caller's scope only: on its session (handshake era), or on the
``subscriptions/listen`` streams opened in the same scope (2026-07-28).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mcp.server.subscriptions import InMemorySubscriptionBus, ServerEvent, ToolsListChanged
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from nexla_mcp.server.envelope import tool_not_enabled_result
from nexla_mcp.server.principal import current_principal
from nexla_mcp.server.state import ServerState

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from mcp.server.mcpserver import Context
    from mcp.types import CallToolResult

__all__ = ["MAX_USER_SCOPES", "ScopeKind", "ToolScope", "ToolsetScopes"]

logger = logging.getLogger(__name__)

ScopeKind = Literal["session", "user", "server"]
MAX_USER_SCOPES = 10_000
"""Signed-in users whose enabled tools a process remembers (the least recent are dropped)."""
_CONNECTION_KEY = "nexla_mcp.enabled_tools"
_SERVER_KEY = "server"

# The scope of the subscriptions/listen request being served, read by the bus when the SDK's
# listen handler subscribes (same task, no await in between).
_listening: ContextVar[set[str] | None] = ContextVar("nexla_mcp_listening", default=None)


@dataclass(frozen=True)
class ToolScope:
    """A caller's scope: its kind and the tools it has enabled (the set is the identity)."""

    kind: ScopeKind
    tools: set[str]


@dataclass(frozen=True)
class ToolsListChangedIn(ToolsListChanged):
    """The tool list changed for the listen streams of one scope only."""

    tools: set[str] = field(default_factory=set, compare=False)


class ScopedSubscriptionBus(InMemorySubscriptionBus):
    """The SDK's in-process bus, but a ``ToolsListChangedIn`` reaches only its scope's streams."""

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        own = _listening.get()

        def deliver(event: ServerEvent) -> None:
            if not isinstance(event, ToolsListChangedIn) or event.tools is own:
                listener(event)

        return super().subscribe(deliver)


def _session_connection(request: ServerRequestContext[Any, Any]) -> Any:
    """The handshake-era connection serving ``request`` when it outlives the request, else None.

    MCPServer's ``Context`` does not expose the connection in SDK 2.3, so it is read from the
    request's session; a 2026-07-28 or stateless-HTTP connection is built per request (no
    standalone channel) and identifies nobody.
    """
    if request.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return None
    connection = getattr(request.session, "_connection", None)
    if connection is None or not getattr(connection, "has_standalone_channel", False):
        return None
    return connection


class ToolsetScopes:
    """The tools every caller is listed (``base``) and those each scope has enabled."""

    def __init__(self, base: Iterable[str], discoverable: Mapping[str, str]) -> None:
        self.base = frozenset(base)
        """The profile's tools and ``enable_toolset``."""
        self.discoverable = dict(discoverable)
        """Tool name -> toolset, for every tool ``enable_toolset`` can add."""
        self.bus = ScopedSubscriptionBus()
        """The server's subscription bus (pass it to the MCPServer)."""
        self._orphans: dict[str, set[str]] = {}

    def _shared(self, request: ServerRequestContext[Any, Any]) -> dict[str, set[str]]:
        state = request.lifespan_context
        return state.enabled_tools if isinstance(state, ServerState) else self._orphans

    def scope(self, request: ServerRequestContext[Any, Any]) -> ToolScope:
        """The scope of ``request``'s caller (module docstring), created on first use."""
        connection = _session_connection(request)
        if connection is not None:
            return ToolScope("session", connection.state.setdefault(_CONNECTION_KEY, set()))
        principal = current_principal()
        key = _SERVER_KEY if principal is None else f"user:{principal.id}"
        shared = self._shared(request)
        tools = shared.pop(key) if key in shared else set()
        shared[key] = tools  # most recently used last
        if len(shared) > MAX_USER_SCOPES:
            del shared[next(k for k in shared if k != _SERVER_KEY)]
        return ToolScope("server" if principal is None else "user", tools)

    def listed(self, request: ServerRequestContext[Any, Any] | None) -> frozenset[str]:
        """The tool names listed to ``request``'s caller (``base`` alone outside a request)."""
        return self.base if request is None else self.base | self.scope(request).tools

    def refusal(
        self, name: str, request: ServerRequestContext[Any, Any] | None
    ) -> CallToolResult | None:
        """The error for calling ``name`` when the caller has not enabled it, else None.

        A tool no scope could enable is left to the server's unknown-tool error."""
        toolset = self.discoverable.get(name)
        if toolset is None or name in self.listed(request):
            return None
        return tool_not_enabled_result(name, toolset)

    async def announce(self, ctx: Context[Any, Any], scope: ToolScope) -> None:
        """Tell ``scope``'s clients their tool list changed (best effort: never raises)."""
        try:
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                await self.bus.publish(ToolsListChangedIn(tools=scope.tools))
            elif scope.kind == "session":
                await ctx.session.send_tool_list_changed()
            # A stateless handshake-era request has no channel: the client sees the tools
            # at its next tools/list.
        except Exception:
            logger.warning("could not send notifications/tools/list_changed", exc_info=True)

    async def middleware(
        self, request: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Server middleware: a subscriptions/listen stream hears its own scope's changes."""
        if request.method != "subscriptions/listen":
            return await call_next(request)
        token = _listening.set(self.scope(request).tools)
        try:
            return await call_next(request)
        finally:
            _listening.reset(token)
