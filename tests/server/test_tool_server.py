"""NexlaMCPServer (`server/tool_server.py`): tools are built when first needed, a first call
builds only that tool, tools/list all of them."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import MODES
from nexla_mcp.settings import Settings
from nexla_mcp.tools._common import registered_tools
from nexla_mcp.tools.profiles import tools_of

pytestmark = pytest.mark.anyio


def test_a_new_server_has_built_no_tool_yet() -> None:
    server = build_server(Settings(sandbox=True))
    assert server.deferred_toolsets == (
        "flows", "resources", "metrics", "logs", "credentials", "runbooks", "context"
    )  # fmt: skip
    assert set(server.toolset_of) == set(tools_of("default"))


def test_building_one_toolset_leaves_the_others_deferred() -> None:
    """What a first tools/call does (the SDK client lists tools before it calls, so the
    in-memory client cannot show it; bench/run.py's stdio cold start does)."""
    server = build_server(Settings(sandbox=True))
    server.build_deferred("flows")
    assert "flows" not in server.deferred_toolsets and "runbooks" in server.deferred_toolsets


def test_building_one_tool_leaves_the_rest_of_its_toolset_deferred() -> None:
    """What a first tools/call to a tool does (the SDK's argument check asks for its schema
    the same way)."""
    server = build_server(Settings(sandbox=True))
    assert server._tool_input_schema("get_flow") is not None
    assert "get_flow" not in server.deferred_tools and "list_flows" in server.deferred_tools
    assert "flows" in server.deferred_toolsets


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_builds_every_deferred_toolset(mode: Any) -> None:
    server = build_server(Settings(sandbox=True))
    async with Client(server, mode=mode) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        first = await client.call_tool("list_flows", {"limit": 1})
    assert not first.is_error and (first.structured_content or {})["flows"]
    assert server.deferred_toolsets == ()
    assert listed == list(tools_of("default"))


async def test_unknown_arguments_are_refused_before_the_tool_is_built_too() -> None:
    server = build_server(Settings(sandbox=True))
    async with Client(server) as client:
        result = await client.call_tool("get_flow_logs", {"flow": 1})
    assert result.is_error and "flow_id" in result.content[0].text  # type: ignore[union-attr]


def test_asking_what_is_registered_builds_every_deferred_tool() -> None:
    server = build_server(Settings(sandbox=True))
    assert set(registered_tools(server)) == set(tools_of("default"))
    assert server.deferred_toolsets == ()
