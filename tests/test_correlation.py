"""One correlation id per tool call, in the upstream request headers, the logs and the audit
log; sandbox writes are audited apart from the live log and say they came from the sandbox.

The MCP client drives the real server, which drives the in-process sandbox; a thin ASGI
wrapper in front of the sandbox records the headers each request arrived with.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.correlation import HEADER, CorrelationFilter, JsonFormatter, new_correlation
from nexla_mcp.sandbox import create_app
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import call_error, call_ok
from nexla_mcp.settings import Settings, sandbox_run_dir

pytestmark = pytest.mark.anyio


class HeaderRecorder:
    """The sandbox, noting the correlation id of every API request it serves."""

    def __init__(self) -> None:
        self.app = create_app()
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # The logout on shutdown belongs to no tool call.
        if scope["type"] == "http" and scope["path"] != "/token/logout":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.seen.append((scope["path"], headers.get(HEADER.lower())))
        await self.app(scope, receive, send)

    def ids_since(self, start: int, end: int | None = None) -> set[str | None]:
        return {call_id for _, call_id in self.seen[start:end]}


async def test_every_request_of_one_tool_call_carries_that_calls_id() -> None:
    """diagnose_flow's parallel requests share one id; the next call gets another."""
    sandbox = HeaderRecorder()
    server = build_server(Settings(sandbox=True, toolsets="flows,runbooks"), sandbox_app=sandbox)
    async with Client(server, mode="legacy") as client:
        await call_ok(client, "diagnose_flow", {"flow_id": 9015})
        first = len(sandbox.seen)
        await call_ok(client, "get_flow", {"flow_id": 9015})
    diagnose_ids, get_ids = sandbox.ids_since(0, first), sandbox.ids_since(first)
    assert first >= 5, "diagnose_flow makes several requests"
    assert len(diagnose_ids) == 1 and len(get_ids) == 1 and get_ids != diagnose_ids
    assert None not in diagnose_ids | get_ids
    assert all(len(call_id or "") == 16 for call_id in diagnose_ids | get_ids)


async def test_the_log_line_of_a_failed_call_carries_the_id_its_requests_carried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's 'tool failed' line and the 404 it reports share the correlation id."""
    sandbox = HeaderRecorder()
    server = build_server(Settings(sandbox=True, toolsets="flows"), sandbox_app=sandbox)
    caplog.handler.addFilter(CorrelationFilter())
    with caplog.at_level(logging.INFO, logger="nexla_mcp"):
        async with Client(server, mode="legacy") as client:
            await call_error(client, "get_flow", {"flow_id": 424242})
    (request_id,) = sandbox.ids_since(0)
    failed = [r for r in caplog.records if r.getMessage().startswith("tool get_flow failed")]
    assert [record.correlation_id for record in failed] == [request_id]


async def test_a_sandbox_write_plan_is_audited_with_its_id_and_marked_sandbox(
    tmp_path: Path,
) -> None:
    """The plan record names the call's id (as its upstream reads did) and the sandbox."""
    sandbox = HeaderRecorder()
    audit = tmp_path / "audit.jsonl"
    settings = Settings(sandbox=True, toolsets="flows,control", audit_path=audit)
    async with Client(build_server(settings, sandbox_app=sandbox), mode="legacy") as client:
        await call_ok(client, "pause_flow", {"flow_id": 9001})
    (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert record["event"] == "plan" and record["environment"] == "sandbox"
    assert {record["correlation_id"]} == sandbox.ids_since(0)


def test_sandbox_state_goes_to_the_runs_own_directory_never_the_live_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without NEXLA_MCP_STATE_DIR a sandbox run's journal goes under the temp dir, in a
    directory of its own (per process); set explicitly, the path is kept."""
    monkeypatch.delenv("NEXLA_MCP_STATE_DIR", raising=False)
    live_settings = Settings(service_key="nxsk_live_key_123456")
    assert sandbox_run_dir().name.startswith(f"nexla-mcp-sandbox-{os.getpid()}-")
    assert Settings(sandbox=True).effective_state_dir == sandbox_run_dir() / "state"
    assert live_settings.effective_state_dir == live_settings.state_dir
    chosen = Path("/srv/nexla-state")
    assert Settings(sandbox=True, state_dir=chosen).effective_state_dir == chosen


def test_json_log_lines_carry_the_correlation_id() -> None:
    """--log-format json: one object a line, with the id of the call that logged it."""
    record = logging.LogRecord(
        "nexla_mcp.x", logging.WARNING, __file__, 1, "hello %s", ("a",), None
    )
    with new_correlation() as call_id:
        CorrelationFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["correlation_id"] == call_id and line["message"] == "hello a"
    assert line["level"] == "WARNING" and line["logger"] == "nexla_mcp.x"


def test_outside_a_tool_call_there_is_no_id() -> None:
    """Start-up and background lines show '-' rather than a stale id."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    CorrelationFilter().filter(record)
    assert record.correlation_id == "-"
