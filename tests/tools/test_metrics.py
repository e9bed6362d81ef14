from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.server.testing import call_error, call_ok

from .conftest import FAULTS, Sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def toolsets() -> tuple[str, ...]:
    """These tests call only the metrics toolset's tools (see ``conftest.toolsets``)."""
    return ("metrics",)


def today() -> date:
    return datetime.now(UTC).date()


async def test_daily_metrics_default_to_the_last_seven_days(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """A healthy source: a count per day up to today, totals that add up, no error days."""
    source = (await sandbox.scenario("healthy"))["data_source_id"]
    view = await call_ok(
        mcp_client, "get_daily_metrics", {"resource_type": "data_sources", "resource_id": source}
    )
    assert view["to_date"] == today().isoformat()
    assert view["from_date"] == (today() - timedelta(days=6)).isoformat()
    first = date.fromisoformat(view["data_from"])
    assert view["from_date"] <= view["data_from"]
    assert len(view["records_per_day"]) == (today() - first).days + 1
    assert view["records"] == sum(view["records_per_day"]) > 0
    assert view["errors"] == 0 and "errors_per_day" not in view


async def test_daily_metrics_show_when_errors_began(mcp_client: Client, sandbox: Sandbox) -> None:
    """A nexset whose transform broke hours ago has errors only on the latest days."""
    nexset = (await sandbox.scenario("transform_error"))["data_set_ids"][-1]
    start = today() - timedelta(days=3)
    view = await call_ok(
        mcp_client,
        "get_daily_metrics",
        {"resource_type": "data_sets", "resource_id": nexset, "from_date": start.isoformat()},
    )
    error_days = sorted(view["errors_per_day"])
    assert error_days and error_days[-1] == today().isoformat()
    assert start.isoformat() not in error_days
    assert view["errors"] == sum(view["errors_per_day"].values()) > 0


async def test_daily_metrics_of_a_resource_that_never_ran_have_no_days(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """No data at all: no per-day counts (not a zero per day), only the zero totals."""
    source = (await sandbox.scenario("never_activated"))["data_source_id"]
    view = await call_ok(
        mcp_client, "get_daily_metrics", {"resource_type": "data_sources", "resource_id": source}
    )
    assert (view["records"], view["errors"]) == (0, 0)
    assert not {"data_from", "records_per_day", "errors_per_day"} & set(view)


@pytest.mark.parametrize(
    ("arguments", "error_type"),
    [
        pytest.param(
            {"from_date": "2025-03-10", "to_date": "2025-03-01"}, "ValidationError", id="reversed"
        ),
        pytest.param({"from_date": "2099-01-01"}, "ValidationError", id="future"),
        pytest.param(
            {"from_date": "2024-01-01", "to_date": "2024-12-31"}, "ValidationError", id="too-long"
        ),
        pytest.param({"from_date": "2025-02-30"}, "InvalidArgumentsError", id="no-such-day"),
        pytest.param({"from_date": "yesterday"}, "InvalidArgumentsError", id="not-a-date"),
    ],
)
async def test_daily_metrics_reject_bad_dates(
    mcp_client: Client, sandbox: Sandbox, arguments: dict[str, Any], error_type: str
) -> None:
    """Dates are validated for shape, order, range and the future before anything is sent."""
    source = (await sandbox.scenario("healthy"))["data_source_id"]
    error = await call_error(
        mcp_client,
        "get_daily_metrics",
        {"resource_type": "data_sources", "resource_id": source, **arguments},
    )
    assert error["type"] == error_type


async def test_run_metrics_derive_status_streak_and_baseline_flags(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """The broken transform's nexset: failed runs in a row, flagged against healthy history."""
    nexset = (await sandbox.scenario("transform_error"))["data_set_ids"][-1]
    view = await call_ok(
        mcp_client,
        "get_run_metrics",
        {"resource_type": "data_sets", "resource_id": nexset, "limit": 20},
    )
    assert view["latest_status"] == "failed"
    assert view["consecutive_failures"] >= 3
    assert view["failing_since"] > view["last_success_at"]
    runs = view["runs"]
    assert [run["run_id"] for run in runs] == sorted((run["run_id"] for run in runs), reverse=True)
    first_failure = [run for run in runs if run["status"] == "failed"][-1]
    assert first_failure["started_at"] == view["failing_since"]
    assert {"records_zero", "error_spike"} <= set(first_failure["flags"])
    healthy = [run for run in runs if run["status"] == "success"]
    assert healthy and all("flags" not in run for run in healthy[1:])


async def test_run_metrics_of_a_healthy_resource_are_all_success(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """No failures: success everywhere, no streak, failed_only finds nothing."""
    sink = (await sandbox.scenario("healthy"))["data_sink_ids"][0]
    view = await call_ok(
        mcp_client, "get_run_metrics", {"resource_type": "data_sinks", "resource_id": sink}
    )
    assert view["consecutive_failures"] == 0 and "failing_since" not in view
    assert len(view["runs"]) == 10 and {run["status"] for run in view["runs"]} == {"success"}
    failed = await call_ok(
        mcp_client,
        "get_run_metrics",
        {"resource_type": "data_sinks", "resource_id": sink, "failed_only": True},
    )
    assert failed["total"] == 0 and "runs" not in failed


async def test_run_metrics_failed_only_pages_through_partial_runs(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """A flaky nexset: failed_only returns only runs with errors, pageable by cursor."""
    nexset = (await sandbox.scenario("high_error_rate"))["data_set_ids"][-1]
    arguments = {
        "resource_type": "data_sets",
        "resource_id": nexset,
        "failed_only": True,
        "limit": 3,
    }
    first = await call_ok(mcp_client, "get_run_metrics", arguments)
    assert len(first["runs"]) == 3 and first["truncated"] is True
    assert all(run["errors"] > 0 and run["status"] == "partial" for run in first["runs"])
    second = await call_ok(
        mcp_client, "get_run_metrics", {**arguments, "cursor": first["next_cursor"]}
    )
    assert second["runs"][0]["run_id"] < first["runs"][-1]["run_id"]


async def test_run_metrics_of_an_unknown_resource_is_not_found(mcp_client: Client) -> None:
    """404 on the run summary is NotFoundError."""
    error = await call_error(
        mcp_client, "get_run_metrics", {"resource_type": "data_sources", "resource_id": 999999}
    )
    assert error["type"] == "NotFoundError"


@pytest.mark.parametrize("arguments", [{"limit": 0}, {"limit": 51}, {"resource_type": "flows"}])
async def test_run_metrics_reject_invalid_arguments(
    mcp_client: Client, arguments: dict[str, Any]
) -> None:
    """Limits and the resource_type vocabulary are enforced by the schema."""
    error = await call_error(
        mcp_client,
        "get_run_metrics",
        {"resource_type": "data_sources", "resource_id": 5101, **arguments},
    )
    assert error["type"] == "InvalidArgumentsError"


@pytest.mark.parametrize("error_type", sorted(FAULTS))
@pytest.mark.parametrize("tool", ["get_daily_metrics", "get_run_metrics"])
async def test_metrics_tools_report_upstream_failures_in_the_envelope(
    mcp_client: Client, sandbox: Sandbox, tool: str, error_type: str
) -> None:
    """401, 403, 429 and 5xx from Nexla become the matching envelope type."""
    source = (await sandbox.scenario("healthy"))["data_source_id"]
    await sandbox.faults(**FAULTS[error_type])
    error = await call_error(
        mcp_client, tool, {"resource_type": "data_sources", "resource_id": source}
    )
    assert error["type"] == error_type
