"""A rotation whose server process is killed (SIGKILL) between two steps, then restarted.

The sandbox is served over loopback HTTP so it outlives the server; the server is the real
stdio process (``python -m nexla_mcp``) pointed at it with a service key. A latency fault
holds one repoint request in flight; once the journal shows that step ``started``, the
process is killed. A new process sees the operation as interrupted, and ``resume_operation``
either rolls it back (GET /_sandbox/state equals its value before the rotation) or finishes
it (every user on the new credential, every flow's statuses as before).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from mcp import Client, StdioServerParameters

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY
from nexla_mcp.sandbox.serve import serve_in_thread
from nexla_mcp.server.testing import call_ok
from nexla_mcp.state.sqlite import STATE_FILE

from .workflow_support import EXPIRED, api, credentials_of, flow_statuses, rotation_scene
from .write_support import WriteStack

pytestmark = pytest.mark.anyio

SERVE = [sys.executable, "-m", "nexla_mcp", "--toolsets", "workflows"]


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    return WriteStack(tmp_path)


@pytest.fixture
def sandbox_url(stack: WriteStack) -> Iterator[str]:
    with serve_in_thread(stack.app) as url:
        yield url


def server_env(stack: WriteStack, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "NEXLA_API_URL": url,
        "NEXLA_SERVICE_KEY": DEFAULT_SERVICE_KEY,
        "NEXLA_MCP_STATE_DIR": str(stack.audit_dir / "state"),
        "NEXLA_MCP_AUDIT_LOG": str(stack.audit_dir / "audit.jsonl"),
        "NEXLA_MCP_VERIFY_TIMEOUT": "2",
        "NEXLA_MCP_WRITE_RATE_LIMIT": "100",
    }


def rpc(id_: int, method: str, params: dict[str, Any]) -> bytes:
    return (
        json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}) + "\n"
    ).encode()


async def reply(lines: TextReceiveStream, buffer: list[str]) -> dict[str, Any]:
    while "\n" not in buffer[0]:
        buffer[0] += await lines.receive()
    line, buffer[0] = buffer[0].split("\n", 1)
    return json.loads(line)


def journal_steps(stack: WriteStack) -> list[tuple[str, str]]:
    path = stack.audit_dir / "state" / STATE_FILE
    if not path.exists():
        return []
    connection = sqlite3.connect(path)
    try:
        return list(connection.execute("SELECT name, status FROM operation_steps ORDER BY seq"))
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


async def start_and_kill(
    stack: WriteStack, url: str, arguments: dict[str, Any], held_step: str
) -> None:
    """Plan and confirm in one server process; SIGKILL it once ``held_step`` is in flight."""
    async with await anyio.open_process(SERVE, env=server_env(stack, url)) as process:
        assert process.stdin and process.stdout
        lines, buffer = TextReceiveStream(process.stdout), [""]
        await process.stdin.send(
            rpc(
                1,
                "initialize",
                {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "crash-test", "version": "0"},
                },
            )
        )
        await reply(lines, buffer)
        await process.stdin.send(
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
            + rpc(2, "tools/call", {"name": "rotate_credential", "arguments": arguments})
        )
        plan = (await reply(lines, buffer))["result"]["structuredContent"]
        assert plan["status"] == "planned", plan
        confirmed = {**arguments, "confirm": True, "plan_token": plan["plan_token"]}
        await process.stdin.send(
            rpc(3, "tools/call", {"name": "rotate_credential", "arguments": confirmed})
        )
        with anyio.fail_after(20):
            while (held_step, "started") not in journal_steps(stack):
                await anyio.sleep(0.05)
        process.kill()
        await process.wait()


@pytest.mark.parametrize("direction", ["rollback", "finish"])
async def test_a_killed_rotation_is_resumed_by_a_new_process(
    stack: WriteStack, sandbox_url: str, direction: str
) -> None:
    scene = await rotation_scene(stack)
    held = scene.users[2]  # the paused inventory flow's destination: only its repoint hits it
    before = await stack.digest()
    async with api(stack) as nexla:
        statuses_before = {flow: await flow_statuses(nexla, flow) for flow in scene.flows}
    await stack.control(
        "POST", "/_sandbox/faults", json={"latency_ms": 60_000, "paths": [f"/{held[0]}/{held[1]}"]}
    )
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    await start_and_kill(stack, sandbox_url, arguments, f"repoint {held[0]}/{held[1]}")
    await stack.control("POST", "/_sandbox/faults", json={})

    restarted = StdioServerParameters(
        command=SERVE[0], args=SERVE[1:], env=server_env(stack, sandbox_url)
    )
    with anyio.fail_after(60):
        async with Client(restarted) as client:
            [operation] = (await call_ok(client, "get_operation"))["operations"]
            assert operation["status"] == "running" and operation["interrupted"] is True
            resume = {"operation_id": operation["operation_id"], "direction": direction}
            plan = await call_ok(client, "resume_operation", resume)
            assert plan["status"] == "planned", plan
            receipt = await call_ok(
                client,
                "resume_operation",
                {**resume, "confirm": True, "plan_token": plan["plan_token"]},
            )
            after = await call_ok(
                client, "get_operation", {"operation_id": operation["operation_id"]}
            )
    assert receipt["status"] == "applied", receipt
    async with api(stack) as nexla:
        users_now = await credentials_of(nexla, scene.users)
        statuses_after = {flow: await flow_statuses(nexla, flow) for flow in scene.flows}
    if direction == "rollback":
        assert after["operations"][0]["status"] == "rolled_back"
        assert await stack.digest() == before
        assert set(users_now) == {EXPIRED}
    else:
        assert after["operations"][0]["status"] == "completed"
        assert users_now == [scene.new_credential] * len(scene.users)
        assert statuses_after == statuses_before
