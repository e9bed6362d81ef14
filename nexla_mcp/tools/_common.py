"""Shared scaffolding for tool modules: registration, result shape, dependencies, argument types.

A tool module looks like this (``tools/context.py`` is the working example)::

    def register(server: MCPServer, settings: Settings) -> None:
        @nexla_tool(server, name="get_flow", title="Get flow", read_only=True,
                    destructive=False, idempotent=True)
        async def get_flow(
            flow_id: FlowId, client: Client, detail: Detail = "summary"
        ) -> Annotated[CallToolResult, FlowView]:
            \"\"\"Docstring = the tool description the model reads.\"\"\"
            flow = await client.get_flow(flow_id)
            return tool_result(FlowView.from_flow(flow), f"Flow {flow_id} is {flow.status}.")

- ``nexla_tool`` sets all four annotations and turns any failure into the error envelope.
- Return ``tool_result(model, summary)``: clients get ``outputSchema`` + ``structuredContent``,
  and the text content is the short summary (not a second copy of the JSON).
- ``Client`` / ``ServerSettings`` parameters are filled from the lifespan and hidden from the
  input schema.
- Use the argument types below so every tool speaks the same vocabulary; defaults go at the
  parameter (``limit: Limit = DEFAULT_LIMIT``, ``cursor: Cursor = None``,
  ``detail: Detail = "summary"``), and optional ids use the ``Optional*`` aliases
  (``run_id: OptionalRunId = None``), never ``RunId | None``.
- Pass every string that came from Nexla through ``sanitize_text`` before returning it.
- Test through the MCP client with ``nexla_mcp.server.testing.call_ok`` / ``call_error``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar
from weakref import WeakKeyDictionary

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Field

from nexla_mcp.correlation import new_correlation
from nexla_mcp.errors import NexlaError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.server.envelope import error_result, tool_error_result, unexpected_error_result
from nexla_mcp.server.state import ServerState
from nexla_mcp.server.text import sanitize_text, sanitize_value
from nexla_mcp.settings import Settings

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_ID",
    "MAX_LIMIT",
    "Client",
    "CredentialId",
    "Cursor",
    "Detail",
    "FlowId",
    "Limit",
    "OptionalCredentialId",
    "OptionalFlowId",
    "OptionalResourceId",
    "OptionalResourceType",
    "OptionalRunId",
    "ResourceId",
    "ResourceType",
    "ResourceTypeName",
    "RunId",
    "ServerSettings",
    "listed_tools",
    "nexla_tool",
    "progress_of",
    "registering_only",
    "registered_tools",
    "sanitize_text",
    "sanitize_value",
    "server_state",
    "tool_result",
]

logger = logging.getLogger(__name__)

ToolFn = TypeVar("ToolFn", bound=Callable[..., Awaitable[CallToolResult]])

# --- argument vocabulary (design contract 6) ------------------------------------------------

# Ids above 2**53 cannot survive a JavaScript client's JSON parse; Nexla's never get near it.
MAX_ID = 2**53 - 1
DEFAULT_LIMIT = 25
MAX_LIMIT = 100

# Each rule lives in one Field so the required and the optional spelling cannot drift apart.
# An optional argument uses the Optional* alias, which tools/list advertises as the plain type
# outside `required` (nexla_mcp.server.schemas); descriptions stay short, as every tool repeats
# them in every client's context.
_FLOW_ID = Field(gt=0, le=MAX_ID, description="Flow id, from list_flows")
_RESOURCE_TYPE = Field(description="data_sets: nexsets; data_sinks: destinations")
_RESOURCE_ID = Field(gt=0, le=MAX_ID, description="Id of that resource")
_CREDENTIAL_ID = Field(gt=0, le=MAX_ID, description="Credential id")
_RUN_ID = Field(gt=0, le=MAX_ID, description="Run id, from get_run_metrics or get_flow")

ResourceTypeName = Literal["data_sources", "data_sets", "data_sinks"]
FlowId = Annotated[int, _FLOW_ID]
OptionalFlowId = Annotated[int | None, _FLOW_ID]
ResourceType = Annotated[ResourceTypeName, _RESOURCE_TYPE]
OptionalResourceType = Annotated[ResourceTypeName | None, _RESOURCE_TYPE]
ResourceId = Annotated[int, _RESOURCE_ID]
OptionalResourceId = Annotated[int | None, _RESOURCE_ID]
CredentialId = Annotated[int, _CREDENTIAL_ID]
OptionalCredentialId = Annotated[int | None, _CREDENTIAL_ID]
RunId = Annotated[int, _RUN_ID]
OptionalRunId = Annotated[int | None, _RUN_ID]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Most rows to return")]
Cursor = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=512,
        description="next_cursor of the previous page",
    ),
]
Detail = Annotated[
    Literal["summary", "full"],
    Field(description="full adds every field"),
]

# --- dependencies resolved from the lifespan (hidden from the input schema) ----------------


def server_state(ctx: Context) -> ServerState:
    """The lifespan state of the running server."""
    state = ctx.request_context.lifespan_context
    if not isinstance(state, ServerState):
        raise TypeError("the server was not built by nexla_mcp.server.build_server")
    return state


def progress_of(ctx: Context) -> Callable[[float, float, str], Awaitable[None]]:
    """A runbook's ``progress(done, total, message)`` callback, sent as MCP progress."""

    async def report(done: float, total: float, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report


def _client(ctx: Context) -> NexlaClient:
    return server_state(ctx).client


def _settings(ctx: Context) -> Settings:
    return server_state(ctx).settings


Client = Annotated[NexlaClient, Resolve(_client)]
"""The server's one ``NexlaClient`` (a tool parameter of this type is filled in, not sent)."""
ServerSettings = Annotated[Settings, Resolve(_settings)]
"""The server's ``Settings`` (a tool parameter of this type is filled in, not sent)."""

# --- results -------------------------------------------------------------------------------


def _without_empty_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_without_empty_lists(item) for item in value]
    return value


def tool_result(model: BaseModel, summary: str) -> CallToolResult:
    """A successful result: ``model`` as compact structured content, ``summary`` as the text.

    Nulls and empty arrays are left out, so fields that may be empty need a default in the
    output model. ``summary`` is one or two sentences for a human or a model skimming the call.
    """
    structured = _without_empty_lists(model.model_dump(mode="json", exclude_none=True))
    text = sanitize_text(summary, max_chars=1000, keep_newlines=True)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


# --- registration --------------------------------------------------------------------------

_registered: WeakKeyDictionary[MCPServer[Any], list[str]] = WeakKeyDictionary()
# Tool names a server should register; a server absent here registers every tool it is given.
_wanted: WeakKeyDictionary[MCPServer[Any], frozenset[str]] = WeakKeyDictionary()


@contextmanager
def registering_only(server: MCPServer[Any], names: Iterable[str]) -> Iterator[None]:
    """Within this block ``nexla_tool`` registers on ``server`` only the tools in ``names`` and
    skips the others before building anything (their schemas cost start-up time)."""
    _wanted[server] = frozenset(names)
    try:
        yield
    finally:
        del _wanted[server]


def registered_tools(server: MCPServer[Any]) -> tuple[str, ...]:
    """Names of the tools registered on ``server`` through ``nexla_tool``, in order (a server
    that defers building its tools builds them first)."""
    build_deferred = getattr(server, "build_deferred", None)
    if build_deferred is not None:
        build_deferred()
    return tuple(_registered.get(server, ()))


async def listed_tools(server: MCPServer[Any], ctx: Context[Any, Any]) -> list[MCPTool]:
    """The tools ``server`` lists to the caller of ``ctx``: under dynamic discovery, what
    that caller has enabled and not what others have."""
    listed = getattr(server, "listed_tools", None)
    return await (server.list_tools() if listed is None else listed(ctx.request_context))


def _check_returns_structured_result(name: str, fn: Callable[..., Any]) -> None:
    returns = typing.get_type_hints(fn, include_extras=True).get("return")
    args = typing.get_args(returns) if typing.get_origin(returns) is Annotated else ()
    if not (
        len(args) == 2
        and args[0] is CallToolResult
        and isinstance(args[1], type)
        and issubclass(args[1], BaseModel)
    ):
        raise TypeError(f"tool {name!r} must return Annotated[CallToolResult, <output model>]")


def description_of(docstring: str) -> str:
    """A docstring as a tool description: dedented, each paragraph on one line.

    A docstring's line breaks are there for the source's line length; in a description each
    costs the model a token on every turn and says nothing. Blank lines between paragraphs
    stay, and so does a line starting with "- " (a list item).
    """
    paragraphs = []
    for paragraph in inspect.cleandoc(docstring).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith("- "):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def nexla_tool(
    server: MCPServer[Any],
    *,
    name: str,
    title: str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool = True,
) -> Callable[[ToolFn], ToolFn]:
    """Register an async tool with honest annotations and the error envelope.

    The docstring becomes the description (``description_of``). Whatever the tool raises
    becomes an ``is_error`` result carrying the envelope: a ``NexlaError`` with its summary
    and hint, a ``ToolError`` with its message, anything else as ``InternalError`` (logged
    here with its traceback, shown to the client by class name only). ``MCPError`` stays a
    protocol error.

    Raises:
        ValueError: the name is taken, the docstring is missing, or the annotations contradict
            each other (a read-only tool cannot be destructive).
        TypeError: the function is not async or does not return
            ``Annotated[CallToolResult, <output model>]``.
    """
    if read_only and destructive:
        raise ValueError(f"tool {name!r} cannot be both read-only and destructive")

    def register(fn: ToolFn) -> ToolFn:
        if server in _wanted and name not in _wanted[server]:
            return fn
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {name!r} must be an async function")
        if not fn.__doc__:
            raise ValueError(f"tool {name!r} needs a docstring: it is the tool's description")
        if name in registered_tools(server):
            raise ValueError(f"tool {name!r} is already registered")
        _check_returns_structured_result(name, fn)

        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> CallToolResult:
            with new_correlation():
                return await _run(*args, **kwargs)

        async def _run(*args: Any, **kwargs: Any) -> CallToolResult:
            try:
                return await fn(*args, **kwargs)
            except MCPError:
                raise
            except NexlaError as error:
                # The envelope drops Nexla's request id below a 5xx; the log keeps it, for
                # matching a failure with Nexla's side.
                request_id = error.context.get("request_id")
                logger.info("tool %s failed: %r%s", name, error,
                            f" (request id {request_id})" if request_id else "")  # fmt: skip
                return error_result(error)
            except ToolError as error:
                logger.info("tool %s refused: %s", name, error)
                return tool_error_result(name, str(error))
            except Exception as error:
                logger.exception("tool %s raised unexpectedly", name)
                return unexpected_error_result(name, error)

        server.add_tool(
            run,
            name=name,
            title=title,
            description=description_of(fn.__doc__),
            annotations=ToolAnnotations(
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=idempotent,
                open_world_hint=open_world,
            ),
        )
        _registered.setdefault(server, []).append(name)
        return fn

    return register
