"""An operation journaled on one replica is seen and taken over on another, by exactly one.

Three ``python -m nexla_mcp --transport http`` processes share one state store (one PostgreSQL
database, or one SQLite state directory) and one sandbox served on loopback. Replica A starts
a credential rotation; a latency fault holds one of its requests in flight, and A is killed
(SIGKILL) once the journal shows that step ``started``. Replicas B and C both see the
operation as interrupted, both plan its rollback, and both confirm at once: one rolls it back
(the sandbox is as it was before the rotation), the other is refused and changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY
from nexla_mcp.sandbox.serve import serve_in_thread
from nexla_mcp.server.testing import call_ok, text_of
from nexla_mcp.state import StateStore, store_for
from tests.server.test_replicas import SECRET, TOKEN, connected, process_replicas
from tests.tools.workflow_support import EXPIRED, api, credentials_of, rotation_scene
from tests.tools.write_support import WriteStack

pytestmark = pytest.mark.anyio


@dataclass
class Replicas:
    """Three replica processes on one store; ``stack`` holds the sandbox they all call."""

    stack: WriteStack
    urls: list[str]
    processes: list[Any]
    state_dir: Path
    state_url: str | None

    def store(self) -> StateStore:
        return store_for(self.state_dir, self.state_url)


@pytest.fixture(params=["postgresql", "sqlite"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replicas]:
    stack = WriteStack(tmp_path)
    state_dir = tmp_path / "state"
    state_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with ExitStack() as exits:
        api_url = exits.enter_context(serve_in_thread(stack.app))
        env = {
            **os.environ, "NEXLA_API_URL": api_url, "NEXLA_SERVICE_KEY": DEFAULT_SERVICE_KEY,
            "NEXLA_MCP_SECRET": SECRET, "NEXLA_MCP_HTTP_TOKEN": TOKEN,
            "NEXLA_MCP_STATE_DIR": str(state_dir), "NEXLA_MCP_WRITE_RATE_LIMIT": "100",
            "NEXLA_MCP_VERIFY_TIMEOUT": "2",
            **({"NEXLA_MCP_STATE_URL": state_url} if state_url else {}),
        }  # fmt: skip
        logs = [tmp_path / f"replica-{name}.log" for name in "abc"]
        started = exits.enter_context(process_replicas(env, logs, "workflows"))
        yield Replicas(
            stack, [url for url, _ in started], [p for _, p in started], state_dir, state_url
        )


async def _started_step(store: StateStore, step: str) -> str | None:
    """The id of the newest operation once its step ``step`` is journaled ``started``."""
    for record in await store.recent_operations(1):
        full = await store.operation(record.id)
        if full is not None and (step, "started") in [(s.name, s.status) for s in full.steps]:
            return record.id
    return None


async def _start_and_kill(replicas: Replicas, arguments: dict[str, Any], held: str) -> str:
    """Plan and confirm the rotation on replica A; SIGKILL A once ``held`` is in flight."""
    store = replicas.store()
    async with AsyncExitStack() as exits:
        plan = await call_ok(
            await connected(exits, replicas.urls[0]), "rotate_credential", arguments
        )
    confirmed = {**arguments, "confirm": True, "plan_token": plan["plan_token"]}

    async def doomed() -> None:
        with suppress(Exception):  # its replica dies before it answers
            async with AsyncExitStack() as exits:
                client = await connected(exits, replicas.urls[0])
                await client.call_tool("rotate_credential", confirmed)

    async with anyio.create_task_group() as group:
        group.start_soon(doomed)
        with anyio.fail_after(30):
            while (operation_id := await _started_step(store, held)) is None:
                await anyio.sleep(0.05)
        replicas.processes[0].kill()
        replicas.processes[0].wait()
    await store.close()
    return operation_id


async def _resume(client: Client, operation_id: str, plan_token: str) -> str:
    """Confirm a rollback: ``applied``, or the error type or refusal reason it met."""
    arguments = {"operation_id": operation_id, "direction": "rollback"}
    result = await client.call_tool(
        "resume_operation", {**arguments, "confirm": True, "plan_token": plan_token}
    )
    if not result.is_error:
        return str(result.structured_content["status"])  # type: ignore[index]
    error = json.loads(text_of(result))["error"]
    return str((error.get("details") or {}).get("reason") or error["type"])


async def test_an_operation_killed_on_one_replica_is_rolled_back_by_exactly_one_other(
    replicas: Replicas,
) -> None:
    stack = replicas.stack
    scene = await rotation_scene(stack)
    before = await stack.digest()
    held = scene.users[2]  # only its repoint touches this destination
    await stack.control(
        "POST", "/_sandbox/faults", json={"latency_ms": 60_000, "paths": [f"/{held[0]}/{held[1]}"]}
    )
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    operation_id = await _start_and_kill(replicas, arguments, f"repoint {held[0]}/{held[1]}")
    await stack.control("POST", "/_sandbox/faults", json={})
    assert await stack.digest() != before  # A got part of the way

    async with AsyncExitStack() as exits:
        b, c = [await connected(exits, url) for url in replicas.urls[1:]]
        plans = []
        for client in (b, c):
            [seen] = (await call_ok(client, "get_operation"))["operations"]
            assert (seen["operation_id"], seen["status"], seen["interrupted"]) == (
                operation_id, "running", True,
            )  # fmt: skip
            resume = {"operation_id": operation_id, "direction": "rollback"}
            plan = await call_ok(client, "resume_operation", resume)
            assert plan["status"] == "planned", plan
            plans.append(plan["plan_token"])
        outcomes: list[str] = []

        async def confirm(client: Client, token: str) -> None:
            outcomes.append(await _resume(client, operation_id, token))

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(confirm, b, plans[0])
                group.start_soon(confirm, c, plans[1])
        after = await call_ok(c, "get_operation", {"operation_id": operation_id})

    # The loser either read the operation after the winner took it (the state it planned
    # against changed) or read it before and lost the claim in the database.
    assert len(outcomes) == 2 and outcomes.count("applied") == 1, outcomes
    assert set(outcomes) - {"applied"} <= {"state_changed", "OperationTakenError"}, outcomes
    assert after["operations"][0]["status"] == "rolled_back"
    assert await stack.digest() == before
    async with api(stack) as nexla:
        assert set(await credentials_of(nexla, scene.users)) == {EXPIRED}
