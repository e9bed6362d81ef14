"""Plan -> confirm -> elicitation over the real transports, not only the in-memory client.

Streamable HTTP: uvicorn on a loopback socket with bearer auth, the SDK's HTTP client in both
protocol eras (2026-07-28 carries the question in an ``InputRequiredResult`` and seals the
round in ``requestState``; 2025-11-25 pushes ``elicitation/create`` down the session's SSE
stream). stdio: ``python -m nexla_mcp --sandbox`` as a subprocess, the SDK's stdio client in
both eras. Each connection answers two questions: accept on one healthy flow (applied, the
flow reads back PAUSED), decline on another (refused, the flow untouched; over HTTP the
sandbox digest too). Two HTTP replicas behind a non-sticky balancer show that a 2026-07-28
answer round served by the other replica is accepted (the request-state key derives from
``NEXLA_MCP_SECRET``). No case is skipped: every transport and era here supports elicitation.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult

from nexla_mcp.server.app import build_server
from nexla_mcp.server.http import MCP_PATH, http_app
from nexla_mcp.server.testing import MODES, call_error, call_ok, serve_on_loopback
from nexla_mcp.settings import Settings

pytestmark = pytest.mark.anyio

TOKEN = "write-transport-token-0123456789"
SECRET = "write-transport-secret-0123456789abcdef"
ACCEPTED_FLOW, DECLINED_FLOW = 9001, 9005  # both healthy (ACTIVE) in the seeded sandbox
ERAS = {"auto": "2026-07-28", "legacy": "2025-11-25"}
SERVE = [sys.executable, "-m", "nexla_mcp", "--sandbox", "--toolsets", "flows,control"]


class Person:
    """An elicitation callback that gives the scripted answers in order and keeps the questions."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        action = self.answers.pop(0)
        if action == "accept":
            return ElicitResult(action="accept", content={"approve": True})
        return ElicitResult(action=action)  # type: ignore[arg-type]


async def flow_status(client: Client, flow_id: int) -> str:
    return (await call_ok(client, "get_flow", {"flow_id": flow_id}))["status"]


async def confirm(client: Client, flow_id: int) -> dict[str, Any]:
    """Plan ``pause_flow`` on a flow; return the arguments that confirm exactly that plan."""
    plan = await call_ok(client, "pause_flow", {"flow_id": flow_id})
    assert plan["status"] == "planned"
    return {"flow_id": flow_id, "confirm": True, "plan_token": plan["plan_token"]}


async def accept_then_decline(
    client: Client, person: Person, digest: Callable[[], Awaitable[str]] | None = None
) -> None:
    """The accepted pause is applied and reads back PAUSED; the declined one changes nothing
    (and, when ``digest`` reads the sandbox state, leaves it exactly as it was)."""
    receipt = await call_ok(client, "pause_flow", await confirm(client, ACCEPTED_FLOW))
    assert receipt["status"] == "applied"
    assert receipt["approval"] == {"mechanism": "elicitation", "answer": "accept"}
    assert await flow_status(client, ACCEPTED_FLOW) == "PAUSED"

    arguments = await confirm(client, DECLINED_FLOW)
    before = await digest() if digest else None
    error = await call_error(client, "pause_flow", arguments)
    assert (error["type"], error["details"]["reason"]) == ("WriteRefusedError", "declined")
    assert await flow_status(client, DECLINED_FLOW) == "ACTIVE"
    if digest:
        assert await digest() == before

    assert len(person.questions) == 2, "one question per confirmed call, none for plans"
    assert all("Undo: activate_flow" in q for q in person.questions)
    assert person.answers == []


def audit_trail(path: Path) -> list[tuple[str, str | None]]:
    """Each audit event with the person's answer, when it records one."""
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [(e["event"], (e.get("approval") or {}).get("answer")) for e in events]


AUDITED = [
    ("plan", None), ("approval", "accept"), ("execution", None), ("verification", None),
    ("plan", None), ("decline", "decline"),
]  # fmt: skip


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    """Where the server under test writes its audit log."""
    return tmp_path / "audit.jsonl"


async def sandbox_digest(sandbox_app: Any) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as http:
        return (await http.get("http://sandbox.test/_sandbox/state")).json()["digest"]


@contextmanager
def serving(sandbox_app: Any, audit_path: Path) -> Iterator[str]:
    """A sandbox-backed server with writes, served by uvicorn on loopback in a thread; its URL.

    Every server started here shares ``SECRET`` (as replicas must) and ``sandbox_app`` (the
    Nexla org they all talk to).
    """
    settings = Settings(
        sandbox=True, transport="http", http_token=TOKEN, toolsets="flows,control",
        secret=SECRET, audit_path=audit_path,
    )  # type: ignore[arg-type]  # fmt: skip
    server = build_server(settings, sandbox_app=sandbox_app)
    with serve_on_loopback(http_app(server, settings)) as url:
        yield f"{url}{MCP_PATH}"


@pytest.fixture
def served_url(sandbox_app: Any, audit_path: Path) -> Iterator[str]:
    """One served server (see ``serving``)."""
    with serving(sandbox_app, audit_path) as url:
        yield url


@pytest.mark.parametrize("mode", MODES)
async def test_http_elicitation_applies_an_accepted_pause_and_refuses_a_declined_one(
    mode: Any, served_url: str, sandbox_app: Any, audit_path: Path
) -> None:
    """Over a real socket with the bearer token, in both eras: accept applies, decline does not,
    and the sandbox state after the decline is exactly the state before it."""
    person = Person("accept", "decline")
    with anyio.fail_after(10):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            transport = streamable_http_client(served_url, http_client=http)
            async with Client(transport, mode=mode, elicitation_callback=person) as client:
                assert client.protocol_version == ERAS[mode]
                await accept_then_decline(client, person, lambda: sandbox_digest(sandbox_app))
    assert audit_trail(audit_path) == AUDITED


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_elicitation_applies_an_accepted_pause_and_refuses_a_declined_one(
    mode: Any, audit_path: Path
) -> None:
    """``python -m nexla_mcp --sandbox`` over stdio, in both eras: the same two answers, and the
    subprocess's audit log records the person's answers."""
    env = {**os.environ, "NEXLA_MCP_AUDIT_LOG": str(audit_path)}
    server = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=env)
    person = Person("accept", "decline")
    with anyio.fail_after(20):
        async with Client(server, mode=mode, elicitation_callback=person) as client:
            assert client.protocol_version == ERAS[mode]
            await accept_then_decline(client, person)
    assert audit_trail(audit_path) == AUDITED


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without sticky routing: each request goes to the next replica's port.

    ``calls`` keeps, for every ``tools/call``, the port that served it and whether it was an
    answer round (it carries the ``requestState`` the previous round returned).
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.sent = 0
        self.calls: list[tuple[int, bool]] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[self.sent % len(self.ports)]
        self.sent += 1
        message = json.loads(request.content) if request.method == "POST" else {}
        if message.get("method") == "tools/call":
            self.calls.append((port, "requestState" in message["params"]))
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_http_modern_era_answer_round_on_another_replica_is_applied(
    sandbox_app: Any, tmp_path: Path
) -> None:
    """2026-07-28 without sticky routing: the question goes out from one replica and the answer
    round lands on the other, which unseals the request state under the shared secret and
    applies the accepted pause."""
    person = Person("accept")
    with (
        serving(sandbox_app, tmp_path / "a.jsonl") as first,
        serving(sandbox_app, tmp_path / "b.jsonl") as second,
        anyio.fail_after(10),
    ):
        ports = [httpx2.URL(url).port or 0 for url in (first, second)]
        balancer = RoundRobin(ports)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient(transport=balancer, headers=headers) as http:
            transport = streamable_http_client(first, http_client=http)
            async with Client(transport, mode="auto", elicitation_callback=person) as client:
                assert client.protocol_version == ERAS["auto"]
                arguments = await confirm(client, ACCEPTED_FLOW)
                balancer.calls.clear()
                receipt = await call_ok(client, "pause_flow", arguments)
                assert await flow_status(client, ACCEPTED_FLOW) == "PAUSED"
    assert receipt["status"] == "applied"
    assert receipt["approval"] == {"mechanism": "elicitation", "answer": "accept"}
    asked, answered = balancer.calls[:2]
    assert (asked[1], answered[1]) == (False, True)
    assert asked[0] != answered[0], "the answer round was served by the other replica"
