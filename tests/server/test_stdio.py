"""stdio, the default transport, against a real subprocess: `python -m nexla_mcp --sandbox`."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from mcp import Client, StdioServerParameters

from nexla_mcp.server.testing import call_ok

pytestmark = pytest.mark.anyio

SERVE = [sys.executable, "-m", "nexla_mcp", "--sandbox", "--toolsets", "context"]


def request(id_: int, method: str, params: dict[str, object]) -> bytes:
    message = {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
    return (json.dumps(message) + "\n").encode()


async def next_message(lines: TextReceiveStream, buffer: list[str]) -> dict[str, Any]:
    """The next complete stdout line, parsed; it must be a JSON-RPC message."""
    while "\n" not in buffer[0]:
        buffer[0] += await lines.receive()
    line, buffer[0] = buffer[0].split("\n", 1)
    message = json.loads(line)
    assert message["jsonrpc"] == "2.0"
    return message


async def test_stdout_carries_only_protocol_messages_and_logs_go_to_stderr() -> None:
    """A raw 2025-11-25 handshake and two tool calls: stdout is pure JSON-RPC, logs on stderr."""
    process: Process
    with anyio.fail_after(30):
        async with await anyio.open_process(
            [*SERVE, "--log-level", "INFO"], env=dict(os.environ)
        ) as process:
            assert process.stdin and process.stdout and process.stderr
            lines, buffer = TextReceiveStream(process.stdout), [""]
            await process.stdin.send(request(1, "initialize", {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"}}))  # fmt: skip
            initialized = await next_message(lines, buffer)
            await process.stdin.send(
                b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
                + request(2, "tools/call", {"name": "get_server_context", "arguments": {}})
                + request(3, "tools/call", {"name": "no_such_tool", "arguments": {}})
            )
            # Calls run concurrently, so the answers may come in either order.
            answers = {
                message["id"]: message
                for message in [await next_message(lines, buffer) for _ in range(2)]
            }
            context, unknown = answers[2], answers[3]
            await process.stdin.aclose()
            stderr = (await process.stderr.receive(65536)).decode(errors="replace")
            rest = buffer[0] + "".join([chunk async for chunk in lines])
    assert initialized["result"]["protocolVersion"] == "2025-11-25"
    assert context["result"]["structuredContent"]["mode"] == "sandbox"
    assert unknown["result"]["isError"] is True
    assert rest.strip() == "", "nothing but protocol messages on stdout"
    assert "INFO" in stderr


async def test_sdk_stdio_client_calls_a_tool_on_the_modern_era() -> None:
    """The SDK's own stdio client (2026-07-28 by default) gets a schema-valid result."""
    server = StdioServerParameters(command=SERVE[0], args=SERVE[1:])
    with anyio.fail_after(30):
        async with Client(server) as client:
            context = await call_ok(client, "get_server_context")
            protocol = client.protocol_version
    assert protocol == "2026-07-28"
    assert context["auth_mode"] == "sandbox"
