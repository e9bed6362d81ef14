"""The write gate never claims more than it saw, and keeps destructive writes for a person.

Late and cancelled writes run against the sandbox served over HTTP behind a loopback proxy
that holds the write past the caller's deadline, as a slow gateway does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.serve import serve_in_thread
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, call_ok, serve_on_loopback

from .delay_proxy import DelayProxy
from .write_support import Answerer, WriteStack, audit_events, plan_and_confirm, refusal

pytestmark = pytest.mark.anyio

NODE = 9003  # a node of the ORDERS flow (9001 -> 9002 -> 9003 -> 9004), all ACTIVE
PAUSE = ("PUT", f"/flows/{NODE}/pause")
LEGACY = 9012  # a PAUSED flow, so it can be deleted
FLOW_WITH_ACCESS = 9001
# The held PUT goes on when the test releases it (once the caller has given up), never by
# itself first, however slow the machine.
HELD_S = 30.0


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    return WriteStack(tmp_path)


@pytest.fixture
def held_pause(request: pytest.FixtureRequest) -> Iterator[tuple[DelayProxy, str, str]]:
    """The sandbox over HTTP behind a proxy that holds the pause of NODE for the given seconds;
    yields (proxy, proxy URL, sandbox URL)."""
    with serve_in_thread(create_app()) as upstream:
        proxy = DelayProxy(upstream, {PAUSE: request.param})
        with serve_on_loopback(proxy) as url:  # type: ignore[arg-type]
            try:
                yield proxy, url, upstream
            finally:
                proxy.release.set()  # a failed test leaves no request held


def _server(stack: WriteStack, url: str, timeout_s: float) -> Any:
    settings = stack.settings(
        sandbox=False, service_key=DEFAULT_SERVICE_KEY, api_url=url, timeout_s=timeout_s
    )
    return build_server(settings, retry_policy=NO_BACKOFF)


async def _digest(upstream: str) -> str:
    """The sandbox's state digest, read past the proxy: equal digests mean nothing changed."""
    async with httpx.AsyncClient(base_url=upstream) as http:
        return (await http.get("/_sandbox/state")).json()["digest"]


async def _audit_until(path: Path, event: str) -> list[dict[str, Any]]:
    """The audit records once one ``event`` is among them (waits at most 15 s)."""
    with anyio.fail_after(15):
        while True:
            if path.exists():
                events = [json.loads(line) for line in path.read_text().splitlines()]
                if any(e["event"] == event for e in events):
                    return events
            await anyio.sleep(0.05)


@pytest.mark.parametrize("held_pause", [HELD_S], indirect=True)
async def test_a_write_that_lands_after_the_deadline_is_unknown_then_reads_back_applied(
    stack: WriteStack, held_pause: tuple[DelayProxy, str, str]
) -> None:
    """The gateway holds the PUT past the 3 s deadline (reads pass at once): the receipt says
    unknown (not 'not applied'); once the PUT lands, the next plan of the same change reads it
    back, says the earlier write was applied and audits the reconciliation."""
    proxy, url, upstream = held_pause
    before = await _digest(upstream)
    async with Client(_server(stack, url, timeout_s=3.0)) as client:
        _, receipt = await plan_and_confirm(client, "pause_flow", {"flow_id": NODE})
        assert receipt["status"] == "unknown", receipt
        assert "timed out" in receipt["note"] and "may still be applied" in receipt["note"]
        assert receipt["reverse_action"]["tool"] == "activate_flow"
        proxy.release.set()  # the gateway lets the PUT through, after the caller gave up
        assert await anyio.to_thread.run_sync(proxy.forwarded.wait, 10)
        assert await _digest(upstream) != before
        later = await call_ok(client, "pause_flow", {"flow_id": NODE})
    assert later["status"] == "no_change"
    assert "has been applied" in later["note"]
    events = audit_events(stack.audit_dir / "audit.jsonl")
    outcomes = [(e["event"], e.get("outcome")) for e in events]
    assert outcomes[2:] == [("execution", "ambiguous"), ("verification", "unknown"),
                            ("reconciliation", "applied"), ("plan", "no_change")]  # fmt: skip
    assert events[-2]["plan_digest"] == events[1]["plan_digest"]


@pytest.mark.parametrize("held_pause", [HELD_S], indirect=True)
async def test_a_confirm_cancelled_after_the_send_still_audits_its_outcome(
    stack: WriteStack, held_pause: tuple[DelayProxy, str, str]
) -> None:
    """The client cancels the confirm while the PUT is held: the audit log still gets the
    execution (cancelled) and a verification read back under a shield; the change lands,
    and the next plan settles it as applied."""
    proxy, url, upstream = held_pause
    audit = stack.audit_dir / "audit.jsonl"
    before = await _digest(upstream)
    async with Client(_server(stack, url, timeout_s=10.0)) as client:
        plan = await call_ok(client, "pause_flow", {"flow_id": NODE})
        confirm = {"flow_id": NODE, "confirm": True, "plan_token": plan["plan_token"]}
        scope = anyio.CancelScope()

        async def confirm_then_give_up() -> None:
            with scope:
                await client.call_tool("pause_flow", confirm)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(confirm_then_give_up)
            assert await anyio.to_thread.run_sync(proxy.received.wait, 10)
            scope.cancel()
        events = await _audit_until(audit, "verification")
        assert [(e["event"], e.get("outcome")) for e in events][1:] == [
            ("approval", "approved"),
            ("execution", "cancelled"),
            ("verification", "unknown"),
        ]
        proxy.release.set()
        assert await anyio.to_thread.run_sync(proxy.forwarded.wait, 10)
        assert await _digest(upstream) != before
        later = await call_ok(client, "pause_flow", {"flow_id": NODE})
    assert later["status"] == "no_change" and "has been applied" in later["note"]
    assert audit_events(audit)[-2]["event"] == "reconciliation"


# --- destructive writes need a person ------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        pytest.param("delete_flow", {"flow_id": LEGACY}, id="delete_flow"),
        pytest.param(
            "replace_accessors",
            {
                "resource_type": "flows",
                "resource_id": FLOW_WITH_ACCESS,
                "accessors": [{"type": "TEAM", "id": 12, "access_roles": ["collaborator"]}],
            },
            id="replace_accessors",
        ),  # fmt: skip
    ],
)
async def test_a_destructive_write_is_not_carried_by_the_plan_token_alone(
    stack: WriteStack, tool: str, arguments: dict[str, Any]
) -> None:
    """In the default confirm mode, a client that cannot ask its user gets the plan (which
    says a person must approve) but its confirm is refused and nothing is sent."""
    before = await stack.digest()
    async with stack.connect() as client:
        plan = await call_ok(client, tool, arguments)
        assert "never on the plan token alone" in plan["note"]
        confirmed = {**arguments, "confirm": True, "plan_token": plan["plan_token"]}
        assert await refusal(client, tool, confirmed) == "person_required"
    assert stack.writes() == [] and await stack.digest() == before
    assert audit_events(stack.audit_dir / "audit.jsonl")[-1]["reason"] == "person_required"


async def test_the_operator_can_let_the_token_alone_carry_destructive_writes(
    stack: WriteStack,
) -> None:
    """NEXLA_MCP_ALLOW_TOKEN_ONLY_DESTRUCTIVE restores the token-only path, and says so."""
    server = stack.server(stack.settings(allow_token_only_destructive=True))
    async with stack.connect(server) as client:
        plan, receipt = await plan_and_confirm(client, "delete_flow", {"flow_id": LEGACY})
    assert "never on the plan token alone" not in plan["note"]
    assert receipt["status"] == "applied" and receipt["approval"]["mechanism"] == "plan_token"


async def test_revoking_the_last_admin_needs_a_person_and_revoking_another_does_not(
    stack: WriteStack,
) -> None:
    """revoke_access opts in only for the change that leaves no admin besides the owner."""
    target = {"resource_type": "flows", "resource_id": FLOW_WITH_ACCESS}
    dana = {"type": "USER", "id": 57, "access_roles": ["admin"]}
    team = {"type": "TEAM", "id": 12, "access_roles": ["operator"]}
    async with stack.connect(elicitation_callback=Answerer("accept")) as person:
        await plan_and_confirm(person, "grant_access", {**target, "accessors": [dana, team]})
    async with stack.connect() as client:
        _, receipt = await plan_and_confirm(
            client, "revoke_access", {**target, "accessors": [{"type": "TEAM", "id": 12}]}
        )
        assert receipt["status"] == "applied"
        last_admin = {**target, "accessors": [{"type": "USER", "id": 57}]}
        plan = await call_ok(client, "revoke_access", last_admin)
        confirmed = {**last_admin, "confirm": True, "plan_token": plan["plan_token"]}
        assert await refusal(client, "revoke_access", confirmed) == "person_required"
    async with stack.connect(elicitation_callback=Answerer("accept")) as person:
        _, receipt = await plan_and_confirm(person, "revoke_access", last_admin)
    assert receipt["status"] == "applied" and receipt["approval"]["mechanism"] == "elicitation"


@pytest.mark.parametrize("held_pause", [HELD_S], indirect=True)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_a_write_left_unknown_on_one_replica_is_settled_by_a_plan_on_another(
    stack: WriteStack, held_pause: tuple[DelayProxy, str, str], engine: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """Replica A's confirm times out with the PUT held: unknown. The PUT lands; replica B, a
    separate server on the same state store (or A restarted), plans the same change and says
    the earlier write was applied; the reconciliation is audited once."""
    proxy, url, upstream = held_pause
    state_url = request.getfixturevalue("postgres_url") if engine == "postgresql" else None

    def replica() -> Any:
        settings = stack.settings(
            sandbox=False, service_key=DEFAULT_SERVICE_KEY, api_url=url, timeout_s=3.0,
            state_url=state_url,
        )  # fmt: skip
        return build_server(settings, retry_policy=NO_BACKOFF)

    async with Client(replica()) as a:
        _, receipt = await plan_and_confirm(a, "pause_flow", {"flow_id": NODE})
        # A stays up until the PUT lands: closing it logs its Nexla session out.
        proxy.release.set()
        assert await anyio.to_thread.run_sync(proxy.forwarded.wait, 10)
    assert receipt["status"] == "unknown", receipt
    async with Client(replica()) as b, Client(replica()) as c:
        plans = [await call_ok(client, "pause_flow", {"flow_id": NODE}) for client in (b, c)]
    assert plans[0]["status"] == "no_change" and "has been applied" in plans[0]["note"], plans[0]
    assert plans[1]["status"] == "no_change"
    assert "has been applied" not in plans[1]["note"]  # settled already
    events = [e["event"] for e in audit_events(stack.audit_dir / "audit.jsonl")]
    assert events.count("reconciliation") == 1
