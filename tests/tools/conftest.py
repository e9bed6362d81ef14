"""The read tools against the whole stack: sandbox app -> httpx -> build_server -> MCP client.

``mcp_client`` runs every test in both protocol eras. ``sandbox`` drives the sandbox's control
API (seeded scenarios, injected faults) through the same app the server talks to, so a fault
set here is what the tools meet. Tools are called through ``nexla_mcp.server.testing``:
``call_ok`` also validates the result against the tool's output schema.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp import Client

from nexla_mcp.sandbox import create_app
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import MODES, NO_BACKOFF
from nexla_mcp.settings import Settings

SANDBOX_URL = "http://sandbox.test"
# Every API path but /token: faults here hit the tools' calls, never the login.
API_PATHS = [
    "/flows",
    "/data_sources",
    "/data_sets",
    "/data_sinks",
    "/data_credentials",
    "/transforms",
]
# One injected fault per error class a read tool can meet, with the envelope type it yields.
# 501 is a server error the client does not retry, which keeps these tests fast; the retried
# statuses are covered by a separate 503 test.
FAULTS: dict[str, dict[str, Any]] = {
    "AuthenticationError": {"token_ttl_s": 0},
    "AuthorizationError": {"error_rate": 1.0, "error_status": 403, "paths": API_PATHS},
    "RateLimitError": {"rate_limit_rate": 1.0, "retry_after_s": 0, "paths": API_PATHS},
    "ServerError": {"error_rate": 1.0, "error_status": 501, "paths": API_PATHS},
}


class Sandbox:
    """The control API of the sandbox the server under test talks to."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self._scenarios: list[dict[str, Any]] | None = None

    async def scenarios(self) -> list[dict[str, Any]]:
        if self._scenarios is None:
            reply = await self.http.get(f"{SANDBOX_URL}/_sandbox/scenarios")
            reply.raise_for_status()
            self._scenarios = reply.json()["scenarios"]
        return self._scenarios

    async def scenario(self, kind: str) -> dict[str, Any]:
        """The first seeded flow showing ``kind`` (e.g. "transform_error")."""
        return next(row for row in await self.scenarios() if row["kind"] == kind)

    async def faults(self, **config: Any) -> None:
        reply = await self.http.post(f"{SANDBOX_URL}/_sandbox/faults", json=config)
        reply.raise_for_status()


@pytest.fixture
async def sandbox_http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose transport is a freshly seeded sandbox app, in process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app())) as http:
        yield http


@pytest.fixture
def sandbox(sandbox_http: httpx.AsyncClient) -> Sandbox:
    """The sandbox's control API."""
    return Sandbox(sandbox_http)


@pytest.fixture
def toolsets() -> tuple[str, ...]:
    """The toolsets of ``mcp_client``'s server: every one, unless a test module that calls
    only its own toolset's tools narrows it. The client lists the tools on its first call,
    which builds every registered tool: for all of them that is most of a short test's time."""
    return ()


@pytest.fixture(params=MODES)
async def mcp_client(
    request: pytest.FixtureRequest, sandbox_http: httpx.AsyncClient, toolsets: tuple[str, ...]
) -> AsyncIterator[Client]:
    """An MCP client (once per protocol era) connected to a server over the sandbox; the
    server retries as in production but without waiting between attempts."""
    settings = Settings(sandbox=True, profile="all", toolsets=toolsets)
    server = build_server(settings, http_client=sandbox_http, retry_policy=NO_BACKOFF)
    async with Client(server, mode=request.param) as client:
        yield client


class OddReplies(httpx.AsyncBaseTransport):
    """The sandbox, except that requests whose path matches a rule get a canned reply: shapes
    the sandbox never sends (a gateway's garbage 200, a ``null`` page, absurdly deep JSON)."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.rules: list[tuple[re.Pattern[str], int, bytes]] = []

    def reply(self, path_pattern: str, content: bytes, status: int = 200) -> None:
        """Answer requests whose path matches ``path_pattern`` with ``content`` (JSON)."""
        self.rules.append((re.compile(path_pattern), status, content))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for pattern, status, content in self.rules:
            if pattern.search(request.url.path):
                return httpx.Response(status, content=content,
                                      headers={"content-type": "application/json"})  # fmt: skip
        return await self.inner.handle_async_request(request)


@pytest.fixture
def odd_replies() -> OddReplies:
    """A seeded sandbox behind a boundary that can be told to answer some paths oddly."""
    return OddReplies(create_app())


@pytest.fixture
async def odd_client(odd_replies: OddReplies) -> AsyncIterator[Client]:
    """An MCP client on a server whose Nexla is ``odd_replies``."""
    async with httpx.AsyncClient(transport=odd_replies) as http:
        server = build_server(Settings(sandbox=True), http_client=http, retry_policy=NO_BACKOFF)
        async with Client(server) as client:
            yield client
