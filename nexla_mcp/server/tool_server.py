"""``NexlaMCPServer``: an ``MCPServer`` whose tools are built on first need (or listed from
the tool-list cache), listed in catalogue order, and whose every failed call is the error
envelope. ``server.app.build_server`` builds and configures one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pydantic
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, ListToolsResult, PaginatedRequestParams
from mcp.types import Tool as MCPTool

from nexla_mcp.server.envelope import (
    invalid_arguments_result,
    tool_error_result,
    unexpected_error_result,
    unknown_arguments_result,
    unknown_tool_result,
)
from nexla_mcp.server.schemas import compact_input_schema, compact_output_schema
from nexla_mcp.server.state import ServerState
from nexla_mcp.tools.profiles import CATALOG

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from nexla_mcp.server.tool_cache import ToolListCache
    from nexla_mcp.server.toolset_scopes import ToolsetScopes
    from nexla_mcp.state import StateStore

__all__ = ["NexlaMCPServer"]

logger = logging.getLogger(__name__)


class NexlaMCPServer(MCPServer[ServerState]):
    """An MCPServer whose every failed tool call, argument errors included, is the envelope."""

    def __init__(
        self,
        *,
        state_store: StateStore | None = None,
        toolset_scopes: ToolsetScopes | None = None,
        tool_cache: ToolListCache | None = None,
        **kwargs: Any,
    ) -> None:
        if toolset_scopes is not None:
            kwargs.update(subscriptions=toolset_scopes.bus, middleware=[toolset_scopes.middleware])
        super().__init__(**kwargs)
        self.toolset_scopes = toolset_scopes
        """With dynamic discovery: which tools each caller is listed and may call."""
        self.state_store = state_store
        """Nonces, write-rate windows and the audit chain (opened by the lifespan)."""
        self.tool_cache = tool_cache
        """Where the built tool list is kept between starts (``tool_cache``), if anywhere."""
        self.serving: ServerState | None = None
        """The running lifespan's state (its Nexla client), for ``/readyz``."""
        self.draining = False
        """Set when HTTP shutdown begins: ``/readyz`` answers 503 from then on."""
        self.in_flight = 0
        """Tool calls running now."""
        self.toolset_of: dict[str, str] = {}
        """Tool name -> the toolset that registers it (built now or on first need)."""
        self._deferred: dict[str, list[str]] = {}
        self._cached: dict[str, MCPTool] | None = None
        self._build: Callable[[list[str]], object] | None = None
        self._building = False

    def defer_tools(self, owners: dict[str, str], build: Callable[[list[str]], object]) -> None:
        """List and serve the tools in ``owners`` (name -> toolset), but build each toolset's
        tools only when first needed: ``build(names)`` registers them. Building a tool (its
        argument model and schemas) is most of a start's own cost; a first call to one tool
        builds only that tool, a tools/list every one (unless ``tool_cache`` has them)."""
        self.toolset_of.update(owners)
        for name, toolset in owners.items():
            self._deferred.setdefault(toolset, []).append(name)
        self._build = build

    @property
    def deferred_toolsets(self) -> tuple[str, ...]:
        """The toolsets with tools listed but not built yet."""
        return tuple(self._deferred)

    @property
    def deferred_tools(self) -> tuple[str, ...]:
        """The tools listed but not built yet."""
        return tuple(name for names in self._deferred.values() for name in names)

    def build_deferred(self, toolset: str | None = None) -> None:
        """Build the deferred tools of ``toolset`` (of every toolset when None)."""
        if self._building or self._build is None:
            return
        self._building = True
        try:
            for name in [toolset] if toolset else list(self._deferred):
                names = self._deferred.pop(name, None)
                if names:
                    self._build(names)
        finally:
            self._building = False

    def build_deferred_tool(self, name: str) -> None:
        """Build the tool ``name`` if it is deferred, and no other (what a call to it needs)."""
        toolset = self.toolset_of.get(name, "")
        names = self._deferred.get(toolset, [])
        if self._building or self._build is None or name not in names:
            return
        self._building = True
        try:
            names.remove(name)
            if not names:
                del self._deferred[toolset]
            self._build([name])
        finally:
            self._building = False

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        self.build_deferred_tool(name)
        return super()._tool_input_schema(name)

    async def list_tools(self) -> list[MCPTool]:
        """The tools, with compact schemas (``nexla_mcp.server.schemas``), in catalogue order
        (``tools.profiles.CATALOG``; tools outside it, such as ``enable_toolset``, first), so
        the list is the same whichever tools a client called before listing.

        With a ``tool_cache`` that holds every tool not built yet, those come from the cache
        and stay unbuilt. A list this call had to build is saved to the cache: a client that
        calls a tool before it lists the tools (the SDK's own client does) still leaves a
        cache for the next start."""
        cached = self._from_cache()
        if cached is not None:
            return _in_catalog_order([*await self._built_tools(), *cached])
        building = bool(self._deferred)
        self.build_deferred()
        tools = _in_catalog_order(await self._built_tools())
        if building and self.tool_cache is not None:
            self.tool_cache.save(tools)
        return tools

    async def _built_tools(self) -> list[MCPTool]:
        return [
            tool.model_copy(
                update={
                    "input_schema": compact_input_schema(tool.input_schema),
                    "output_schema": compact_output_schema(tool.output_schema),
                }
            )
            for tool in await super().list_tools()
        ]

    def _from_cache(self) -> list[MCPTool] | None:
        """The deferred tools from the cache, in its order; None unless it has all of them."""
        if self.tool_cache is None or not self._deferred:
            return None
        if self._cached is None:
            self._cached = self.tool_cache.load() or {}
        deferred = set(self.deferred_tools)
        if not deferred <= self._cached.keys():
            return None
        return [tool for name, tool in self._cached.items() if name in deferred]

    async def listed_tools(self, request: ServerRequestContext[Any, Any] | None) -> list[MCPTool]:
        """The tools listed to ``request``'s caller: every tool, or with dynamic discovery the
        profile, ``enable_toolset`` and what that caller enabled (``toolset_scopes``)."""
        tools = await self.list_tools()
        if self.toolset_scopes is None:
            return tools
        listed = self.toolset_scopes.listed(request)
        return [tool for tool in tools if tool.name in listed]

    async def _handle_list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=await self.listed_tools(ctx))

    def _argument_names(self, name: str) -> list[str] | None:
        tool = self._tool_manager.get_tool(name)
        return None if tool is None else sorted(tool.parameters.get("properties", {}))

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[ServerState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool; failures the SDK would report as plain text become the error envelope.

        Unknown argument names are refused too: the SDK would drop them silently, and a
        misspelt filter would then look applied. ``in_flight`` counts the calls running, so a
        stopping HTTP server can wait for them.
        """
        self.in_flight += 1
        try:
            return await self._call_tool(name, arguments, context)
        finally:
            self.in_flight -= 1

    async def _call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[ServerState, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        if self.toolset_scopes is not None:
            refused = self.toolset_scopes.refusal(name, _request_of(context))
            if refused is not None:
                logger.info("tool %s refused: not enabled for this caller", name)
                return refused
        self.build_deferred_tool(name)
        valid = self._argument_names(name)
        unknown = sorted(set(arguments) - set(valid)) if valid is not None else []
        if unknown:
            logger.info("tool %s rejected unknown arguments %s", name, unknown)
            return unknown_arguments_result(name, unknown, valid or [])
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as error:
            # Resolvers and output conversion run outside the tool's own error handling.
            logger.error("tool %s failed outside its body", name, exc_info=error.__cause__)
            return unexpected_error_result(name, error.__cause__ or error)
        except ToolError as error:
            if isinstance(error.__cause__, pydantic.ValidationError):
                fields = sorted({str(e["loc"][0]) for e in error.__cause__.errors() if e["loc"]})
                logger.info("tool %s rejected arguments %s", name, fields)
                return invalid_arguments_result(name, error.__cause__)
            if name not in self.toolset_of:
                logger.info("unknown tool %r requested", name)
                return unknown_tool_result(name)
            return tool_error_result(name, str(error))


def _in_catalog_order(tools: list[MCPTool]) -> list[MCPTool]:
    position = {name: index for index, name in enumerate(CATALOG)}
    return sorted(tools, key=lambda tool: position.get(tool.name, -1))


def _request_of(context: Context[Any, Any] | None) -> ServerRequestContext[Any, Any] | None:
    try:
        return None if context is None else context.request_context
    except ValueError:  # a Context built outside a request (a direct call_tool)
        return None
