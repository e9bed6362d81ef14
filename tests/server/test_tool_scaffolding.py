"""tools/_common.py: registration, annotations, result shape, dependencies and argument types."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from mcp import MCPError
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import INVALID_PARAMS, CallToolResult
from pydantic import BaseModel

from nexla_mcp.errors import NotFoundError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import MODES, call_error, call_ok, connect, text_of
from nexla_mcp.settings import Settings
from nexla_mcp.tools._common import (
    DEFAULT_LIMIT,
    Client,
    Cursor,
    Detail,
    FlowId,
    Limit,
    OptionalResourceId,
    ResourceType,
    ServerSettings,
    nexla_tool,
    registered_tools,
    tool_result,
)

pytestmark = pytest.mark.anyio

FakeNexla = Callable[[dict[tuple[str, str], Any]], httpx.AsyncClient]


class Echo(BaseModel):
    """What the test tools return."""

    flow_id: int
    note: str | None = None
    items: list[int] = []
    api_url: str | None = None


def context_only(live_settings: Callable[..., Settings]) -> Settings:
    return live_settings(toolsets="context")


def add_echo_tool(server: Any, **overrides: Any) -> None:
    options = {"name": "echo", "title": "Echo", "read_only": True, "destructive": False,
               "idempotent": True} | overrides  # fmt: skip

    @nexla_tool(server, **options)
    async def echo(
        flow_id: FlowId,
        client: Client,
        config: ServerSettings,
        resource_type: ResourceType = "data_sources",
        resource_id: OptionalResourceId = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        detail: Detail = "summary",
    ) -> Annotated[CallToolResult, Echo]:
        """Echo a flow id, a sentence wrapped
        to the source's line length.

        Second paragraph:
        - one item
        - another item
        """
        assert isinstance(client, NexlaClient) and client.api_url == config.api_url
        if flow_id == 404:
            raise NotFoundError("Resource not found: flows/404", resource_type="flows")
        if flow_id == 400:
            raise ToolError("refusing flow 400")
        if flow_id == 500:
            raise RuntimeError("internal secret detail")
        if flow_id == 321:
            raise MCPError(code=INVALID_PARAMS, message="bad cursor")
        return tool_result(Echo(flow_id=flow_id, api_url=client.api_url), f"Flow {flow_id}.")


@pytest.fixture
def echo_server(live_settings: Callable[..., Settings], fake_nexla: FakeNexla) -> Any:
    server = build_server(context_only(live_settings), http_client=fake_nexla({}))
    add_echo_tool(server)
    server.toolset_of["echo"] = "context"
    return server


async def test_tool_gets_all_four_annotations_title_and_cleaned_description(
    echo_server: Any,
) -> None:
    """The decorator writes every hint explicitly and dedents the docstring, each paragraph
    on one line but list items on their own."""
    from mcp import Client as McpClient

    async with McpClient(echo_server) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "echo")
    assert tool.title == "Echo"
    assert tool.annotations is not None
    assert tool.annotations.model_dump(exclude_none=True) == {
        "read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
        "open_world_hint": True,
    }  # fmt: skip
    assert tool.description == (
        "Echo a flow id, a sentence wrapped to the source's line length.\n\n"
        "Second paragraph:\n- one item\n- another item"
    )


async def test_dependencies_are_hidden_and_arguments_use_the_shared_vocabulary(
    echo_server: Any,
) -> None:
    """Client/ServerSettings never reach the input schema; shared types carry their rules."""
    from mcp import Client as McpClient

    async with McpClient(echo_server) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "echo")
    properties = tool.input_schema["properties"]
    assert set(properties) == {
        "flow_id", "resource_type", "resource_id", "limit", "cursor", "detail"
    }  # fmt: skip
    assert tool.input_schema["required"] == ["flow_id"]
    # An id is a plain integer in the schema; the server refuses 0 (test_schemas.py).
    assert properties["flow_id"]["type"] == "integer" and set(properties["flow_id"]) == {
        "type", "description"
    }  # fmt: skip
    assert (properties["limit"]["minimum"], properties["limit"]["maximum"]) == (1, 100)
    assert properties["limit"]["default"] == 25
    assert properties["resource_type"]["enum"] == ["data_sources", "data_sets", "data_sinks"]
    assert properties["detail"]["enum"] == ["summary", "full"]
    for name, schema in properties.items():
        assert schema.get("description"), f"{name} has no description"
    assert tool.output_schema is not None and tool.output_schema["title"] == "Echo"


@pytest.mark.parametrize("mode", MODES)
async def test_success_returns_compact_structured_content_and_a_summary(
    echo_server: Any, mode: Any
) -> None:
    """Nulls and empty lists are dropped; the text is the summary, not the JSON again."""
    from mcp import Client as McpClient

    async with McpClient(echo_server, mode=mode) as client:
        result = await client.call_tool("echo", {"flow_id": 7})
        assert await call_ok(client, "echo", {"flow_id": 7}) == {
            "flow_id": 7, "api_url": "https://acme.nexla.test/nexla-api"
        }  # fmt: skip
    assert text_of(result) == "Flow 7."


@pytest.mark.parametrize("mode", MODES)
async def test_failures_inside_a_tool_become_the_envelope(
    echo_server: Any, mode: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """NexlaError, ToolError and crashes all come back as the envelope, never a traceback."""
    from mcp import Client as McpClient

    async with McpClient(echo_server, mode=mode) as client:
        not_found = await call_error(client, "echo", {"flow_id": 404})
        refused = await call_error(client, "echo", {"flow_id": 400})
        with caplog.at_level(logging.ERROR, logger="nexla_mcp.tools._common"):
            crashed = await call_error(client, "echo", {"flow_id": 500})
    assert (not_found["type"], not_found["resource_type"]) == ("NotFoundError", "flows")
    assert (refused["type"], refused["message"]) == ("ToolError", "refusing flow 400")
    assert (crashed["type"], crashed["original_error"]) == ("InternalError", "RuntimeError")
    assert "internal secret detail" not in str(crashed)
    assert "internal secret detail" in caplog.text, "the traceback stays in the server log"


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_errors_stay_protocol_errors(echo_server: Any, mode: Any) -> None:
    """A deliberate MCPError is not swallowed into the envelope."""
    from mcp import Client as McpClient

    async with McpClient(echo_server, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("echo", {"flow_id": 321})
    assert caught.value.code == INVALID_PARAMS


@pytest.mark.parametrize("mode", MODES)
async def test_invalid_arguments_name_the_argument_and_constraint_in_both_eras(
    echo_server: Any, mode: Any
) -> None:
    """Pydantic's rejection arrives as the envelope with argument names and rules."""
    from mcp import Client as McpClient

    async with McpClient(echo_server, mode=mode) as client:
        body = await call_error(client, "echo", {"flow_id": 0, "limit": 1000})
        missing = await call_error(client, "echo", {})
    assert body["type"] == "InvalidArgumentsError"
    assert [(e["argument"], e["constraint"]) for e in body["details"]["errors"]] == [
        ("flow_id", {"gt": 0}), ("limit", {"le": 100})
    ]  # fmt: skip
    assert "1000" not in str(body), "rejected values are not echoed"
    assert missing["details"]["errors"] == [{"argument": "flow_id", "problem": "Field required"}]


async def test_unknown_tool_is_the_envelope(echo_server: Any) -> None:
    """A tool that is not registered (e.g. a write tool in read-only mode) gets advice."""
    from mcp import Client as McpClient

    async with McpClient(echo_server) as client:
        body = await call_error(client, "pause_flow", {"flow_id": 1})
    assert body["type"] == "UnknownToolError"


def test_registration_is_recorded_in_order(
    live_settings: Callable[..., Settings], fake_nexla: FakeNexla
) -> None:
    """registered_tools lists what nexla_tool registered on this server, nothing else."""
    server = build_server(context_only(live_settings), http_client=fake_nexla({}))
    add_echo_tool(server)
    assert registered_tools(server) == ("get_server_context", "echo")
    other = build_server(context_only(live_settings), http_client=fake_nexla({}))
    assert registered_tools(other) == ("get_server_context",)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param({"name": "get_server_context"}, ValueError, id="duplicate-name"),
        pytest.param(
            {"read_only": True, "destructive": True}, ValueError, id="read-only-destructive"
        ),
    ],
)
def test_contradictory_or_duplicate_registrations_fail(
    live_settings: Callable[..., Settings],
    fake_nexla: FakeNexla,
    overrides: dict[str, Any],
    error: type[Exception],
) -> None:
    """A tool name is taken once; a read-only tool cannot claim to be destructive."""
    server = build_server(context_only(live_settings), http_client=fake_nexla({}))
    with pytest.raises(error):
        add_echo_tool(server, **overrides)


async def _untyped(flow_id: FlowId) -> dict[str, int]:
    """Returns a bare dict."""
    return {"flow_id": flow_id}


async def _undocumented(flow_id: FlowId) -> Annotated[CallToolResult, Echo]:
    return tool_result(Echo(flow_id=flow_id), "x")


def _sync(flow_id: FlowId) -> Annotated[CallToolResult, Echo]:
    """Not async."""
    return tool_result(Echo(flow_id=flow_id), "x")


@pytest.mark.parametrize(
    ("fn", "error"),
    [
        pytest.param(_untyped, TypeError, id="no-output-model"),
        pytest.param(_undocumented, ValueError, id="no-docstring"),
        pytest.param(_sync, TypeError, id="not-async"),
    ],
)
def test_tools_that_break_the_contract_are_refused_at_registration(
    live_settings: Callable[..., Settings], fake_nexla: FakeNexla, fn: Any, error: type[Exception]
) -> None:
    """Typed output, a description and async are required of every tool."""
    server = build_server(context_only(live_settings), http_client=fake_nexla({}))
    register = nexla_tool(
        server, name="bad", title="Bad", read_only=True, destructive=False, idempotent=True
    )
    with pytest.raises(error):
        register(fn)
    assert "bad" not in registered_tools(server)


def test_tool_result_sanitises_the_summary() -> None:
    """The summary is model-facing text too: no control characters, no secrets."""
    result = tool_result(Echo(flow_id=1, items=[]), "Flow \x1b[31mred\x1b[0m password=hunter2xyz")
    assert text_of(result) == "Flow red password=«redacted:password»"
    assert result.structured_content == {"flow_id": 1}


async def test_connect_helper_serves_the_sandbox_by_default() -> None:
    """testing.connect builds the whole stack in memory against a fresh sandbox."""
    async with connect(Settings(sandbox=True, toolsets="context")) as client:
        context = await call_ok(client, "get_server_context")
    assert context["mode"] == "sandbox"


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_argument_names_are_refused_with_the_valid_ones(
    echo_server: Any, mode: Any
) -> None:
    """A misspelt argument is an error, not silently dropped (a filter would look applied)."""
    from mcp import Client as McpClient

    async with McpClient(echo_server, mode=mode) as client:
        body = await call_error(client, "echo", {"flow_id": 7, "limt": 5})
        context = await call_error(client, "get_server_context", {"verbose": True})
    assert body["type"] == "InvalidArgumentsError"
    assert [e["argument"] for e in body["details"]["errors"]] == ["limt"]
    assert body["details"]["accepted"].startswith("cursor, detail, flow_id, limit")
    assert context["details"]["accepted"] == "none"
