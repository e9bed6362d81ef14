"""The server stack, bottom-up: sandbox app -> httpx ASGI client -> build_server -> MCP client.

``mcp_client`` is parametrised over both protocol eras (``auto`` negotiates 2026-07-28,
``legacy`` the 2025-11-25 handshake). Call tools through ``nexla_mcp.server.testing.call_ok``
and ``call_error``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from mcp import Client as McpClient
from mcp.types import CallToolResult
from pydantic import BaseModel

from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.testing import MODES, NO_BACKOFF
from nexla_mcp.settings import Settings
from nexla_mcp.tools._common import Client, FlowId, nexla_tool, tool_result

LIVE_API_URL = "https://acme.nexla.test/nexla-api"
LIVE_SERVICE_KEY = "svc-live-test-key-0123456789"


@pytest.fixture
def sandbox_app() -> Any:
    """A freshly seeded Nexla sandbox (Starlette app)."""
    from nexla_mcp.sandbox import create_app

    return create_app()


@pytest.fixture
async def sandbox_http(sandbox_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose transport is the sandbox app, in process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as http:
        yield http


@pytest.fixture
def settings() -> Settings:
    """Sandbox mode with every toolset and the default write policy."""
    return Settings(sandbox=True, profile="all")


@pytest.fixture
def server(settings: Settings, sandbox_http: httpx.AsyncClient) -> NexlaMCPServer:
    """The MCP server talking to the sandbox through ``sandbox_http`` (retries do not wait)."""
    return build_server(settings, http_client=sandbox_http, retry_policy=NO_BACKOFF)


@pytest.fixture(params=MODES)
async def mcp_client(
    request: pytest.FixtureRequest, server: NexlaMCPServer
) -> AsyncIterator[McpClient]:
    """An in-memory MCP client connected to ``server`` (once per protocol era)."""
    async with McpClient(server, mode=request.param) as client:
        yield client


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def live_settings() -> Callable[..., Settings]:
    """Settings for a live (non-sandbox) server at a fake API host; keyword overrides."""

    def make(**overrides: Any) -> Settings:
        return Settings(
            service_key=LIVE_SERVICE_KEY, api_url=LIVE_API_URL, **{"profile": "all", **overrides}
        )

    return make


class FakeNexla:
    """Builds httpx clients that fake the Nexla API at the HTTP boundary.

    Requests go to ``routes[(method, path)]`` (path relative to the API URL) when present;
    otherwise ``POST /token`` succeeds with ``token``, ``POST /token/logout`` succeeds and
    anything else gets Nexla's empty-bodied 404. Every request is kept in ``requests``.
    A mock transport holds no connections, so the clients need no closing.
    """

    token = "tok-live-0123456789"

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, routes: dict[tuple[str, str], Handler]) -> httpx.AsyncClient:
        prefix = httpx.URL(LIVE_API_URL).path

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            key = (request.method, request.url.path.removeprefix(prefix))
            if key in routes:
                return routes[key](request)
            if key == ("POST", "/token"):
                return httpx.Response(200, json={"access_token": self.token, "expires_in": 3600})
            if key == ("POST", "/token/logout"):
                return httpx.Response(200)
            return httpx.Response(404)

        return httpx.AsyncClient(transport=httpx.MockTransport(handle))

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        """The recorded requests for one endpoint."""
        target = httpx.URL(LIVE_API_URL).path + path
        return [r for r in self.requests if (r.method, r.url.path) == (method, target)]


@pytest.fixture
def fake_nexla() -> FakeNexla:
    """A fake Nexla API at the HTTP boundary (see ``FakeNexla``)."""
    return FakeNexla()


class FlowProbe(BaseModel):
    """Output of the ``probe_flow`` test tool."""

    flow_id: int
    name: str | None = None


def register_flow_probe(server: NexlaMCPServer) -> None:
    """Add ``probe_flow``, a test-only tool that reads one flow through the server's client."""

    @nexla_tool(
        server, name="probe_flow", title="Probe flow", read_only=True, destructive=False,
        idempotent=True,
    )  # fmt: skip
    async def probe_flow(flow_id: FlowId, client: Client) -> Annotated[CallToolResult, FlowProbe]:
        """Read one flow."""
        await client.get_flow(flow_id)
        return tool_result(FlowProbe(flow_id=flow_id), f"Flow {flow_id} exists.")

    server.toolset_of["probe_flow"] = "context"


@pytest.fixture
def add_flow_probe() -> Callable[[NexlaMCPServer], None]:
    """``register_flow_probe``, for tests that need a tool which calls the Nexla API."""
    return register_flow_probe
