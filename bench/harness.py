"""What every benchmark shares: an in-process sandbox behind a recording transport, the MCP
server and a direct ``NexlaClient`` on top of it, token counting and percentiles.

Everything stays in the process (``httpx.ASGITransport``) or on loopback, and the sandbox is
seeded deterministically, so two runs measure the same work.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from mcp import Client

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.server.app import SANDBOX_API_URL, build_server
from nexla_mcp.server.testing import billed_tokens
from nexla_mcp.server.testing import o200k_tokens as tokens
from nexla_mcp.settings import Settings

__all__ = [
    "Call",
    "Recorder",
    "Stack",
    "billed_tokens",
    "critical_path",
    "percentile",
    "peak_in_flight",
    "stack",
    "tokens",
]


@dataclass(frozen=True)
class Call:
    """One upstream request: its path, when it started and ended, and the JSON it returned."""

    method: str
    path: str
    start: float
    end: float
    body: Any = None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Recorder(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that records every Nexla API request made through it.

    Token exchanges and the sandbox's control API are not Nexla calls a tool makes on purpose,
    so ``api_calls`` leaves them out. ``keep_bodies`` also keeps each JSON response.
    """

    inner: httpx.AsyncBaseTransport
    keep_bodies: bool = False
    calls: list[Call] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        body = None
        if self.keep_bodies:
            content = await response.aread()
            body = json.loads(content) if content else None
            response = httpx.Response(
                response.status_code, headers=response.headers, content=content
            )
        self.calls.append(Call(request.method, request.url.path, start, time.perf_counter(), body))
        return response

    def api_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.path.startswith(("/token", "/_sandbox"))]


@dataclass
class Stack:
    """A sandbox, the HTTP client over it, and the two ways to call it."""

    recorder: Recorder
    http: httpx.AsyncClient
    mcp: Client
    direct: NexlaClient

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sandbox's control API (``/_sandbox/...``)."""
        reply = await self.http.request(method, f"{SANDBOX_API_URL}/_sandbox/{path}", json=body)
        reply.raise_for_status()
        return reply.json()

    async def latency(self, milliseconds: int) -> None:
        """Every Nexla API request from now on takes at least ``milliseconds``."""
        await self.control("POST", "faults", {"latency_ms": milliseconds} if milliseconds else {})


@asynccontextmanager
async def stack(
    *, flows: int | None = None, mode: str = "auto", keep_bodies: bool = False,
    upstream: type[httpx.AsyncBaseTransport] | None = None,
) -> AsyncIterator[Stack]:  # fmt: skip
    """A fresh sandbox (plus ``flows`` generated flows) with an MCP client (``mode``: ``auto``
    is 2026-07-28, ``legacy`` the 2025-11-25 handshake) and a direct client over the same
    recorded transport; both have exchanged their service key for a token already.
    ``upstream`` wraps the sandbox's transport (to play a Nexla that behaves differently)."""
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(flows=flows))
    if upstream is not None:
        transport = upstream(transport)  # type: ignore[call-arg]
    recorder = Recorder(transport, keep_bodies)
    async with (
        httpx.AsyncClient(transport=recorder, timeout=120) as http,
        NexlaClient(
            api_url=SANDBOX_API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http
        ) as direct,
        Client(
            build_server(Settings(sandbox=True, profile="all", timeout_s=120), http_client=http),
            mode=mode,
        ) as mcp,
    ):
        await direct.list_flows(page=1, per_page=1)
        await mcp.call_tool("list_credentials", {"limit": 1})
        recorder.calls.clear()
        yield Stack(recorder, http, mcp, direct)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def peak_in_flight(calls: list[Call]) -> int:
    """The most calls that were running at the same moment."""
    events = sorted([(c.start, 1) for c in calls] + [(c.end, -1) for c in calls])
    level = top = 0
    for _, step in events:
        level += step
        top = max(top, level)
    return top


def critical_path(calls: list[Call]) -> tuple[int, float]:
    """The chain of calls, each starting after the previous one ended, that took longest in
    total: how many calls it holds and its seconds. No schedule of the same calls that keeps
    their order of dependence can finish faster than that."""
    ordered = sorted(calls, key=lambda c: c.start)
    best: list[tuple[float, int]] = []
    for i, call in enumerate(ordered):
        before = max((best[j] for j in range(i) if ordered[j].end <= call.start), default=(0, 0))
        best.append((before[0] + call.seconds, before[1] + 1))
    seconds, length = max(best, default=(0.0, 0))
    return length, seconds
