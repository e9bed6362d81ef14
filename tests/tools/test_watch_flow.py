"""watch_flow over MCP: the answer after a run, progress while it waits, argument checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.server.testing import call_error, call_ok

from .conftest import SANDBOX_URL, Sandbox
from .write_support import WriteStack, plan_and_confirm

pytestmark = pytest.mark.anyio


async def _run(sandbox: Sandbox, flow_id: int, outcome: str) -> dict[str, Any]:
    reply = await sandbox.http.post(
        f"{SANDBOX_URL}/_sandbox/runs", json={"flow_id": flow_id, "outcome": outcome}
    )
    reply.raise_for_status()
    return reply.json()


def _a_moment_ago() -> str:
    return (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")


async def test_a_clean_run_after_the_fix_is_recovered(mcp_client: Client, sandbox: Sandbox) -> None:
    flow_id = (await sandbox.scenario("transform_error"))["flow_id"]
    since = _a_moment_ago()
    run = await _run(sandbox, flow_id, "success")
    report = await call_ok(mcp_client, "watch_flow", {"flow_id": flow_id, "since": since})
    assert report["status"] == "recovered"
    assert [r["run_id"] for r in report["runs"]] == [run["run_id"]]
    assert report["runs"][0]["errors"] == 0 and "category" not in report


async def test_a_failing_run_after_the_fix_is_still_failing_with_the_new_category(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    flow_id = (await sandbox.scenario("rate_limited"))["flow_id"]
    since = _a_moment_ago()
    await _run(sandbox, flow_id, "rate_limited")
    report = await call_ok(mcp_client, "watch_flow", {"flow_id": flow_id, "since": since})
    assert report["status"] == "still_failing"
    assert report["category"] == "rate_limited" and report["diagnosis"]


async def test_waiting_sends_progress_and_ends_with_no_run_yet(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    flow_id = (await sandbox.scenario("healthy"))["flow_id"]
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    result = await mcp_client.call_tool(
        "watch_flow", {"flow_id": flow_id, "timeout_s": 1}, progress_callback=progress
    )
    report = result.structured_content or {}
    assert report["status"] == "no_run_yet" and report["waited_s"] >= 1
    assert "watch_flow again" in report["note"]
    assert len(seen) >= 2 and all(total == 1 for _, total, _ in seen)
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)


async def test_a_paused_flow_is_reported_as_not_running(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    flow_id = (await sandbox.scenario("paused"))["flow_id"]
    report = await call_ok(mcp_client, "watch_flow", {"flow_id": flow_id, "timeout_s": 0})
    assert report["status"] == "no_run_yet" and "PAUSED" in report["note"]


@pytest.mark.parametrize("since", ["yesterday", "2026-01-01T00:00:00", "2000-01-01T00:00:00Z"])
async def test_since_must_be_a_recent_zoned_time(
    mcp_client: Client, sandbox: Sandbox, since: str
) -> None:
    flow_id = (await sandbox.scenario("healthy"))["flow_id"]
    error = await call_error(mcp_client, "watch_flow", {"flow_id": flow_id, "since": since})
    assert error["type"] == "ValidationError"


async def test_an_activation_runs_now_and_its_receipt_points_to_watch_flow(
    tmp_path: Path,
) -> None:
    """Activating the paused flow asks Nexla to run now; the receipt's verify_with call then
    answers recovered from that very run."""
    stack = WriteStack(tmp_path)
    scenarios = await stack.control("GET", "/_sandbox/scenarios")
    flow_id = next(row["flow_id"] for row in scenarios["scenarios"] if row["kind"] == "paused")
    async with stack.connect() as client:
        _, receipt = await plan_and_confirm(client, "activate_flow", {"flow_id": flow_id})
        assert receipt["status"] == "applied"
        verify = receipt["verify_with"]
        assert verify["tool"] == "watch_flow" and verify["arguments"]["flow_id"] == flow_id
        report = await call_ok(client, "watch_flow", {**verify["arguments"], "timeout_s": 5})
    assert report["status"] == "recovered"
    activation = [r for r in stack.requests if r.url.path.endswith("/activate")]
    assert [r.url.params.get("run_now") for r in activation] == ["1"]
