"""Shared pieces of the write-tool tests: a sandbox the servers share, a record of every
request that reaches it, and elicitation callbacks that answer like a person would.

``WriteStack`` owns one sandbox app. Servers built on it (``stack.server(...)``) talk to it
through an httpx client whose event hook records each request, so a test can prove that no
mutating request was sent; ``stack.digest()`` reads ``GET /_sandbox/state`` through a
separate client, so it proves that nothing changed without being counted itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
from mcp import Client
from mcp.types import ElicitResult

from nexla_mcp.sandbox import create_app
from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.testing import NO_BACKOFF, call_error, call_ok
from nexla_mcp.settings import Settings

__all__ = [
    "CONTROL_URL",
    "SECRET",
    "Answerer",
    "WriteStack",
    "audit_events",
    "plan_and_confirm",
    "refusal",
]

CONTROL_URL = "http://sandbox.test"
SECRET = "test-plan-secret-0123456789abcdefghijklmnop"
# Requests that read or authenticate; anything else reaching the sandbox is a write.
READ_ONLY_POSTS = ("/token", "/token/logout", "/probe/tree", "/probe/sample")

Action = Literal["accept", "decline", "cancel", "untick"]


class Answerer:
    """An elicitation callback that answers every question the same way and keeps them."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"approve": True})
        if self.action == "untick":
            return ElicitResult(action="accept", content={"approve": False})
        return ElicitResult(action=self.action)


class WriteStack:
    """One sandbox; any number of servers on it; every API request recorded."""

    def __init__(self, audit_dir: Path) -> None:
        # Async tasks (the workflows' credential probes) are done the moment they are created:
        # these tests are about what the writes do, not about waiting out the sandbox's 3 s
        # (tests/sandbox/test_platform.py covers a task's pending and running states).
        self.app = create_app(task_s=0)
        self.audit_dir = audit_dir
        self.requests: list[httpx.Request] = []

    def settings(self, **overrides: Any) -> Settings:
        """Sandbox settings with a known secret, an audit log under the test's tmp dir and a
        write limit high enough not to matter unless a test sets it."""
        options: dict[str, Any] = {
            "sandbox": True,
            "profile": "all",
            "secret": SECRET,
            "audit_path": self.audit_dir / "audit.jsonl",
            "write_rate_limit": 1000,
        }
        return Settings(**{**options, **overrides})

    async def _record(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def server(self, settings: Settings | None = None) -> NexlaMCPServer:
        """A server (a replica) on this sandbox."""
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), event_hooks={"request": [self._record]}
        )
        return build_server(settings or self.settings(), http_client=http, retry_policy=NO_BACKOFF)

    @asynccontextmanager
    async def connect(
        self, server: NexlaMCPServer | None = None, *, mode: str = "auto", **options: Any
    ) -> AsyncIterator[Client]:
        """An MCP client on ``server`` (a new default one when omitted)."""
        async with Client(server or self.server(), mode=mode, **options) as client:  # type: ignore[arg-type]
            yield client

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the sandbox's control API (never recorded)."""
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app)) as http:
            reply = await http.request(method, f"{CONTROL_URL}{path}", **kwargs)
            reply.raise_for_status()
            return reply.json()

    async def digest(self) -> str:
        """The sandbox's state digest: equal digests mean nothing changed."""
        return (await self.control("GET", "/_sandbox/state"))["digest"]

    def writes(self) -> list[str]:
        """``METHOD path`` of every recorded request that could change state."""
        return [
            f"{r.method} {r.url.path}"
            for r in self.requests
            if r.method not in ("GET", "HEAD")
            and not (r.method == "POST" and r.url.path.endswith(READ_ONLY_POSTS))
        ]


async def plan_and_confirm(
    client: Client, tool: str, arguments: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Plan, then confirm with the plan's token; returns (plan, receipt)."""
    plan = await call_ok(client, tool, arguments)
    assert plan["status"] == "planned", plan
    receipt = await call_ok(
        client, tool, {**arguments, "confirm": True, "plan_token": plan["plan_token"]}
    )
    return plan, receipt


async def refusal(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Call a write that must be refused; return the refusal reason."""
    error = await call_error(client, tool, arguments)
    assert error["type"] == "WriteRefusedError", error
    return error["details"]["reason"]


def audit_events(path: Path) -> list[dict[str, Any]]:
    """The audit log's records, in order."""
    return [json.loads(line) for line in path.read_text().splitlines()]
