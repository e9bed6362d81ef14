from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.server.testing import call_error, call_ok

from .conftest import FAULTS, SANDBOX_URL, OddReplies, Sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def toolsets() -> tuple[str, ...]:
    """These tests call only the logs toolset's tools (see ``conftest.toolsets``)."""
    return ("logs",)


async def add_run(sandbox: Sandbox, flow_id: int, outcome: str) -> int:
    reply = await sandbox.http.post(
        f"{SANDBOX_URL}/_sandbox/runs", json={"flow_id": flow_id, "outcome": outcome}
    )
    reply.raise_for_status()
    return reply.json()["run_id"]


async def add_log(sandbox: Sandbox, resource_id: int, message: str, severity: str = "ERROR") -> int:
    reply = await sandbox.http.post(
        f"{SANDBOX_URL}/_sandbox/logs",
        json={
            "resource_type": "data_sources",
            "resource_id": resource_id,
            "severity": severity,
            "message": message,
        },
    )
    reply.raise_for_status()
    return reply.json()["run_id"]


async def test_logs_of_a_failing_flow_lead_with_clustered_error_templates(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """The transform error's lines collapse into one template with counts, times and an example."""
    scenario = await sandbox.scenario("transform_error")
    logs = await call_ok(mcp_client, "get_flow_logs", {"flow_id": scenario["flow_id"]})
    assert logs["run_selection"] == "latest" and logs["run_id"] > 0
    top = logs["clusters"][0]
    assert top["template"].startswith("Transform failed: KeyError <str>")
    assert top["count"] == 3 and top["severity"] == "ERROR"
    assert top["first_seen"] <= top["last_seen"]
    assert top["example"].startswith("Transform failed: KeyError '")
    assert top["resources"] == [f"DATASET {scenario['data_set_ids'][-1]}"]
    counts = [cluster["count"] for cluster in logs["clusters"]]
    assert counts == sorted(counts, reverse=True)
    assert logs["available"] == sum(counts) == logs["returned"]
    assert logs["complete"] is True and logs["truncated"] is False
    assert all(line["severity"] in ("ERROR", "WARNING") for line in logs["lines"])


async def test_logs_by_resource_read_the_same_run(mcp_client: Client, sandbox: Sandbox) -> None:
    """Naming the flow by one of its resources gives the same run and templates."""
    scenario = await sandbox.scenario("rate_limited")
    by_flow = await call_ok(mcp_client, "get_flow_logs", {"flow_id": scenario["flow_id"]})
    by_sink = await call_ok(
        mcp_client,
        "get_flow_logs",
        {"resource_type": "data_sinks", "resource_id": scenario["data_sink_ids"][0]},
    )
    assert by_sink["flow_id"] == scenario["flow_id"]
    assert by_sink["run_id"] == by_flow["run_id"]
    assert by_sink["clusters"] == by_flow["clusters"]


async def test_a_clean_latest_run_sends_the_reader_to_the_newest_run_with_errors(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """After a successful manual run, the failing run before it is read, and both are named."""
    scenario = await sandbox.scenario("network_timeout")
    clean_run = await add_run(sandbox, scenario["flow_id"], "success")
    logs = await call_ok(mcp_client, "get_flow_logs", {"flow_id": scenario["flow_id"]})
    assert logs["run_selection"] == "latest_with_errors"
    assert logs["latest_run_id"] == clean_run and logs["run_id"] < clean_run
    assert any("timed out" in cluster["template"] for cluster in logs["clusters"])


async def test_a_requested_run_and_severity_filter_are_honoured(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """run_id picks the run; severity=INFO adds the INFO lines, ERROR leaves only errors."""
    scenario = await sandbox.scenario("healthy")
    run_id = await add_run(sandbox, scenario["flow_id"], "success")
    info = await call_ok(
        mcp_client,
        "get_flow_logs",
        {"flow_id": scenario["flow_id"], "run_id": run_id, "severity": "INFO", "limit": 100},
    )
    assert info["run_selection"] == "requested" and info["run_id"] == run_id
    assert info["available"] > 0 and {line["run_id"] for line in info["lines"]} == {run_id}
    errors = await call_ok(
        mcp_client,
        "get_flow_logs",
        {"flow_id": scenario["flow_id"], "run_id": run_id, "severity": "ERROR"},
    )
    assert errors["available"] == 0 and "clusters" not in errors


async def test_search_keeps_only_matching_lines(mcp_client: Client, sandbox: Sandbox) -> None:
    """search is a case-insensitive substring filter applied before clustering."""
    scenario = await sandbox.scenario("rate_limited")
    logs = await call_ok(
        mcp_client, "get_flow_logs", {"flow_id": scenario["flow_id"], "search": "GIVING UP"}
    )
    assert logs["available"] >= 1
    assert all("giving up" in line["message"].lower() for line in logs["lines"])
    assert len(logs["clusters"]) == 1


async def test_raw_lines_page_by_cursor_within_the_same_run(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """Pages of one line walk every matching line of the run the first call chose."""
    scenario = await sandbox.scenario("rate_limited")
    arguments: dict[str, Any] = {"flow_id": scenario["flow_id"], "limit": 1}
    first = await call_ok(mcp_client, "get_flow_logs", arguments)
    messages = [line["message"] for line in first["lines"]]
    page = first
    while "next_cursor" in page:
        assert page["truncated"] is True and page["returned"] == 1
        page = await call_ok(
            mcp_client, "get_flow_logs", {**arguments, "cursor": page["next_cursor"]}
        )
        assert page["run_id"] == first["run_id"]
        messages += [line["message"] for line in page["lines"]]
    assert len(messages) == first["available"]


async def test_a_time_window_reads_logs_across_runs(mcp_client: Client, sandbox: Sandbox) -> None:
    """from_time/to_time read every run in the window through the by-flow endpoint."""
    scenario = await sandbox.scenario("resource_conflict")
    now = datetime.now(UTC)
    logs = await call_ok(
        mcp_client,
        "get_flow_logs",
        {
            "flow_id": scenario["flow_id"],
            "from_time": (now - timedelta(hours=6)).isoformat(),
            "to_time": now.isoformat(),
            "limit": 100,
        },
    )
    assert logs["run_selection"] == "time_window" and "run_id" not in logs
    assert len({line["run_id"] for line in logs["lines"]}) >= 3
    assert logs["clusters"][0]["runs"] >= 3


async def test_a_window_without_offsets_is_taken_as_utc(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """Naive ISO times mean UTC; mixing them with "now" is not an error."""
    scenario = await sandbox.scenario("resource_conflict")
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(tzinfo=None, microsecond=0)
    logs = await call_ok(
        mcp_client,
        "get_flow_logs",
        {"flow_id": scenario["flow_id"], "from_time": start.isoformat()},
    )
    assert logs["from_time"] == start.isoformat() + "Z"
    assert logs["available"] > 0


async def test_huge_runs_are_read_up_to_the_cap_and_say_so(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """Over 2000 lines: clusters cover what was read and complete/fetched/upstream_total tell."""
    # A paused flow starts no new run while the lines are added, so they all land in one run.
    scenario = await sandbox.scenario("paused")
    run_id = 0
    for index in range(2100):
        run_id = await add_log(sandbox, scenario["data_source_id"], f"Row {index} rejected by sink")
    logs = await call_ok(
        mcp_client, "get_flow_logs", {"flow_id": scenario["flow_id"], "run_id": run_id}
    )
    assert logs["fetched"] == 2000 and logs["upstream_total"] > 2100
    assert logs["complete"] is False and logs["truncated"] is True
    assert logs["clusters"][0]["template"] == "Row <n> rejected by sink"
    assert logs["returned"] == 10 and logs["available"] <= logs["fetched"]


@pytest.mark.parametrize(
    ("arguments", "error_type"),
    [
        pytest.param({}, "ValidationError", id="no-flow"),
        pytest.param(
            {"flow_id": 9001, "resource_type": "data_sets", "resource_id": 6101},
            "ValidationError",
            id="both",
        ),
        pytest.param(
            {
                "flow_id": 9001,
                "from_time": "2025-03-04T10:00:00Z",
                "to_time": "2025-03-04T09:00:00Z",
            },
            "ValidationError",
            id="reversed-window",
        ),
        pytest.param(
            {
                "flow_id": 9001,
                "from_time": "2025-03-01T00:00:00Z",
                "to_time": "2025-03-20T00:00:00Z",
            },
            "ValidationError",
            id="window-too-long",
        ),
        pytest.param(
            {"flow_id": 9001, "severity": "DEBUG"}, "InvalidArgumentsError", id="unknown-severity"
        ),
        pytest.param({"flow_id": 9001, "limit": 101}, "InvalidArgumentsError", id="limit"),
        pytest.param({"flow_id": 123456789}, "NotFoundError", id="unknown-flow"),
    ],
)
async def test_get_flow_logs_rejects_bad_requests(
    mcp_client: Client, arguments: dict[str, Any], error_type: str
) -> None:
    """Identification, window and filter mistakes fail clearly, before reading any logs."""
    error = await call_error(mcp_client, "get_flow_logs", arguments)
    assert error["type"] == error_type


@pytest.mark.parametrize("error_type", sorted(FAULTS))
async def test_get_flow_logs_reports_upstream_failures_in_the_envelope(
    mcp_client: Client, sandbox: Sandbox, error_type: str
) -> None:
    """401, 403, 429 and 5xx from Nexla become the matching envelope type."""
    flow_id = (await sandbox.scenario("healthy"))["flow_id"]
    await sandbox.faults(**FAULTS[error_type])
    error = await call_error(mcp_client, "get_flow_logs", {"flow_id": flow_id})
    assert error["type"] == error_type


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"null", id="null"),
        pytest.param(b"[]", id="a-list"),
        pytest.param(b'{"status": 200, "message": "Ok"}', id="no-logs"),
    ],  # fmt: skip
)
async def test_a_log_reply_of_the_wrong_shape_is_an_error_not_zero_lines(
    odd_client: Client, odd_replies: OddReplies, body: bytes
) -> None:
    """A log page that is not one (null, a list, an object without logs) cannot mean "no
    lines, complete": the tool fails with the envelope and says what came back."""
    odd_replies.reply(r"/flow/logs$|/flows/\d+/logs$", body)
    error = await call_error(odd_client, "get_flow_logs", {"flow_id": 9001})
    assert error["type"] == "InvalidResponseError"
    assert "where a log page was due" in error["message"]


async def test_a_reply_nested_five_thousand_deep_is_a_clear_upstream_reply_error(
    odd_client: Client, odd_replies: OddReplies
) -> None:
    """JSON nested 5,000 levels deep is named as an unreadable Nexla reply, not an internal
    error, and is not retried."""
    odd_replies.reply(r"^/flows/\d+$", b"[" * 5000 + b"]" * 5000)
    error = await call_error(odd_client, "get_flow", {"flow_id": 9001})
    assert error["type"] == "InvalidResponseError" and "nested" in error["message"]
    assert error["retryable"] is False
