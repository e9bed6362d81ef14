"""Serving over real HTTP: the background-thread server, socket-level faults and the CLI command."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.serve import main, serve_in_thread

from .conftest import FakeClock


def token(base_url: str, key: str = DEFAULT_SERVICE_KEY) -> dict[str, str]:
    reply = httpx.post(f"{base_url}/token", headers={"Authorization": f"Basic {key}"})
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def test_serve_in_thread_serves_the_api_on_a_free_loopback_port_and_stops() -> None:
    """The context manager yields a working base URL and shuts the server down on exit."""
    with serve_in_thread(create_app()) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and not base_url.endswith(":0")
        reply = httpx.get(f"{base_url}/flows", params={"flows_only": 1}, headers=token(base_url))
        assert reply.status_code == 200 and len(reply.json()["flows"]) == 15
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/_sandbox/state", timeout=2)


def test_dropped_connection_over_a_socket_is_a_protocol_error() -> None:
    """drop_rate=1 under uvicorn closes the socket mid-response: RemoteProtocolError."""
    with serve_in_thread(create_app()) as base_url:
        httpx.post(f"{base_url}/_sandbox/faults", json={"drop_rate": 1.0, "paths": ["/limits"]})
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{base_url}/limits", headers=token(base_url))
        assert (
            httpx.get(f"{base_url}/flows?flows_only=1", headers=token(base_url)).status_code == 200
        )


def test_pending_task_result_is_202_over_a_socket() -> None:
    """A real socket cannot carry a final 102, so a pending task's result answers 202 there."""
    clock = FakeClock()
    with serve_in_thread(create_app(clock=clock)) as base_url:
        headers = token(base_url)
        task = httpx.post(
            f"{base_url}/async_tasks", headers=headers, json={"task_type": "GetAuditLogs"}
        ).json()
        pending = httpx.get(f"{base_url}/async_tasks/{task['id']}/result", headers=headers)
        assert pending.status_code == 202 and pending.json()["status"] == "pending"
        clock.advance(5)
        done = httpx.get(f"{base_url}/async_tasks/{task['id']}/result", headers=headers)
        assert done.status_code == 200 and "count" in done.json()


def test_cli_prints_its_url_and_key_and_serves_them() -> None:
    """`nexla-mcp sandbox` prints the base URL (real port) and the service key it accepts."""
    command = [
        sys.executable,
        "-c",
        "import sys; from nexla_mcp.sandbox.serve import main; sys.exit(main(sys.argv[1:]))",
        "--port",
        "0",
        "--service-key",
        "cli-key-77",
        "--flows",
        "20",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        url_line, key_line = process.stdout.readline(), process.stdout.readline()
        base_url = url_line.rsplit(" ", 1)[-1].strip()
        assert key_line.strip() == "Service key: cli-key-77"
        counts = httpx.get(f"{base_url}/_sandbox/state", timeout=10).json()["counts"]
        assert counts["flows"] == 35
        assert (
            httpx.get(f"{base_url}/data_sources", headers=token(base_url, "cli-key-77")).status_code
            == 200
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    "argv", [["--port", "-1"], ["--flows", "-3"], ["--token-ttl", "-1"], ["--port", "x"]]
)
def test_cli_refuses_invalid_options(argv: list[str]) -> None:
    """Negative or non-numeric options are a usage error (exit status 2)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
