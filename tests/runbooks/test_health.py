"""check_flow_health against the sandbox: the reference checks and the issues they raise."""

from __future__ import annotations

import pytest

from nexla_mcp.errors import NotFoundError, ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.health import FlowHealthReport, check_flow_health
from tests.runbooks.sandbox_org import Org, now

pytestmark = pytest.mark.anyio


async def health(client: NexlaClient, org: Org, kind: str) -> FlowHealthReport:
    row = await org.scenario(kind)
    return await check_flow_health(client, FlowTarget(flow_id=row["flow_id"]), now=now())


async def test_a_healthy_flow_passes_every_check(client: NexlaClient, org: Org) -> None:
    """Active, a recent successful run, no failures, every credential accepted."""
    report = await health(client, org, "healthy")
    assert report.healthy and not report.issues
    assert report.status == "ACTIVE" and report.state == "ok"
    assert report.error_rate == 0 and report.runs_considered == 10
    assert report.last_run_age_hours is not None and report.last_run_age_hours < 24
    assert report.credentials and all(c.ok for c in report.credentials)
    assert all(c.used_by for c in report.credentials)


async def test_an_expired_credential_fails_its_probe_and_the_runs(
    client: NexlaClient, org: Org
) -> None:
    """The refused credential, the failed latest run and the error rate are all issues."""
    row = await org.scenario("credential_expired")
    report = await check_flow_health(client, FlowTarget(flow_id=row["flow_id"]), now=now())
    assert not report.healthy and report.state == "failing"
    refused = [c for c in report.credentials if not c.ok]
    assert [c.credential_id for c in refused] == [row["data_credentials_id"]]
    assert refused[0].message and "expired" in refused[0].message
    assert f"Credential {row['data_credentials_id']} fails its probe" in report.issues
    assert "Latest run failed" in report.issues
    assert any(issue.startswith("High error rate") for issue in report.issues)


async def test_intermittent_failures_above_twenty_percent_are_a_high_error_rate(
    client: NexlaClient, org: Org
) -> None:
    """Four of ten runs partial is over the reference's 20 % threshold."""
    report = await health(client, org, "high_error_rate")
    assert report.error_rate is not None and report.error_rate > 0.2
    assert any(issue.startswith("High error rate") for issue in report.issues)


async def test_a_flow_without_recent_runs_is_stale(client: NexlaClient, org: Org) -> None:
    """Active, but its last run started 30 h ago."""
    report = await health(client, org, "stale_data")
    assert report.state == "stale"
    assert report.last_run_age_hours is not None and report.last_run_age_hours > 24
    assert any(issue.startswith("No run in the last") for issue in report.issues)


@pytest.mark.parametrize(("kind", "status"), [("paused", "PAUSED"), ("never_activated", "INIT")])
async def test_a_flow_that_does_not_run_says_so(
    client: NexlaClient, org: Org, kind: str, status: str
) -> None:
    """Paused and never-activated flows report their status as the issue."""
    report = await health(client, org, kind)
    assert not report.healthy
    assert report.issues[0] == f"Flow is {status}, so it does not run"


async def test_unknown_flows_and_ambiguous_targets_are_clear_errors(client: NexlaClient) -> None:
    """A missing flow is NotFoundError; naming it twice is refused before any call."""
    with pytest.raises(NotFoundError):
        await check_flow_health(client, FlowTarget(flow_id=424242), now=now())
    with pytest.raises(ValidationError):
        FlowTarget(flow_id=1, resource_type="data_sources", resource_id=2)
