"""rotate_credential against the sandbox: a plan that binds every user and flow, the happy path
across several flows, and nothing changed before confirmation."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nexla_mcp.sandbox import create_app
from nexla_mcp.server.testing import call_error, call_ok
from nexla_mcp.state.sqlite import STATE_FILE, SQLiteStore

from .workflow_support import (
    EXPIRED,
    EXPIRED_FLOW,
    ORDERS,
    api,
    credentials_of,
    flow_statuses,
    rotation_scene,
)
from .write_support import Answerer, WriteStack, plan_and_confirm, refusal

pytestmark = pytest.mark.anyio


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    return WriteStack(tmp_path)


def settings(stack: WriteStack) -> object:
    return stack.settings(state_dir=stack.audit_dir / "state", verify_timeout_s=5)


async def test_the_plan_lists_every_user_and_flow_and_changes_nothing(stack: WriteStack) -> None:
    scene = await rotation_scene(stack)
    before = await stack.digest()
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    async with stack.connect(stack.server(settings(stack))) as client:
        plan = await call_ok(client, "rotate_credential", arguments)
    assert plan["status"] == "planned" and plan["plan_token"]
    assert sorted(c["subject"].split()[0] for c in plan["changes"]) == sorted(
        f"{kind}/{ident}" for kind, ident in scene.users
    )
    state = plan["current_state"]
    assert sorted(flow["flow_id"] for flow in state["flows"]) == sorted(scene.flows)
    notes = " ".join(plan["blast_radius"]["notes"])
    assert "probe the new credential" in notes and "re-activate flow" in notes
    assert "undone in reverse" in notes
    assert await stack.digest() == before
    assert stack.writes() == []


async def test_a_rotation_moves_every_user_and_restores_every_flow_exactly(
    stack: WriteStack,
) -> None:
    """Several sources and destinations over an active, a paused and a new flow: all move to the
    new credential, active flows come back active (a paused nexset inside one stays paused),
    paused ones stay paused, and the expired flow's next run succeeds."""
    scene = await rotation_scene(stack)
    async with api(stack) as nexla:
        statuses_before = {flow: await flow_statuses(nexla, flow) for flow in scene.flows}
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    started = datetime.now(UTC).isoformat()
    async with stack.connect(stack.server(settings(stack))) as client:
        _, receipt = await plan_and_confirm(client, "rotate_credential", arguments)
        operation_id = receipt["after"]["operation"]["operation_id"]
        progress = await call_ok(client, "get_operation", {"operation_id": operation_id})
        watched_by_tool = await call_ok(
            client, "watch_flow", {"flow_id": EXPIRED_FLOW, "since": started, "timeout_s": 5}
        )
    assert receipt["status"] == "applied", receipt
    async with api(stack) as nexla:
        assert await credentials_of(nexla, scene.users) == [scene.new_credential] * 4
        statuses_after = {flow: await flow_statuses(nexla, flow) for flow in scene.flows}
    assert statuses_after == statuses_before
    verification = receipt["after"]["verification"]
    assert verification["probe"] == "ok"
    watched = {flow["flow_id"]: flow["verdict"] for flow in verification["flows"]}
    assert watched[EXPIRED_FLOW] == "recovered"
    assert watched_by_tool["status"] == "recovered"
    [operation] = progress["operations"]
    assert operation["status"] == "completed" and not operation["interrupted"]
    assert {step["status"] for step in operation["steps"]} == {"done"}


async def test_the_old_credential_is_deleted_only_by_its_own_write_with_a_person(
    stack: WriteStack,
) -> None:
    """Blocked while anything uses it; after the rotation, a person must approve the delete."""
    scene = await rotation_scene(stack)
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    person = Answerer("accept")
    async with stack.connect(stack.server(settings(stack)), elicitation_callback=person) as client:
        early = await call_ok(client, "delete_credential", {"credential_id": EXPIRED})
        await plan_and_confirm(client, "rotate_credential", arguments)
        _, receipt = await plan_and_confirm(client, "delete_credential", {"credential_id": EXPIRED})
    async with stack.connect(stack.server(settings(stack))) as client:
        plan = await call_ok(client, "delete_credential", {"credential_id": scene.new_credential})
    assert early["status"] == "blocked" and "rotate_credential" in early["blocked_by"]
    assert receipt["status"] == "applied" and "cannot be undone" in person.questions[-1]
    assert plan["status"] == "blocked"  # the new credential is in use now
    async with api(stack) as nexla:
        assert EXPIRED not in [c.id for c in (await nexla.list_credentials()).items]


async def test_a_confirmed_rotation_reports_progress_step_by_step(stack: WriteStack) -> None:
    scene = await rotation_scene(stack)
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with stack.connect(stack.server(settings(stack))) as client:
        plan = await call_ok(client, "rotate_credential", arguments)
        result = await client.call_tool(
            "rotate_credential",
            {**arguments, "confirm": True, "plan_token": plan["plan_token"]},
            progress_callback=on_progress,
        )
    assert not result.is_error
    messages = [message for _, _, message in seen]
    assert messages[0] == "probe the new credential" and messages[-1] == "done"
    assert any(str(message).startswith("repoint ") for message in messages)
    assert [progress for progress, _, _ in seen] == sorted(progress for progress, _, _ in seen)


async def test_a_flow_on_the_deny_list_refuses_the_whole_rotation(stack: WriteStack) -> None:
    """One affected flow denied is enough: nothing is planned, nothing is sent."""
    scene = await rotation_scene(stack)
    denied = stack.settings(state_dir=stack.audit_dir / "state", deny_flows=(ORDERS,))
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    async with stack.connect(stack.server(denied)) as client:
        reason = await refusal(client, "rotate_credential", arguments)
    assert reason == "not_allowed"
    assert stack.writes() == []


async def test_a_rotation_reaches_every_user_on_every_page_of_a_large_org(
    stack: WriteStack,
) -> None:
    """A generated org of 250 more flows: the most shared credential's users are spread over
    every page of sources and destinations (100 a page), and all of them move."""
    stack.app = create_app(flows=250, task_s=0)
    store = stack.app.state.sandbox.store
    uses = Counter(r.credential_id for r in [*store.sources.values(), *store.sinks.values()])
    shared, count = uses.most_common(1)[0]
    users = [("data_sources", s.id) for s in store.sources.values() if s.credential_id == shared]
    users += [("data_sinks", s.id) for s in store.sinks.values() if s.credential_id == shared]
    async with api(stack) as nexla:
        new = await nexla.create_credential(
            {
                "name": "shared-replacement",
                "credentials_type": store.credentials[shared].credentials_type,
                "credentials": {"password": "x" * 12},
            }
        )
        flows = sorted(
            {store.flow_of_node(store.table(kind)[ident].node_id).id for kind, ident in users}
        )
        statuses_before = {flow: await flow_statuses(nexla, flow) for flow in flows}
    arguments = {"credential_id": shared, "new_credential_id": new.id}
    async with stack.connect(stack.server(settings(stack))) as client:
        plan, receipt = await plan_and_confirm(client, "rotate_credential", arguments)
    assert count > 50 and len(flows) > 20
    for kind in ("data_sources", "data_sinks"):
        ids = sorted(store.table(kind))
        assert len({ids.index(ident) // 100 for k, ident in users if k == kind}) >= 2
    assert len(plan["changes"]) == count
    assert receipt["status"] == "applied"
    async with api(stack) as nexla:
        assert set(await credentials_of(nexla, users)) == {new.id}
        assert {flow: await flow_statuses(nexla, flow) for flow in flows} == statuses_before


async def test_without_a_usable_journal_no_rotation_starts(stack: WriteStack) -> None:
    """The journal is written before the first request; if it cannot be, nothing is sent.
    (Only the journal's table refuses writes, as a full disk would: the rest of the state
    store, which the plan's audit record needs, still works.)"""
    scene = await rotation_scene(stack)
    state_dir = stack.audit_dir / "state"
    store = SQLiteStore(state_dir)
    await store.open()  # creates the tables
    await store.close()
    with closing(sqlite3.connect(state_dir / STATE_FILE)) as db:
        db.execute(
            "CREATE TRIGGER full BEFORE INSERT ON operations "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    broken = stack.settings(state_dir=state_dir)
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    before = await stack.digest()
    async with stack.connect(stack.server(broken)) as client:
        plan = await call_ok(client, "rotate_credential", arguments)
        error = await call_error(
            client,
            "rotate_credential",
            {**arguments, "confirm": True, "plan_token": plan["plan_token"]},
        )
    assert error["type"] == "JournalError"
    assert await stack.digest() == before
    assert stack.writes() == []


async def test_in_shadow_mode_a_rotation_is_reported_and_nothing_is_sent(stack: WriteStack) -> None:
    """NEXLA_MCP_WRITES=shadow: the plan and confirmation as usual, the receipt lists the
    pauses, repoints and activations the rotation would send, and nothing changes or is
    journaled."""
    scene = await rotation_scene(stack)
    before = await stack.digest()
    shadow = stack.settings(state_dir=stack.audit_dir / "state", writes="shadow")
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    async with stack.connect(stack.server(shadow)) as client:
        _, receipt = await plan_and_confirm(client, "rotate_credential", arguments)
        journal = await call_ok(client, "get_operation", {})
    assert receipt["status"] == "shadow"
    sent = [f"{r['method']} {r['path']}" for r in receipt["would_send"]]
    repoints = [f"PUT /{kind}/{ident}" for kind, ident in scene.users]
    assert sorted(s for s in sent if s.count("/") == 2) == sorted(repoints)
    assert any(s.endswith("/pause") for s in sent) and any(s.endswith("/activate") for s in sent)
    assert await stack.digest() == before
    assert stack.writes() == []
    assert "operations" not in journal
