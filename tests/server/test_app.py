"""build_server: identity, instructions, enabled toolsets, and the lifespan's one Nexla client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mcp import Client as McpClient
from mcp.server.request_state import InvalidRequestState

from nexla_mcp import __version__
from nexla_mcp.nexla import RetryPolicy
from nexla_mcp.server.app import (
    SERVER_NAME,
    build_server,
    instructions_for,
    request_state_security_for,
    without_property_titles,
)
from nexla_mcp.server.testing import MODES, call_ok
from nexla_mcp.settings import Settings
from nexla_mcp.tools import TOOLSET_NAMES

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", MODES)
async def test_server_identifies_itself_and_says_where_to_start(
    live_settings: Callable[..., Settings], fake_nexla: Any, mode: Any
) -> None:
    """serverInfo carries the package version; instructions name the triage path."""
    server = build_server(live_settings(), http_client=fake_nexla({}))
    async with McpClient(server, mode=mode) as client:
        info, instructions = client.server_info, client.instructions
    assert (info.name, info.version) == (SERVER_NAME, __version__)
    assert instructions is not None
    for step in ("diagnose_flow", "org_health", "list_flows", "has_recent_errors=true"):
        assert step in instructions


def test_without_runbooks_the_instructions_name_the_manual_triage_path() -> None:
    """With the runbooks toolset off, the instructions walk the read tools instead."""
    text = instructions_for(Settings(sandbox=True, toolsets="flows,metrics,logs"))
    assert "diagnose_flow" not in text
    for step in ("list_flows", "has_recent_errors=true", "get_flow", "get_run_metrics",
                 "get_flow_logs"):  # fmt: skip
        assert step in text


def test_instructions_list_only_enabled_toolsets_and_stay_short() -> None:
    """Instructions describe what is there; hosts truncate long ones, so they stay small."""
    text = instructions_for(Settings(sandbox=True, toolsets="flows,context"))
    assert "- flows:" in text and "- context:" in text
    assert "- logs:" not in text and "- credentials:" not in text
    assert len(instructions_for(Settings(sandbox=True))) < 2000


async def test_only_enabled_toolsets_are_registered(
    live_settings: Callable[..., Settings], fake_nexla: Any
) -> None:
    """--toolsets context serves exactly the context toolset."""
    server = build_server(live_settings(toolsets="context"), http_client=fake_nexla({}))
    async with McpClient(server) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
    assert names == ["get_server_context"]
    assert server.toolset_of == {"get_server_context": "context"}


async def test_lifespan_owns_one_client_that_logs_in_once_and_out_on_close(
    live_settings: Callable[..., Settings], fake_nexla: Any, add_flow_probe: Callable[..., None]
) -> None:
    """Many tool calls share one NexlaClient: one token, reused; logout when the session ends."""
    settings = live_settings(toolsets="context")
    server = build_server(settings, http_client=fake_nexla({}))
    add_flow_probe(server)
    async with McpClient(server) as client:
        for _ in range(3):
            await client.call_tool("probe_flow", {"flow_id": 5})
        assert fake_nexla.calls("POST", "/token/logout") == []
    (login,) = fake_nexla.calls("POST", "/token")
    assert login.headers["authorization"] == f"Basic {settings.service_key.get_secret_value()}"
    flows = fake_nexla.calls("GET", "/flows/5")
    assert len(flows) == 3
    assert {r.headers["authorization"] for r in flows} == {f"Bearer {fake_nexla.token}"}
    assert {r.url.host for r in fake_nexla.requests} == {"acme.nexla.test"}
    assert len(fake_nexla.calls("POST", "/token/logout")) == 1


async def test_access_token_is_used_as_is_without_a_login(
    fake_nexla: Any, add_flow_probe: Callable[..., None]
) -> None:
    """With only NEXLA_ACCESS_TOKEN the client sends it directly and never calls /token."""
    settings = Settings(
        access_token="direct-access-token-123456",
        api_url="https://acme.nexla.test/nexla-api",
        toolsets="context",
    )
    server = build_server(settings, http_client=fake_nexla({}))
    add_flow_probe(server)
    async with McpClient(server) as client:
        await client.call_tool("probe_flow", {"flow_id": 5})
    assert fake_nexla.calls("POST", "/token") == []
    (request,) = fake_nexla.calls("GET", "/flows/5")
    assert request.headers["authorization"] == "Bearer direct-access-token-123456"


async def test_the_retry_policy_given_to_build_server_is_the_one_the_client_uses(
    live_settings: Callable[..., Settings], fake_nexla: Any, add_flow_probe: Callable[..., None]
) -> None:
    """retry_policy reaches the lifespan's client: with one attempt, a 503 is not retried."""
    unavailable = {("GET", "/flows/5"): lambda request: httpx.Response(503)}
    server = build_server(live_settings(toolsets="context"), http_client=fake_nexla(unavailable),
                          retry_policy=RetryPolicy(max_attempts=1))  # fmt: skip
    add_flow_probe(server)
    async with McpClient(server) as client:
        result = await client.call_tool("probe_flow", {"flow_id": 5})
    assert result.is_error
    assert len(fake_nexla.calls("GET", "/flows/5")) == 1


async def test_sandbox_mode_serves_the_in_process_sandbox_by_itself(sandbox_app: Any) -> None:
    """--sandbox needs no HTTP client from outside: the lifespan wires the sandbox app in."""
    server = build_server(Settings(sandbox=True, toolsets="context"), sandbox_app=sandbox_app)
    async with McpClient(server, mode="legacy") as client:
        context = await call_ok(client, "get_server_context")
    assert (context["mode"], context["auth_mode"]) == ("sandbox", "sandbox")


@pytest.mark.parametrize("toolset", TOOLSET_NAMES)
def test_every_toolset_registers_tools_of_its_own(
    live_settings: Callable[..., Settings], fake_nexla: Any, toolset: str
) -> None:
    """Each toolset is real: enabled alone, it registers at least one tool, all its own."""
    server = build_server(live_settings(toolsets=toolset), http_client=fake_nexla({}))
    assert server.toolset_of
    assert set(server.toolset_of.values()) == {toolset}


def test_property_titles_are_dropped_but_schema_titles_and_title_properties_stay() -> None:
    """Derived titles ("Flow Id") go; a property *named* title and model titles remain."""
    schema = {
        "title": "FlowView",
        "type": "object",
        "properties": {
            "flow_id": {"title": "Flow Id", "type": "integer"},
            "title": {"title": "Title", "type": "string", "description": "the flow's title"},
            "runs": {"title": "Runs", "type": "array",
                     "items": {"anyOf": [{"$ref": "#/$defs/Run"}, {"type": "null"}]}},
        },
        "$defs": {"Run": {"title": "Run", "type": "object",
                          "properties": {"id": {"title": "Id", "type": "integer"}}}},
    }  # fmt: skip
    assert without_property_titles(schema) == {
        "title": "FlowView",
        "type": "object",
        "properties": {
            "flow_id": {"type": "integer"},
            "title": {"type": "string", "description": "the flow's title"},
            "runs": {"type": "array",
                     "items": {"anyOf": [{"$ref": "#/$defs/Run"}, {"type": "null"}]}},
        },
        "$defs": {"Run": {"title": "Run", "type": "object",
                          "properties": {"id": {"type": "integer"}}}},
    }  # fmt: skip


def test_replicas_sharing_the_secret_unseal_each_others_request_state() -> None:
    """2026-era request state sealed by one replica opens on another with the same secret only."""
    secret = "s" * 40
    sealed = request_state_security_for(Settings(sandbox=True, secret=secret)).codec.seal(b"round")
    replica = request_state_security_for(Settings(sandbox=True, secret=secret))
    stranger = request_state_security_for(Settings(sandbox=True, secret="t" * 40))
    assert replica.codec.unseal(sealed) == b"round"
    with pytest.raises(InvalidRequestState):
        stranger.codec.unseal(sealed)
