"""org_health against the sandbox: the seeded org, and a generated 10,000-flow org."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.org import OrgHealthReport, org_health
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from tests.runbooks.sandbox_org import API_URL, Org, now

pytestmark = pytest.mark.anyio

SEVERITY_ORDER = ["critical", "high", "medium", "low"]


class ProgressLog:
    """Collects (done, total, message) progress reports."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, float, str]] = []

    async def __call__(self, done: float, total: float, message: str) -> None:
        self.reports.append((done, total, message))

    def check(self) -> None:
        done = [report[0] for report in self.reports]
        assert len(done) >= 3 and done == sorted(done), done
        assert self.reports[-1][:2] == (100, 100)


def check_against_scenarios(report: OrgHealthReport, scenarios: list[dict[str, Any]]) -> None:
    """Every flow with an incident is a problem of its expected category; no other flow is."""
    expected = {row["flow_id"]: row["expected_category"] for row in scenarios
                if row["expected_category"] != "healthy"}  # fmt: skip
    found = {problem.flow_id: problem.category for problem in report.problems}
    assert found == expected
    ranks = [SEVERITY_ORDER.index(problem.severity) for problem in report.problems]
    assert ranks == sorted(ranks), "problems must be ranked worst first"


async def test_the_seeded_org_yields_every_incident_and_no_healthy_flow(
    client: NexlaClient, org: Org
) -> None:
    """Fifteen flows: twelve problems with the expected categories, ranked, with progress."""
    progress = ProgressLog()
    report = await org_health(client, now=now(), limit=100, progress=progress)
    assert report.flows_scanned == len(await org.scenarios())
    assert report.complete and not report.truncated
    check_against_scenarios(report, await org.scenarios())
    by_flow = {p.flow_id: p for p in report.problems}
    never = next(row for row in await org.scenarios() if row["kind"] == "never_activated")
    assert by_flow[never["flow_id"]].severity == "low"
    # The monitor paused that flow 30 h ago: the longest time without delivery ranks first.
    stopped = next(row for row in await org.scenarios() if row["kind"] == "flow_not_running")
    assert report.problems[0].severity == "critical"
    assert report.problems[0].flow_id == stopped["flow_id"]
    assert report.problems[1].severity == "critical" and report.problems[1].failing_since
    assert [a.tool for a in report.next_actions] == ["diagnose_flow"] * 3
    assert report.next_actions[0].arguments == {"flow_id": report.problems[0].flow_id}
    progress.check()


async def test_only_suspects_get_a_deep_check(client: NexlaClient, org: Org) -> None:
    """Healthy, paused and never-started flows cost no run-history call."""
    report = await org_health(client, now=now())
    active_problems = [p for p in report.problems if p.status == "ACTIVE"]
    assert report.deep_checked == len(active_problems)


async def test_limit_caps_the_list_but_not_the_counts(client: NexlaClient) -> None:
    """With limit=2 the two worst are listed; counts still cover all problems."""
    report = await org_health(client, now=now(), limit=2)
    assert len(report.problems) == 2 and report.truncated
    assert report.flows_with_problems == sum(report.by_severity.values()) > 2


@pytest.mark.slow
async def test_a_ten_thousand_flow_org_is_scanned_and_injected_incidents_rank_on_top() -> None:
    """10,000 generated flows (about 2 % with incidents, some paused) plus three incidents
    injected into healthy ones: every incident is found with its category, no healthy flow
    is flagged, and each injected incident ranks above every paused or never-run flow.
    Runtime on 2 shared cores: about 10 s (see the report in bench/)."""
    app = create_app(flows=10_000)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http,
        NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http) as client,
    ):
        org = Org(http)
        incident_flows = {row["flow_id"] for row in await org.scenarios()}
        page = await client.list_flows(page=7, per_page=100, origin_only=1)
        healthy = [node.id for node in page.flows if node.id not in incident_flows][:3]
        injected = [
            await org.inject(kind, flow_id)
            for kind, flow_id in zip(
                ("credential_expired", "transform_error", "rate_limited"), healthy, strict=True
            )
        ]
        progress = ProgressLog()
        report = await org_health(client, now=now(), limit=10_000, progress=progress)
        scenarios = await org.scenarios()
    assert report.flows_scanned == page.total and report.flows_scanned > 10_000
    assert report.complete
    check_against_scenarios(report, scenarios)
    ranked = [problem.flow_id for problem in report.problems]
    first_mild = next(i for i, p in enumerate(report.problems) if p.severity in ("medium", "low"))
    for row in injected:
        position = ranked.index(row["flow_id"])
        assert position < first_mild, (row, report.problems[position])
        assert report.problems[position].category == row["expected_category"]
    assert report.deep_checked < 0.05 * report.flows_scanned
    progress.check()
