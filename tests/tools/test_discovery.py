"""Dynamic discovery: the default tools plus enable_toolset, which adds a toolset on request
and tells the client its tool list changed (both protocol eras); off unless enabled."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ToolListChangedNotification

from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import MODES, call_ok, connect
from nexla_mcp.settings import Settings
from nexla_mcp.tools.discovery import pending_toolsets
from nexla_mcp.tools.profiles import CATALOG, DISCOVERY_TOOL, available_tools, tools_of

pytestmark = pytest.mark.anyio

DYNAMIC = Settings(sandbox=True, dynamic_toolsets=True)


async def names(client: Client) -> list[str]:
    return [tool.name for tool in (await client.list_tools()).tools]


async def test_discovery_is_off_unless_enabled() -> None:
    """No enable_toolset, and the handshake era does not promise tool list changes."""
    async with connect(Settings(sandbox=True), mode="legacy") as client:
        assert DISCOVERY_TOOL not in await names(client)
        capabilities = client.session.initialize_result.capabilities  # type: ignore[union-attr]
        assert capabilities.tools is not None and not capabilities.tools.list_changed
        error = await client.call_tool(DISCOVERY_TOOL, {"toolset": "control"})
    assert error.is_error


async def test_every_tool_is_named_in_the_discovery_tool_so_one_call_reaches_it() -> None:
    async with connect(DYNAMIC) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == sorted([*tools_of("default"), DISCOVERY_TOOL])
    description = tools[DISCOVERY_TOOL].description or ""
    for name in set(available_tools(DYNAMIC)) - set(tools_of("default")):
        assert f"{CATALOG[name].toolset}: " in description and name in description, name
    schema = tools[DISCOVERY_TOOL].input_schema["properties"]["toolset"]
    assert schema["enum"] == list(pending_toolsets(DYNAMIC, set(tools_of("default"))))
    assert {"resources", "control", "access"} <= set(schema["enum"])


async def test_listing_gives_one_line_per_toolset_left_to_enable() -> None:
    async with connect(DYNAMIC) as client:
        listing = await call_ok(client, DISCOVERY_TOOL)
    assert len(listing["toolsets"]) == len(pending_toolsets(DYNAMIC, set(tools_of("default"))))
    control = next(line for line in listing["toolsets"] if line.startswith("control: "))
    assert "pause_flow" in control and "\n" not in control


async def test_legacy_era_enable_sends_list_changed_and_the_new_tool_is_callable() -> None:
    """2025-11-25: tools.listChanged is advertised, the notification arrives on the session."""
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    async with connect(DYNAMIC, mode="legacy", message_handler=on_message) as client:
        capabilities = client.session.initialize_result.capabilities  # type: ignore[union-attr]
        assert capabilities.tools is not None and capabilities.tools.list_changed
        assert "get_daily_metrics" not in await names(client)
        result = await call_ok(client, DISCOVERY_TOOL, {"toolset": "metrics"})
        with anyio.fail_after(5):
            await changed.wait()
        assert result["added"] == ["get_daily_metrics"]
        assert "get_daily_metrics" in await names(client)
        await assert_daily_metrics_callable(client)


async def test_modern_era_enable_publishes_to_listen_streams_and_the_new_tool_is_callable() -> None:
    """2026-07-28: no session notification; the event goes to subscriptions/listen."""
    async with connect(DYNAMIC, mode="auto") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            assert "pause_flow" not in await names(client)
            result = await call_ok(client, DISCOVERY_TOOL, {"toolset": "control"})
            with anyio.fail_after(5):
                event = await subscription.__anext__()
        assert type(event).__name__ == "ToolsListChanged"
        assert result["added"] == [n for n, e in CATALOG.items() if e.toolset == "control"]
        assert "pause_flow" in await names(client)
        flows = await call_ok(client, "list_flows", {"limit": 1})
        plan = await call_ok(client, "pause_flow", {"flow_id": flows["flows"][0]["flow_id"]})
    assert plan["plan_token"]


async def assert_daily_metrics_callable(client: Client) -> None:
    flow_id = (await call_ok(client, "list_flows", {"limit": 1}))["flows"][0]["flow_id"]
    source = (await call_ok(client, "get_flow", {"flow_id": flow_id}))["source"]
    arguments = {"resource_type": "data_sources", "resource_id": source["resource_id"]}
    metrics = await call_ok(client, "get_daily_metrics", arguments)
    assert metrics["resource_id"] == source["resource_id"] and metrics["records"] > 0


@pytest.mark.parametrize("mode", MODES)
async def test_enabling_twice_adds_nothing_and_an_unknown_toolset_is_refused(mode: Any) -> None:
    async with connect(DYNAMIC, mode=mode) as client:
        await call_ok(client, DISCOVERY_TOOL, {"toolset": "access"})
        again = await call_ok(client, DISCOVERY_TOOL, {"toolset": "access"})
        refused = await client.call_tool(DISCOVERY_TOOL, {"toolset": "flows"})
    assert "added" not in again
    assert refused.is_error


async def test_read_only_discovery_offers_no_write_tool() -> None:
    settings = Settings(sandbox=True, dynamic_toolsets=True, read_only=True)
    async with connect(settings) as client:
        listing = await call_ok(client, DISCOVERY_TOOL)
    assert not any(line.startswith("control") for line in listing["toolsets"])
    assert any(line.startswith("access: list_accessors (") for line in listing["toolsets"])


async def test_the_context_tool_reports_what_discovery_has_added() -> None:
    async with connect(DYNAMIC) as client:
        before = await call_ok(client, "get_server_context")
        await call_ok(client, DISCOVERY_TOOL, {"toolset": "runbooks"})
        after = await call_ok(client, "get_server_context")
    assert "track_sla" in before["not_listed"] and "track_sla" not in after["not_listed"]
    assert before["dynamic_toolsets"] and DISCOVERY_TOOL in before["how_to_list_more"]


async def test_a_toolset_enabled_on_one_server_is_not_listed_by_another() -> None:
    first, second = build_server(DYNAMIC), build_server(DYNAMIC)
    async with Client(first) as one, Client(second) as other:
        await call_ok(one, DISCOVERY_TOOL, {"toolset": "control"})
        assert "pause_flow" in await names(one)
        assert "pause_flow" not in await names(other)
