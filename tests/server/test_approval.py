"""Asking the human: elicitation accept / decline / cancel in both protocol eras, and the
``human`` policy that refuses clients that cannot ask."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import AcceptedElicitation, CancelledElicitation, DeclinedElicitation
from mcp.types import ElicitResult

from nexla_mcp.server.app import build_server
from nexla_mcp.server.approval import CLIENT_CANNOT_ASK, ApprovalForm, NotAsked, decide
from nexla_mcp.server.testing import MODES, call_error, call_ok
from nexla_mcp.settings import Settings

pytestmark = pytest.mark.anyio

SECRET = "approval-test-secret-0123456789abcdefghij"
PAUSE = {"flow_id": 9001}


class Person:
    """An elicitation callback: answers every question with ``action`` and keeps them."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"approve": True})
        if self.action == "untick":
            return ElicitResult(action="accept", content={"approve": False})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    """Where this test's server writes its audit log."""
    return tmp_path / "audit.jsonl"


@pytest.fixture
def connect(sandbox_http: httpx.AsyncClient, audit_path: Path) -> Callable[..., Any]:
    """Connect an MCP client to a new server on the shared sandbox (policy keyword)."""

    @asynccontextmanager
    async def open_client(
        mode: Any, writes: str = "confirm", server: Any = None, **options: Any
    ) -> AsyncIterator[Client]:
        settings = Settings(
            sandbox=True, profile="all", writes=writes, secret=SECRET, audit_path=audit_path
        )  # type: ignore[arg-type]
        server = server or build_server(settings, http_client=sandbox_http)
        async with Client(server, mode=mode, **options) as client:
            yield client

    return open_client


@pytest.fixture
def digest(sandbox_app: Any) -> Callable[[], Any]:
    """Read the sandbox's state digest through its control API."""

    async def read() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as http:
            return (await http.get("http://sandbox.test/_sandbox/state")).json()["digest"]

    return read


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("mode", MODES)
async def test_a_person_who_accepts_lets_the_planned_write_through(
    mode: Any, connect: Any, digest: Any, audit_path: Path
) -> None:
    """The question shows the change and the undo; accept applies it; the audit names who."""
    person = Person("accept")
    async with connect(mode, elicitation_callback=person) as client:
        plan = await call_ok(client, "pause_flow", PAUSE)
        assert person.questions == []
        before = await digest()
        receipt = await call_ok(
            client, "pause_flow", {**PAUSE, "confirm": True, "plan_token": plan["plan_token"]}
        )
    assert receipt["status"] == "applied"
    assert receipt["approval"] == {"mechanism": "elicitation", "answer": "accept"}
    assert await digest() != before
    assert len(person.questions) == 1
    assert plan["change"] in person.questions[0] and "Undo: activate_flow" in person.questions[0]
    approval = next(e for e in events(audit_path) if e["event"] == "approval")
    assert approval["approval"] == {"mechanism": "elicitation", "answer": "accept"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("answer", "reason"), [("decline", "declined"), ("cancel", "cancelled"), ("untick", "declined")]
)
async def test_a_person_who_declines_or_cancels_changes_nothing(
    mode: Any, answer: str, reason: str, connect: Any, digest: Any, audit_path: Path
) -> None:
    """Decline, cancel or an unticked box: refused, the sandbox untouched, the answer audited."""
    person = Person(answer)
    async with connect(mode, elicitation_callback=person) as client:
        plan = await call_ok(client, "pause_flow", PAUSE)
        before = await digest()
        error = await call_error(
            client, "pause_flow", {**PAUSE, "confirm": True, "plan_token": plan["plan_token"]}
        )
    assert (error["type"], error["details"]["reason"]) == ("WriteRefusedError", reason)
    assert "confirm" not in error["hint"] and "plan_token" not in error["hint"]
    assert await digest() == before
    assert len(person.questions) == 1
    assert [e["event"] for e in events(audit_path)] == ["plan", "decline"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_declined_plan_stays_dead_even_for_a_client_that_would_accept(
    mode: Any, connect: Any, digest: Any, sandbox_http: httpx.AsyncClient, audit_path: Path
) -> None:
    """After a decline the token is used up: the same server refuses it as replayed."""
    server = build_server(
        Settings(sandbox=True, profile="all", secret=SECRET, audit_path=audit_path),
        http_client=sandbox_http,
    )
    async with connect(mode, server=server, elicitation_callback=Person("decline")) as client:
        plan = await call_ok(client, "pause_flow", PAUSE)
        confirmed = {**PAUSE, "confirm": True, "plan_token": plan["plan_token"]}
        await call_error(client, "pause_flow", confirmed)
    before = await digest()
    async with connect(mode, server=server, elicitation_callback=Person("accept")) as client:
        error = await call_error(client, "pause_flow", confirmed)
    assert error["details"]["reason"] == "replayed"
    assert await digest() == before


@pytest.mark.parametrize("mode", MODES)
async def test_human_mode_refuses_a_client_that_cannot_ask(
    mode: Any, connect: Any, digest: Any, audit_path: Path
) -> None:
    """Without an elicitation callback, human mode refuses clearly, changes nothing, and the
    audit records a refusal (no one declined: no one was asked)."""
    async with connect(mode, writes="human") as client:
        plan = await call_ok(client, "pause_flow", PAUSE)
        before = await digest()
        error = await call_error(
            client, "pause_flow", {**PAUSE, "confirm": True, "plan_token": plan["plan_token"]}
        )
    assert error["details"]["reason"] == "human_required"
    assert "cannot show" in error["message"]
    assert await digest() == before
    assert [(e["event"], e.get("reason")) for e in events(audit_path)] == [
        ("plan", None), ("refusal", "human_required")
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
async def test_human_mode_applies_with_a_person_s_accept(mode: Any, connect: Any) -> None:
    """human mode is confirm mode with the person's answer required, not a dead end."""
    async with connect(mode, writes="human", elicitation_callback=Person("accept")) as client:
        plan = await call_ok(client, "pause_flow", PAUSE)
        receipt = await call_ok(
            client, "pause_flow", {**PAUSE, "confirm": True, "plan_token": plan["plan_token"]}
        )
    assert receipt["status"] == "applied"


@pytest.mark.parametrize("mode", MODES)
async def test_confirm_mode_without_elicitation_applies_on_the_verified_token(
    mode: Any, connect: Any
) -> None:
    """A client that cannot ask still writes in confirm mode, and the receipt says how."""
    async with connect(mode) as client:
        plan = await call_ok(client, "pause_flow", PAUSE)
        receipt = await call_ok(
            client, "pause_flow", {**PAUSE, "confirm": True, "plan_token": plan["plan_token"]}
        )
    assert receipt["approval"] == {"mechanism": "plan_token", "answer": "confirmed"}


@pytest.mark.parametrize("mode", MODES)
async def test_no_one_is_asked_about_a_token_that_fails_its_checks(
    mode: Any, connect: Any, digest: Any
) -> None:
    """A forged token is refused before the person is bothered."""
    person = Person("accept")
    async with connect(mode, elicitation_callback=person) as client:
        before = await digest()
        error = await call_error(
            client, "pause_flow", {**PAUSE, "confirm": True, "plan_token": "approved-by-admin"}
        )
    assert error["details"]["reason"] == "invalid"
    assert person.questions == []
    assert await digest() == before


def test_decide_approves_only_a_person_s_accept_or_a_client_that_cannot_ask() -> None:
    """Every other outcome, including a question that was never sent, approves nothing."""
    accepted = AcceptedElicitation[Any].model_construct
    assert decide(accepted(data=ApprovalForm(approve=True)), "human").approved
    assert decide(accepted(data=NotAsked(CLIENT_CANNOT_ASK)), "confirm").approved
    refused = {
        "decline": decide(DeclinedElicitation(), "confirm"),
        "cancel": decide(CancelledElicitation(), "confirm"),
        "untick": decide(accepted(data=ApprovalForm(approve=False)), "confirm"),
        "human without a prompt": decide(accepted(data=NotAsked(CLIENT_CANNOT_ASK)), "human"),
        "checks failed": decide(accepted(data=NotAsked("checks_failed")), "confirm"),
        "anything else": decide(accepted(data={"approve": True}), "confirm"),
    }
    assert {name: d.approved for name, d in refused.items()} == dict.fromkeys(refused, False)
