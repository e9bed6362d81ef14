"""Dynamic discovery per caller: a toolset one client enables is listed to and callable by
that client alone, in memory and over loopback HTTP, in both protocol eras; where the
transport cannot tell clients apart (anonymous 2026-07-28 or stateless HTTP) the result
says the tools are listed to every such client."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Literal

import anyio
import httpx
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server.subscriptions import ToolsListChanged
from mcp.types import ToolListChangedNotification
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.http import MCP_PATH, http_app
from nexla_mcp.server.testing import call_error, call_ok, serve_on_loopback
from nexla_mcp.server.toolset_scopes import ScopedSubscriptionBus, ToolsListChangedIn, _listening
from nexla_mcp.settings import Settings
from nexla_mcp.tools.profiles import DISCOVERY_TOOL, tools_of

pytestmark = pytest.mark.anyio

TOKEN = "scopes-http-token-0123456789"
ISSUER = "https://login.example.test"
AUDIENCE = "https://mcp.example.test/mcp"
SIGNING = RSAKey.generate_key(2048, parameters={"kid": "scopes-key"}, private=True)
DEFAULT = sorted([*tools_of("default"), DISCOVERY_TOOL])
Mode = Literal["auto", "legacy"]


def dynamic(**overrides: Any) -> Settings:
    return Settings(sandbox=True, dynamic_toolsets=True, **overrides)


async def names(client: Client) -> list[str]:
    return sorted(tool.name for tool in (await client.list_tools()).tools)


class Watched:
    """A client and the tool-list changes it has heard: the session notification on the
    handshake era, its own subscriptions/listen stream on 2026-07-28."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.client: Client
        self.changes = 0
        self.changed = anyio.Event()

    def heard(self) -> None:
        self.changes += 1
        self.changed.set()

    async def on_message(self, message: Any) -> None:
        # On 2026-07-28 the SDK client hands listen-stream frames to the message handler too.
        if self.mode == "legacy" and isinstance(message, ToolListChangedNotification):
            self.heard()

    async def wait_for_change(self) -> None:
        with anyio.fail_after(10):
            await self.changed.wait()


@asynccontextmanager
async def watched(client_cm: Any, watcher: Watched) -> AsyncIterator[Watched]:
    async with AsyncExitStack() as stack:
        watcher.client = await stack.enter_async_context(client_cm)
        if watcher.mode == "auto":
            subscription = await stack.enter_async_context(
                watcher.client.listen(tools_list_changed=True)
            )

            async def pump() -> None:
                async for _ in subscription:
                    watcher.heard()

            group = await stack.enter_async_context(anyio.create_task_group())
            group.start_soon(pump)
            stack.callback(group.cancel_scope.cancel)
        yield watcher


async def assert_enabled_for_one_client_only(one: Watched, other: Watched) -> None:
    """``one`` enables metrics: it hears the change, lists and calls get_daily_metrics;
    ``other`` lists the default tools still and is told to enable the toolset first."""
    assert await names(one.client) == await names(other.client) == DEFAULT
    result = await call_ok(one.client, DISCOVERY_TOOL, {"toolset": "metrics"})
    assert result["added"] == ["get_daily_metrics"]
    await one.wait_for_change()
    assert "get_daily_metrics" in await names(one.client)
    await assert_daily_metrics_callable(one.client)

    assert await names(other.client) == DEFAULT
    refused = await call_error(other.client, "get_daily_metrics", DAILY_METRICS)
    assert refused["type"] == "ToolNotEnabledError"
    assert refused["details"] == {"toolset": "metrics"}
    assert "enable_toolset" in refused["hint"] and "toolset=metrics" in refused["hint"]
    context = await call_ok(other.client, "get_server_context")
    assert "get_daily_metrics" in context["not_listed"]


DAILY_METRICS = {"resource_type": "data_sources", "resource_id": 5101}


async def assert_daily_metrics_callable(client: Client) -> None:
    metrics = await call_ok(client, "get_daily_metrics", DAILY_METRICS)
    assert metrics["resource_id"] == DAILY_METRICS["resource_id"]


# --- in memory -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_in_memory_two_clients_of_one_server_enable_toolsets_apart(
    mode: Mode, sandbox_app: Any
) -> None:
    server = build_server(dynamic(), sandbox_app=sandbox_app)
    one, other = Watched(mode), Watched(mode)
    async with (
        watched(Client(server, mode=mode, message_handler=one.on_message), one),
        watched(Client(server, mode=mode, message_handler=other.on_message), other),
    ):
        await assert_enabled_for_one_client_only(one, other)
        # The other client enabling the same toolset later is its own change, heard by it.
        again = await call_ok(other.client, DISCOVERY_TOOL, {"toolset": "metrics"})
        await other.wait_for_change()
        assert again["added"] == ["get_daily_metrics"]
        await assert_daily_metrics_callable(other.client)
    assert one.changes == 1


async def test_a_write_tool_enabled_by_one_session_plans_there_and_is_refused_elsewhere(
    sandbox_app: Any,
) -> None:
    server = build_server(dynamic(), sandbox_app=sandbox_app)
    async with Client(server, mode="legacy") as one, Client(server, mode="legacy") as other:
        result = await call_ok(one, DISCOVERY_TOOL, {"toolset": "control"})
        assert result["listed_to"] == "session" and "pause_flow" in result["added"]
        plan = await call_ok(one, "pause_flow", {"flow_id": 9001})
        confirm = {"flow_id": 9001, "confirm": True, "plan_token": plan["plan_token"]}
        refused = await call_error(other, "pause_flow", confirm)
        assert refused["type"] == "ToolNotEnabledError"
        assert (await call_ok(other, "get_flow", {"flow_id": 9001}))["status"] == "ACTIVE"


async def test_a_tool_no_caller_can_enable_is_still_an_unknown_tool() -> None:
    """Write tools are absent in read-only mode whatever is enabled: unknown, not 'enable it'."""
    settings = dynamic(read_only=True)
    async with Client(build_server(settings)) as client:
        error = await call_error(client, "pause_flow", {"flow_id": 9001})
    assert error["type"] == "UnknownToolError"


async def test_diagnose_flow_names_next_actions_only_with_tools_listed_to_the_caller(
    sandbox_app: Any,
) -> None:
    """Another session enabling control puts no control tool in this session's advice."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as http:
        rows = (await http.get("http://sandbox.test/_sandbox/scenarios")).json()["scenarios"]
    flow = {"flow_id": next(r for r in rows if r["kind"] == "flow_not_running")["flow_id"]}
    control = {"pause_flow", "activate_flow", "delete_flow"}
    server = build_server(dynamic(), sandbox_app=sandbox_app)
    async with Client(server, mode="legacy") as one, Client(server, mode="legacy") as other:
        await call_ok(one, DISCOVERY_TOOL, {"toolset": "control"})
        mine = await call_ok(one, "diagnose_flow", flow)
        theirs = await call_ok(other, "diagnose_flow", flow)
    assert control & {action.get("tool") for action in mine["next_actions"]}
    assert not control & {action.get("tool") for action in theirs.get("next_actions", [])}


async def test_a_listen_stream_hears_the_changes_of_its_own_scope_alone() -> None:
    """The bus delivers a scoped change to the streams opened in that scope, and any other
    event to every stream."""
    bus = ScopedSubscriptionBus()
    mine, theirs = {"get_daily_metrics"}, set[str]()
    heard: dict[str, list[Any]] = {"mine": [], "theirs": []}
    for name, scope in (("mine", mine), ("theirs", theirs)):
        token = _listening.set(scope)
        bus.subscribe(heard[name].append)
        _listening.reset(token)
    await bus.publish(ToolsListChangedIn(tools=mine))
    await bus.publish(ToolsListChanged())
    assert heard == {"mine": [ToolsListChangedIn(), ToolsListChanged()],
                     "theirs": [ToolsListChanged()]}  # fmt: skip


@pytest.mark.parametrize(("mode", "listed_to"), [("auto", "server"), ("legacy", "session")])
async def test_stdio_enables_a_toolset_for_its_one_client(mode: Mode, listed_to: str) -> None:
    """The real transport in a subprocess: the client hears the change and calls the tool.
    A stdio process serves one client, so 2026-07-28's server scope is that client."""
    command = [sys.executable, "-m", "nexla_mcp", "--sandbox", "--dynamic-toolsets"]
    server = StdioServerParameters(command=command[0], args=command[1:])
    watcher = Watched(mode)
    with anyio.fail_after(60):
        async with watched(Client(server, mode=mode, message_handler=watcher.on_message), watcher):
            result = await call_ok(watcher.client, DISCOVERY_TOOL, {"toolset": "metrics"})
            await watcher.wait_for_change()
            await assert_daily_metrics_callable(watcher.client)
    assert result["listed_to"] == listed_to


# --- loopback HTTP ---------------------------------------------------------------------------


@asynccontextmanager
async def http_client(url: str, mode: Mode, bearer: str) -> AsyncIterator[Watched]:
    watcher = Watched(mode)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}) as http:
        transport = streamable_http_client(f"{url}{MCP_PATH}", http_client=http)
        client = Client(transport, mode=mode, message_handler=watcher.on_message)
        async with watched(client, watcher):
            yield watcher


@pytest.fixture
def jwks_url() -> Iterator[str]:
    document = KeySet([SIGNING]).as_dict(private=False)
    app = Starlette(routes=[Route("/jwks.json", lambda _: JSONResponse(document))])
    with serve_on_loopback(app) as url:
        yield f"{url}/jwks.json"


def signed(sub: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": now + 600, "iat": now,
              "scope": "nexla:read nexla:write"}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": SIGNING.kid}, claims, SIGNING)


def serving(server: NexlaMCPServer, settings: Settings) -> Any:
    return serve_on_loopback(http_app(server, settings))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_http_two_signed_in_users_enable_toolsets_apart(
    mode: Mode, jwks_url: str, sandbox_app: Any
) -> None:
    """2025-11-25: one Mcp-Session-Id each; 2026-07-28 has no session, and the users' sign-ins
    tell them apart."""
    settings = dynamic(transport="http", oauth_issuer=ISSUER, oauth_audience=AUDIENCE,
                       oauth_jwks_url=jwks_url)  # fmt: skip
    with serving(build_server(settings, sandbox_app=sandbox_app), settings) as url:
        async with (
            http_client(url, mode, signed("alice")) as alice,
            http_client(url, mode, signed("bob")) as bob,
        ):
            await assert_enabled_for_one_client_only(alice, bob)
            listed_to = (await call_ok(alice.client, DISCOVERY_TOOL))["listed_to"]
    assert listed_to == ("user" if mode == "auto" else "session")


async def test_http_handshake_sessions_with_one_shared_token_enable_toolsets_apart(
    sandbox_app: Any,
) -> None:
    settings = dynamic(transport="http", http_token=TOKEN)
    with serving(build_server(settings, sandbox_app=sandbox_app), settings) as url:
        async with (
            http_client(url, "legacy", TOKEN) as one,
            http_client(url, "legacy", TOKEN) as other,
        ):
            await assert_enabled_for_one_client_only(one, other)


async def test_http_anonymous_2026_clients_share_what_they_enable_and_are_told_so(
    sandbox_app: Any,
) -> None:
    """No session and no sign-in: nothing tells the clients apart, so the tools are listed to
    both, and the result says so (listed_to: server)."""
    settings = dynamic(transport="http", http_token=TOKEN)
    with serving(build_server(settings, sandbox_app=sandbox_app), settings) as url:
        async with (
            http_client(url, "auto", TOKEN) as one,
            http_client(url, "auto", TOKEN) as other,
        ):
            result = await call_ok(one.client, DISCOVERY_TOOL, {"toolset": "metrics"})
            await one.wait_for_change()
            await other.wait_for_change()
            assert "get_daily_metrics" in await names(other.client)
            await assert_daily_metrics_callable(other.client)
    assert result["listed_to"] == "server"


async def test_stateless_http_lists_the_enabled_tools_at_the_next_tools_list(
    sandbox_app: Any,
) -> None:
    """Stateless handshake-era HTTP has no session and no channel for the notification: the
    client sees the tools when it lists them again, and is told who else does."""
    settings = dynamic(transport="http")
    server = build_server(settings, sandbox_app=sandbox_app)
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True)
    with serve_on_loopback(app) as url:
        async with http_client(url, "legacy", TOKEN) as one:
            result = await call_ok(one.client, DISCOVERY_TOOL, {"toolset": "metrics"})
            assert "get_daily_metrics" in await names(one.client)
            await assert_daily_metrics_callable(one.client)
    assert result["listed_to"] == "server"
