"""Replicas behind a balancer without sticky routing: one client's requests go to three HTTP
replicas in turn (each request to the next), the replicas sharing ``NEXLA_MCP_SECRET`` and a
state store: a SQLite state directory, or one PostgreSQL database (``NEXLA_MCP_STATE_URL``).
The 2026-07-28 era is sessionless, and the 2025-11-25 handshake era is too with
``NEXLA_MCP_HTTP_STATELESS``: a plan made on one replica is confirmed on another, once, in one
audit chain, on either engine. A 2025-era session without that setting lives in one replica's
memory, and the next replica does not know it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from nexla_mcp.server.app import build_server
from nexla_mcp.server.audit import ChainKey, verify_audit_store
from nexla_mcp.server.http import MCP_PATH, http_app
from nexla_mcp.server.testing import call_error, call_ok, serve_on_loopback
from nexla_mcp.settings import Settings
from nexla_mcp.state import store_for

pytestmark = pytest.mark.anyio

TOKEN = "non-sticky-token-0123456789abcdef"
SECRET = "non-sticky-secret-0123456789abcdefghij"
FLOW = 9001


class Balancer(httpx2.AsyncBaseTransport):
    """A load balancer without sticky routing: each request goes to the next replica's port,
    tool calls taking turns among themselves (so that consecutive calls are known to land on
    different replicas) and every other request likewise. ``calls`` keeps each tool call's
    port."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turns = {"tools/call": 0, "other": 0}
        self.calls: list[int] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        message = json.loads(request.content) if request.method == "POST" else {}
        kind = "tools/call" if message.get("method") == "tools/call" else "other"
        port = self.ports[self.turns[kind] % len(self.ports)]
        self.turns[kind] += 1
        if kind == "tools/call":
            self.calls.append(port)
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class Store:
    """Where the replicas keep their state: ``url`` None is SQLite in ``state_dir``."""

    state_dir: Path
    url: str | None = None


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The shared state store, on each engine in turn."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Store(tmp_path, url)


@contextmanager
def replicas(count: int, sandbox_app: Any, store: Store, *, stateless: bool) -> Iterator[Balancer]:
    """``count`` replicas on loopback sharing the secret, the state store and one Nexla org
    (the sandbox); the balancer in front of them."""
    settings = Settings(
        sandbox=True, transport="http", http_token=TOKEN, toolsets="flows,control",
        secret=SECRET, state_dir=store.state_dir, state_url=store.url, http_stateless=stateless,
    )  # type: ignore[arg-type]  # fmt: skip
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                serve_on_loopback(
                    http_app(build_server(settings, sandbox_app=sandbox_app), settings)
                )
            )
            for _ in range(count)
        ]
        yield Balancer([httpx2.URL(url).port or 0 for url in urls])


@asynccontextmanager
async def through(balancer: Balancer, mode: Any) -> AsyncIterator[Client]:
    """An MCP client whose every HTTP request goes through ``balancer``."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(transport=balancer, headers=headers) as http:
        url = f"http://127.0.0.1:{balancer.ports[0]}{MCP_PATH}"
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


@pytest.mark.parametrize(
    ("mode", "stateless", "era"),
    [
        pytest.param("auto", False, "2026-07-28", id="2026-07-28"),
        pytest.param("legacy", True, "2025-11-25", id="2025-11-25-stateless"),
    ],
)
async def test_a_plan_made_on_one_replica_is_confirmed_on_another_once(
    sandbox_app: Any, store: Store, mode: Any, stateless: bool, era: str
) -> None:
    """Plan, confirm and a second confirmation each land on a different replica: the receipt
    is `applied`, the repeat is refused as `replayed` (the used token is in the shared store),
    the flow reads back PAUSED, and the replicas' audit records form one chain."""
    with replicas(3, sandbox_app, store, stateless=stateless) as balancer, anyio.fail_after(30):
        async with through(balancer, mode) as client:
            assert client.protocol_version == era
            plan = await call_ok(client, "pause_flow", {"flow_id": FLOW})
            confirm = {"flow_id": FLOW, "confirm": True, "plan_token": plan["plan_token"]}
            receipt = await call_ok(client, "pause_flow", confirm)
            repeat = await call_error(client, "pause_flow", confirm)
            status = (await call_ok(client, "get_flow", {"flow_id": FLOW}))["status"]
    assert receipt["status"] == "applied"
    assert receipt["approval"]["mechanism"] == "plan_token"  # the client declared no elicitation
    assert repeat["details"]["reason"] == "replayed"
    assert status == "PAUSED"
    assert len(set(balancer.calls[:3])) == 3, "plan, confirmation and repeat: three replicas"
    shared = store_for(store.state_dir, store.url)
    check = await verify_audit_store(shared, ChainKey(SECRET))
    events = [json.loads(row.record)["event"] for row in await shared.audit_rows()]
    await shared.close()
    assert check.ok and check.records == len(events)
    assert events[:4] == ["plan", "approval", "execution", "verification"]
    assert events[-1] == "refusal"
    if store.url is not None:
        assert not (store.state_dir / "state.db").exists(), "the state is in PostgreSQL only"


async def test_a_2025_era_session_needs_sticky_routing_without_the_stateless_setting(
    sandbox_app: Any, tmp_path: Path
) -> None:
    """The handshake creates the session on one replica; the next request carries its
    ``Mcp-Session-Id`` to another, which answers 404 (session not found): the client fails."""
    sqlite = Store(tmp_path)
    with replicas(2, sandbox_app, sqlite, stateless=False) as balancer, anyio.fail_after(30):
        with pytest.raises(ExceptionGroup) as raised:
            async with through(balancer, "legacy") as client:
                await client.call_tool("get_flow", {"flow_id": FLOW})
    assert raised.group_contains(MCPError, match="Session not found")
