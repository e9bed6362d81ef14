"""Replicas sharing one state store, over real sockets: a plan confirmed 200 times at once
across them is applied exactly once, the write-rate limit holds for all of them together, and
they append to one audit chain that `nexla-mcp audit verify` checks and that detects edited,
deleted and cut-off rows.

Two set-ups: three HTTP replicas (uvicorn in threads) on one PostgreSQL database, and two
``python -m nexla_mcp --transport http`` processes sharing one SQLite state directory. Both
talk to one sandbox served on loopback, which counts the mutating requests it receives.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Receive, Scope, Send

from nexla_mcp.cli import main as cli_main
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.serve import serve_in_thread
from nexla_mcp.server.app import build_server
from nexla_mcp.server.audit import ChainKey, verify_audit_store
from nexla_mcp.server.http import MCP_PATH, http_app
from nexla_mcp.server.testing import call_ok, serve_on_loopback, text_of
from nexla_mcp.settings import Settings
from nexla_mcp.state import StateStore, store_for
from tests.ports import free_port

pytestmark = pytest.mark.anyio

SECRET = "replica-test-secret-0123456789abcdefgh"
TOKEN = "replica-test-token-0123456789"
RATE_LIMIT = 3
ACTIVE_FLOWS = (9001, 9005, 9008, 9015, 9021, 9025)


class CountingSandbox:
    """The sandbox app, keeping ``METHOD path`` of every request that could change state."""

    def __init__(self) -> None:
        self.app: ASGIApp = create_app()
        self.writes: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            if not scope["path"].endswith(("/token", "/token/logout")):
                self.writes.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@dataclass
class Cluster:
    """Replicas on one store and one sandbox; ``env`` configures `nexla-mcp audit` for it."""

    urls: list[str]
    sandbox: CountingSandbox
    env: dict[str, str]
    state_dir: Path
    state_url: str | None

    def store(self) -> StateStore:
        return store_for(self.state_dir, self.state_url)

    def sql(self, statement: str) -> None:
        """Run ``statement`` on the store's database (tables named without the PG prefix)."""
        if self.state_url is None:
            with sqlite3.connect(self.state_dir / "state.db") as db:
                db.execute(statement)
            return
        import psycopg

        for table in ("audit_records", "audit_head"):
            statement = statement.replace(f" {table}", f" nexla_mcp_{table}")
        with psycopg.connect(self.state_url, autocommit=True) as db:
            db.execute(statement)  # type: ignore[arg-type]


@contextmanager
def process_replicas(
    env: dict[str, str], logs: list[Path], toolsets: str = "flows,control"
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """One ``python -m nexla_mcp --transport http`` per log file, each on a free port, all
    starting at once; each one's URL (once its /healthz answers) and process."""
    started: list[tuple[int, subprocess.Popen[bytes], Path]] = []
    try:
        for log in logs:
            port = free_port()
            command = [sys.executable, "-m", "nexla_mcp", "--transport", "http", "--port",
                       str(port), "--toolsets", toolsets]  # fmt: skip
            with log.open("w") as output:
                started.append((port, subprocess.Popen(command, env=env, stdout=output,
                                                       stderr=output), log))  # fmt: skip
        deadline = time.monotonic() + 60
        for port, process, log in started:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"replica did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield [(f"http://127.0.0.1:{port}{MCP_PATH}", process) for port, process, _ in started]
    finally:
        for _, process, _ in started:
            process.terminate()
        for _, process, _ in started:
            process.wait(timeout=30)


@pytest.fixture(params=["postgresql-3-threads", "sqlite-2-processes"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    sandbox = CountingSandbox()
    with ExitStack() as stack:
        api_url = stack.enter_context(serve_in_thread(sandbox))
        env = {"NEXLA_MCP_SECRET": SECRET, "NEXLA_MCP_STATE_DIR": str(tmp_path)}
        if request.param.startswith("postgresql"):
            state_url = request.getfixturevalue("postgres_url")
            env["NEXLA_MCP_STATE_URL"] = state_url
            settings = Settings(
                api_url=api_url, service_key=DEFAULT_SERVICE_KEY, transport="http",
                http_token=TOKEN, toolsets="flows,control", secret=SECRET, state_url=state_url,
                write_rate_limit=RATE_LIMIT,
            )  # type: ignore[arg-type]  # fmt: skip
            urls = [
                stack.enter_context(serve_on_loopback(http_app(build_server(settings), settings)))
                + MCP_PATH
                for _ in range(3)
            ]
        else:
            state_url = None
            process_env = {
                **os.environ, **env, "NEXLA_API_URL": api_url,
                "NEXLA_SERVICE_KEY": DEFAULT_SERVICE_KEY, "NEXLA_MCP_HTTP_TOKEN": TOKEN,
                "NEXLA_MCP_WRITE_RATE_LIMIT": str(RATE_LIMIT),
            }  # fmt: skip
            logs = [tmp_path / f"replica{n}.log" for n in range(2)]
            urls = [url for url, _ in stack.enter_context(process_replicas(process_env, logs))]
        yield Cluster(urls, sandbox, env, tmp_path, state_url)


async def connected(stack: Any, url: str) -> Client:
    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
    )
    transport = streamable_http_client(url, http_client=http)
    return await stack.enter_async_context(Client(transport, mode="auto"))


async def _confirm_all(clients: list[Client], calls: list[dict[str, Any]]) -> list[str]:
    """Send every confirmation at once, call ``n`` to client ``n % len(clients)``; the outcome
    of each: a receipt's status or a refusal's reason."""
    outcomes: list[str] = []

    async def send(n: int, arguments: dict[str, Any]) -> None:
        import json

        result = await clients[n % len(clients)].call_tool("pause_flow", arguments)
        if result.is_error:
            outcomes.append(json.loads(text_of(result))["error"]["details"].get("reason", "?"))
        else:
            outcomes.append(result.structured_content["status"])  # type: ignore[index]

    async with anyio.create_task_group() as group:
        for n, arguments in enumerate(calls):
            group.start_soon(send, n, arguments)
    return outcomes


async def _audit_verify(env: dict[str, str], *argv: str) -> int:
    """`nexla-mcp audit verify …` with the cluster's environment (run in a thread: it has its
    own event loop)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return await anyio.to_thread.run_sync(cli_main, ["audit", *argv])


async def test_two_hundred_concurrent_confirms_across_replicas_apply_once(
    cluster: Cluster,
) -> None:
    """One pause_flow plan, 200 confirmations spread over the replicas at once: one receipt
    `applied`, 199 refusals `replayed`, one PUT reaching Nexla, and an audit chain that verifies
    in the store and as a file copy."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        clients = [await connected(stack, url) for url in cluster.urls]
        plan = await call_ok(clients[0], "pause_flow", {"flow_id": ACTIVE_FLOWS[0]})
        confirm = {"flow_id": ACTIVE_FLOWS[0], "confirm": True, "plan_token": plan["plan_token"]}
        with anyio.fail_after(240):
            outcomes = await _confirm_all(clients, [confirm] * 200)
    assert sorted(set(outcomes)) == ["applied", "replayed"]
    assert outcomes.count("applied") == 1
    assert cluster.sandbox.writes == [f"PUT /flows/{ACTIVE_FLOWS[0]}/pause"]

    store = cluster.store()
    check = await verify_audit_store(store, ChainKey(SECRET))
    await store.close()
    assert (check.ok, check.records) == (True, 1 + 1 + 1 + 1 + 199)  # plan, approval, execution,
    # verification, and one refusal per losing confirmation
    assert await _audit_verify(cluster.env, "verify") == 0
    copy = str(cluster.state_dir / "export.jsonl")
    assert await _audit_verify(cluster.env, "export", copy) == 0
    assert await _audit_verify(cluster.env, "verify", copy) == 0

    damages = [
        ("UPDATE audit_records SET record = replace(record, 'pause_flow', 'activate_flow') "
         "WHERE seq = 2", "UPDATE audit_records SET record = replace(record, 'activate_flow', "
         "'pause_flow') WHERE seq = 2"),
        ("DELETE FROM audit_records WHERE seq > 200", None),  # cut off the end: 200 remain
        ("DELETE FROM audit_records WHERE seq = 100", None),
    ]  # fmt: skip
    for damage, repair in damages:
        cluster.sql(damage)
        assert await _audit_verify(cluster.env, "verify") == 1, damage
        if repair:
            cluster.sql(repair)
            assert await _audit_verify(cluster.env, "verify") == 0


async def test_the_write_rate_limit_holds_across_replicas(cluster: Cluster) -> None:
    """A limit of three writes for the whole server: six confirmations of six different plans,
    sent at once over all replicas, apply three and refuse three as rate_limited."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        clients = [await connected(stack, url) for url in cluster.urls]
        calls = []
        for n, flow_id in enumerate(ACTIVE_FLOWS):
            plan = await call_ok(clients[n % len(clients)], "pause_flow", {"flow_id": flow_id})
            calls.append({"flow_id": flow_id, "confirm": True, "plan_token": plan["plan_token"]})
        with anyio.fail_after(120):
            outcomes = await _confirm_all(clients[1:] + clients[:1], calls)
    assert sorted(outcomes) == ["applied"] * RATE_LIMIT + ["rate_limited"] * 3
    assert len(cluster.sandbox.writes) == RATE_LIMIT
    store = cluster.store()
    assert (await verify_audit_store(store, ChainKey(SECRET))).ok
    await store.close()
