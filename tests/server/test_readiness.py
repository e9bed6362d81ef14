"""/readyz says whether a replica should get traffic; shutdown lets calls in flight finish."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.http import MCP_PATH, READY_PATH, http_app, uvicorn_server
from nexla_mcp.server.testing import NO_BACKOFF, serve_on_loopback
from nexla_mcp.settings import Settings
from tests.ports import free_port

pytestmark = pytest.mark.anyio

TOKEN = "readiness-test-token-0123456789"


def http_settings(**overrides: Any) -> Settings:
    options: dict[str, Any] = {"sandbox": True, "transport": "http", "http_token": TOKEN,
                               "toolsets": "flows,control"}  # fmt: skip
    return Settings(**{**options, **overrides})


@contextmanager
def ready_probe(server: NexlaMCPServer, settings: Settings) -> Iterator[httpx.Response]:
    """GET /readyz (no token: it is public) on the server served on loopback."""
    with serve_on_loopback(http_app(server, settings)) as url:
        yield httpx.get(f"{url}{READY_PATH}", timeout=30)


def test_a_server_whose_store_and_nexla_answer_is_ready() -> None:
    """200 with each check named."""
    settings = http_settings()
    with ready_probe(build_server(settings), settings) as reply:
        assert reply.status_code == 200
        assert reply.json() == {
            "status": "ready", "checks": {"state_store": "ok", "nexla": "ok"}
        }  # fmt: skip


def test_a_server_whose_state_store_cannot_open_is_not_ready(tmp_path: Path) -> None:
    """503 naming the store (the server is up: reads still work, writes would be refused)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = http_settings(state_dir=blocker / "state")
    with ready_probe(build_server(settings), settings) as reply:
        assert reply.status_code == 503
        checks = reply.json()["checks"]
        assert checks["state_store"] == "unavailable (StateError)"
        assert checks["nexla"] == "ok"


def test_a_server_that_cannot_reach_nexla_is_not_ready() -> None:
    """503 naming Nexla, with the kind of error and nothing of the credential."""
    port = free_port()
    settings = Settings(
        service_key="svc-readiness-key-0123456789", api_url=f"http://127.0.0.1:{port}",
        transport="http", http_token=TOKEN, toolsets="flows", timeout_s=2,
    )  # type: ignore[arg-type]  # fmt: skip
    with ready_probe(build_server(settings, retry_policy=NO_BACKOFF), settings) as reply:
        assert reply.status_code == 503
        nexla = reply.json()["checks"]["nexla"]
        assert nexla.startswith("unavailable (") and "svc-readiness" not in reply.text


def test_a_read_only_server_does_not_need_its_store() -> None:
    """Without writes the store is never opened, and readiness does not depend on it."""
    settings = http_settings(read_only=True)
    with ready_probe(build_server(settings), settings) as reply:
        assert reply.status_code == 200
        assert reply.json()["checks"]["state_store"] == "not used (read-only)"


async def test_shutdown_lets_a_call_in_flight_finish_and_turns_readiness_off(
    sandbox_app: Any,
) -> None:
    """SIGTERM while a slow get_flow is in flight over a 2025-era SSE response (its request has
    reached Nexla, which takes 1.5 s to answer): the call still gets its answer (uvicorn alone
    ends the stream empty), the server reports draining, and then stops listening."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as control:
        await control.post("http://sandbox.test/_sandbox/faults",
                           json={"latency_ms": 1500, "paths": ["/flows/9001"]})  # fmt: skip
    reached = threading.Event()

    async def sandbox(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/flows/9001"):
            reached.set()
        await sandbox_app(scope, receive, send)

    settings = http_settings(shutdown_grace_s=10)
    server = build_server(settings, sandbox_app=sandbox, retry_policy=NO_BACKOFF)
    web = uvicorn_server(server, settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not web.started:
        await anyio.sleep(0.02)
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
    answer: dict[str, Any] = {}

    def message(method: str, id_: int | None = None, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        return {**body, "id": id_} if id_ is not None else body

    async def slow_call(http: httpx.AsyncClient) -> None:
        call = message("tools/call", 2, name="get_flow", arguments={"flow_id": 9001})
        reply = await http.post(f"{url}{MCP_PATH}", json=call, headers=headers)
        answer.update(status=reply.status_code, text=reply.text)

    # Raw JSON-RPC over HTTP: an SDK client would send more requests after the call (which the
    # stopping server rightly refuses), and this test is about the one in flight.
    try:
        with anyio.fail_after(30):
            async with httpx.AsyncClient(timeout=30) as http:
                hello = message("initialize", 1, protocolVersion="2025-11-25", capabilities={},
                                clientInfo={"name": "t", "version": "1"})  # fmt: skip
                reply = await http.post(f"{url}{MCP_PATH}", json=hello, headers=headers)
                headers["mcp-session-id"] = reply.headers["mcp-session-id"]
                headers["mcp-protocol-version"] = "2025-11-25"
                await http.post(f"{url}{MCP_PATH}", json=message("notifications/initialized"),
                                headers=headers)  # fmt: skip
                async with anyio.create_task_group() as group:
                    group.start_soon(slow_call, http)
                    await anyio.to_thread.run_sync(reached.wait, 20)
                    web.handle_exit(signal.SIGTERM, None)
                    assert server.draining
        assert answer["status"] == 200
        data = [line[5:] for line in answer["text"].splitlines() if line.startswith("data:")]
        reply = json.loads(data[-1])
        assert reply["id"] == 2 and not reply["result"].get("isError")
        assert reply["result"]["content"][0]["text"].startswith("Flow 9001")
        await anyio.to_thread.run_sync(thread.join, 15)
        assert not thread.is_alive()
        start = time.monotonic()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}{READY_PATH}", timeout=2)
        assert time.monotonic() - start < 5
    finally:
        web.should_exit = True
        sock.close()
        # sse-starlette records a uvicorn shutdown process-wide (and then ends every SSE stream
        # at once); this process goes on serving other tests' servers.
        from sse_starlette.sse import AppStatus

        AppStatus.should_exit = False
