"""Streamable HTTP: bearer auth, DNS-rebinding protection, /healthz, and a real tool call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexla_mcp import __version__
from nexla_mcp.server.app import build_server
from nexla_mcp.server.http import HEALTH_PATH, MCP_PATH, http_app, transport_security
from nexla_mcp.server.testing import MODES, call_ok, serve_on_loopback
from nexla_mcp.settings import Settings

pytestmark = pytest.mark.anyio

TOKEN = "http-token-for-tests-0123456789"
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}},
}  # fmt: skip
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def http_settings(live_settings: Callable[..., Settings]) -> Settings:
    """Loopback HTTP with a bearer token, context toolset only."""
    return live_settings(transport="http", http_token=TOKEN, toolsets="context")


@pytest.fixture
async def asgi(http_settings: Settings, fake_nexla: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client driving the server's ASGI app in process (no socket)."""
    server = build_server(http_settings, http_client=fake_nexla({}))
    app = http_app(server, http_settings)
    async with server.session_manager.run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as h:
            yield h


def auth(token: str = TOKEN) -> dict[str, str]:
    return {**MCP_HEADERS, "Authorization": f"Bearer {token}"}


async def test_healthz_answers_without_a_token(asgi: httpx.AsyncClient) -> None:
    """Load balancers and humans can probe liveness without credentials."""
    response = await asgi.get(HEALTH_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(MCP_HEADERS, id="no-token"),
        pytest.param(auth("wrong-token-0123456789"), id="wrong-token"),
        pytest.param({**MCP_HEADERS, "Authorization": TOKEN}, id="no-bearer-scheme"),
    ],
)
async def test_mcp_requires_the_bearer_token(
    asgi: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Without the right token the request is refused with 401 and a Bearer challenge."""
    response = await asgi.post(MCP_PATH, json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_foreign_origin_is_refused_even_with_the_token(asgi: httpx.AsyncClient) -> None:
    """A web page on another origin cannot drive the server (DNS rebinding)."""
    headers = {**auth(), "Origin": "https://evil.example"}
    response = await asgi.post(MCP_PATH, json=INITIALIZE, headers=headers)
    assert response.status_code == 403


async def test_foreign_host_header_is_refused(asgi: httpx.AsyncClient) -> None:
    """A request addressed to another host name is refused (421)."""
    headers = {**auth(), "Host": "evil.example"}
    response = await asgi.post(MCP_PATH, json=INITIALIZE, headers=headers)
    assert response.status_code == 421


async def test_local_origin_with_the_token_is_served(asgi: httpx.AsyncClient) -> None:
    """A local browser-based client with the token gets through."""
    headers = {**auth(), "Origin": "http://localhost:6274"}
    response = await asgi.post(MCP_PATH, json=INITIALIZE, headers=headers)
    assert response.status_code == 200


def test_security_settings_add_the_bind_host_and_configured_extras(
    live_settings: Callable[..., Settings],
) -> None:
    """Explicit allow-lists: loopback, the bind host, then NEXLA_MCP_ALLOWED_* additions."""
    settings = live_settings(
        transport="http", host="10.0.0.5", http_token=TOKEN,
        allowed_hosts="mcp.example.com", allowed_origins="https://app.example.com",
    )  # fmt: skip
    security = transport_security(settings)
    assert security.enable_dns_rebinding_protection is True
    assert {"127.0.0.1:*", "localhost:*", "[::1]:*", "10.0.0.5", "10.0.0.5:*"} <= set(
        security.allowed_hosts
    )
    assert "mcp.example.com" in security.allowed_hosts
    assert "https://app.example.com" in security.allowed_origins
    assert not any("evil" in origin for origin in security.allowed_origins)


def test_wildcard_bind_does_not_allow_every_host(live_settings: Callable[..., Settings]) -> None:
    """Binding 0.0.0.0 keeps Host checks on: only loopback names unless configured."""
    settings = live_settings(transport="http", host="0.0.0.0", http_token=TOKEN)
    assert not any(h.startswith("0.0.0.0") for h in transport_security(settings).allowed_hosts)


@pytest.fixture
def running_server(sandbox_app: Any) -> Iterator[str]:
    """The sandbox-backed server served by uvicorn on a loopback port, in a thread."""
    settings = Settings(sandbox=True, transport="http", http_token=TOKEN, toolsets="context")
    server = build_server(settings, sandbox_app=sandbox_app)
    with serve_on_loopback(http_app(server, settings)) as url:
        yield url


async def test_http_end_to_end_auth_origin_and_a_tool_call(running_server: str) -> None:
    """Over a real socket: 401 without the token, 403 for a foreign Origin, tools work."""
    async with httpx2.AsyncClient() as raw:
        anonymous = await raw.post(f"{running_server}{MCP_PATH}", json=INITIALIZE,
                                   headers=MCP_HEADERS)  # fmt: skip
        foreign = await raw.post(f"{running_server}{MCP_PATH}", json=INITIALIZE,
                                 headers={**auth(), "Origin": "https://evil.example"})  # fmt: skip
        health = await raw.get(f"{running_server}{HEALTH_PATH}")
    assert (anonymous.status_code, foreign.status_code, health.status_code) == (401, 403, 200)

    for mode in MODES:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            transport = streamable_http_client(f"{running_server}{MCP_PATH}", http_client=http)
            async with Client(transport, mode=mode) as client:
                context = await call_ok(client, "get_server_context")
        assert (context["mode"], context["toolsets"]) == ("sandbox", ["context"])


WRITE_TOOLS = {"pause_flow", "activate_flow", "delete_flow", "update_resource", "grant_access",
               "revoke_access", "replace_accessors"}  # fmt: skip


@pytest.mark.parametrize(("writes_without_token", "writes_served"), [(False, False), (True, True)])
async def test_http_without_a_token_serves_reads_only_unless_the_operator_says_otherwise(
    sandbox_app: Any, writes_without_token: bool, writes_served: bool
) -> None:
    """Any local process can reach a loopback port, so without NEXLA_MCP_HTTP_TOKEN the write
    tools are not even registered (get_server_context says writes are off), unless
    NEXLA_MCP_HTTP_WRITES_WITHOUT_TOKEN is set."""
    settings = Settings(sandbox=True, profile="all", transport="http",
                        http_writes_without_token=writes_without_token)  # fmt: skip
    server = build_server(settings, sandbox_app=sandbox_app)
    with serve_on_loopback(http_app(server, settings)) as url:
        async with httpx2.AsyncClient() as http:
            transport = streamable_http_client(f"{url}{MCP_PATH}", http_client=http)
            async with Client(transport) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                context = await call_ok(client, "get_server_context")
                flows = await call_ok(client, "list_flows")
    assert bool(names & WRITE_TOOLS) is writes_served
    assert (context["write_policy"] == "off") is not writes_served
    assert flows["flows"]
