"""track_sla against the sandbox: success rate, latency from destination write times, data age."""

from __future__ import annotations

import pytest

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.sla import SlaReport, SlaTargets, track_sla
from tests.runbooks.sandbox_org import Org, now

pytestmark = pytest.mark.anyio


async def sla(client: NexlaClient, org: Org, kind: str, **targets: float) -> SlaReport:
    row = await org.scenario(kind)
    return await track_sla(
        client, FlowTarget(flow_id=row["flow_id"]), SlaTargets(**targets), now=now()
    )


def check(report: SlaReport, name: str):
    return next(c for c in report.checks if c.name == name)


async def test_a_healthy_flow_meets_the_reference_targets(client: NexlaClient, org: Org) -> None:
    """Every run clean, each finishing within 300 s, data fresher than 24 h."""
    report = await sla(client, org, "healthy")
    assert report.compliant is True and report.violations_total == 0
    assert report.runs > 24 and report.window_days == 7
    assert check(report, "success_rate").observed == 1.0
    latency = check(report, "latency")
    assert latency.ok and latency.observed is not None and 0 < latency.observed <= 300


async def test_record_rejections_break_the_success_rate_run_by_run(
    client: NexlaClient, org: Org
) -> None:
    """Partial runs count against the success rate and are each listed, newest first."""
    report = await sla(client, org, "high_error_rate")
    rate = check(report, "success_rate")
    assert rate.ok is False and rate.observed is not None and rate.observed < 0.95
    assert report.compliant is False
    assert report.violations and {v.kind for v in report.violations} == {"partial"}
    assert [v.run_id for v in report.violations] == sorted(
        (v.run_id for v in report.violations), reverse=True
    )
    assert report.violations_total >= len(report.violations)


async def test_a_tight_latency_target_flags_slow_runs(client: NexlaClient, org: Org) -> None:
    """With a 1 s target every delivered run is too slow, with its latency as the value."""
    report = await sla(client, org, "healthy", max_latency_s=1)
    assert check(report, "latency").ok is False
    assert report.violations and all(
        v.kind == "latency" and (v.value or 0) > 1 for v in report.violations
    )


async def test_stale_data_breaks_the_age_target(client: NexlaClient, org: Org) -> None:
    """The latest delivery is 30 h old: over 24 h, within 48 h."""
    assert check(await sla(client, org, "stale_data"), "data_age").ok is False
    assert check(await sla(client, org, "stale_data", max_age_hours=48), "data_age").ok is True


async def test_a_flow_without_runs_is_not_judged(client: NexlaClient, org: Org) -> None:
    """No runs: nothing measured, so neither compliant nor not."""
    report = await sla(client, org, "never_activated")
    assert report.runs == 0 and report.compliant is None
    assert all(c.ok is None for c in report.checks)


async def test_a_window_outside_one_to_thirty_days_is_refused(
    client: NexlaClient, org: Org
) -> None:
    """Bad input changes nothing and says what is allowed."""
    row = await org.scenario("healthy")
    with pytest.raises(ValidationError, match="between 1 and 30"):
        await track_sla(
            client, FlowTarget(flow_id=row["flow_id"]), SlaTargets(), days=31, now=now()
        )
