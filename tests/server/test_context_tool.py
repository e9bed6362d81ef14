"""get_server_context: what the server is connected to and allowed to do, never a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client as McpClient

from nexla_mcp import __version__
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import MODES, call_ok, text_of
from nexla_mcp.settings import Settings
from nexla_mcp.tools.context import api_host

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", MODES)
async def test_live_context_reports_host_policy_toolsets_and_lists(
    live_settings: Callable[..., Settings], fake_nexla: Any, mode: Any
) -> None:
    """Everything an assistant needs to reason about the server, in one compact object."""
    settings = live_settings(
        toolsets="flows,context", writes="human", allow_flows="5,3", deny_flows="9"
    )
    server = build_server(settings, http_client=fake_nexla({}))
    async with McpClient(server, mode=mode) as client:
        context = await call_ok(client, "get_server_context")
        result = await client.call_tool("get_server_context", {})
    assert context == {
        "version": __version__,
        "mode": "live",
        "api_host": "acme.nexla.test",
        "auth_mode": "service_key",
        "write_policy": "human",
        "toolsets": ["flows", "context"],
        "profile": "all",
        "allow_flows": [3, 5],
        "deny_flows": [9],
    }
    assert text_of(result).startswith(f"nexla-mcp {__version__}, live API acme.nexla.test")
    assert fake_nexla.requests == [], "describing the server calls no API"


async def test_read_only_context_says_so_and_omits_empty_lists(
    live_settings: Callable[..., Settings], fake_nexla: Any
) -> None:
    """Read-only shows as write_policy off; empty allow/deny lists are left out."""
    server = build_server(
        live_settings(toolsets="context", read_only=True), http_client=fake_nexla({})
    )
    async with McpClient(server) as client:
        context = await call_ok(client, "get_server_context")
        summary = text_of(await client.call_tool("get_server_context", {}))
    assert context["write_policy"] == "off"
    assert "allow_flows" not in context and "deny_flows" not in context
    assert "read-only" in summary


async def test_context_never_contains_a_credential(fake_nexla: Any) -> None:
    """Service key, access token and HTTP token values stay out of the result."""
    secrets = ("svc-secret-value-1", "tok-secret-value-2", "http-secret-value-3")
    settings = Settings(
        service_key=secrets[0], access_token=secrets[1], http_token=secrets[2],
        api_url="https://user:pw-secret@acme.nexla.test:8443/nexla-api?key=qs-secret",
        toolsets="context",
    )  # fmt: skip
    server = build_server(settings, http_client=fake_nexla({}))
    async with McpClient(server) as client:
        result = await client.call_tool("get_server_context", {})
    dumped = json.dumps(result.model_dump(mode="json"))
    for secret in (*secrets, "pw-secret", "qs-secret", "nexla-api"):
        assert secret not in dumped
    assert result.structured_content is not None
    assert result.structured_content["api_host"] == "acme.nexla.test:8443"


def test_api_host_in_sandbox_mode_names_the_sandbox() -> None:
    """In sandbox mode there is no remote host to show."""
    assert api_host(Settings(sandbox=True, profile="all")) == "sandbox (in-process)"


async def test_context_reports_the_last_upstream_outcome() -> None:
    """Before any call there is none; after a read it is ok with a time."""
    server = build_server(Settings(sandbox=True, toolsets="flows,context"))
    async with McpClient(server, mode="legacy") as client:
        assert "last_upstream" not in await call_ok(client, "get_server_context")
        await call_ok(client, "list_flows", {"limit": 1})
        last = (await call_ok(client, "get_server_context"))["last_upstream"]
    assert last["outcome"] == "ok" and last["at"].endswith("Z") and "error" not in last


async def test_context_names_the_class_of_the_last_failure() -> None:
    """A wrong API path shows as api_url with its error type, and the summary points at doctor."""
    import httpx

    from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app

    settings = Settings(
        service_key=DEFAULT_SERVICE_KEY,
        api_url="http://sandbox.test/wrong",
        toolsets="flows,context",
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app())) as http:
        server = build_server(settings, http_client=http)
        async with McpClient(server, mode="legacy") as client:
            failed = await client.call_tool("list_flows", {})
            assert failed.is_error
            context = await call_ok(client, "get_server_context")
            result = await client.call_tool("get_server_context", {})
    assert context["last_upstream"]["outcome"] == "api_url"
    assert context["last_upstream"]["error"] == "ApiUrlError"
    assert "Last Nexla call failed (api_url, ApiUrlError)" in text_of(result)
    assert "nexla-mcp doctor" in text_of(result)
