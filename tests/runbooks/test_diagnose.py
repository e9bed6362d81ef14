"""diagnose_flow on the sandbox: seeded and injected incidents, evidence, deadline, fan-out."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx
import pytest
from starlette.testclient import TestClient
from trio.testing import MockClock

from nexla_mcp.errors import UpstreamTimeoutError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.diagnose import Diagnosis, diagnose_flow
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.report import iso
from nexla_mcp.runbooks.runs import run_started_at
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.planted import PLANTED_SECRETS
from tests.runbooks.sandbox_org import API_URL, Org, now

pytestmark = pytest.mark.anyio


def _seeded() -> list[dict[str, Any]]:
    with TestClient(create_app()) as sandbox:
        return sandbox.get("/_sandbox/scenarios").json()["scenarios"]


SEEDED = _seeded()
INCIDENT_KINDS = sorted({row["kind"] for row in SEEDED} - {"healthy", "never_activated"})


async def diagnose(client: NexlaClient, flow_id: int, **options: Any) -> Diagnosis:
    return await diagnose_flow(client, FlowTarget(flow_id=flow_id), now=now(), **options)


class Recording(httpx.AsyncBaseTransport):
    """Passes requests through and records (path, start, end) of each, at the HTTP boundary."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: list[tuple[str, float, float]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = anyio.current_time()
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.calls.append((request.url.path, start, anyio.current_time()))


def max_in_flight(calls: list[tuple[str, float, float]]) -> int:
    events = sorted([(start, 1) for _, start, _ in calls] + [(end, -1) for _, _, end in calls])
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


@pytest.mark.parametrize("row", SEEDED, ids=[f"{row['kind']}-{row['flow_id']}" for row in SEEDED])
async def test_every_seeded_scenario_gets_its_expected_category_with_evidence(
    sandbox_app: Any, row: dict[str, Any]
) -> None:
    """Each seeded flow is classified as the sandbox expects, from complete evidence, in at
    most twelve upstream calls."""
    recording = Recording(httpx.ASGITransport(app=sandbox_app))
    async with (
        httpx.AsyncClient(transport=recording) as http,
        NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http) as client,
    ):
        diagnosis = await diagnose(client, row["flow_id"])
    assert diagnosis.category == row["expected_category"], diagnosis.summary
    assert diagnosis.complete and not diagnosis.missing
    assert diagnosis.evidence, "a verdict without evidence"
    assert all(re.match(r"^GET /", item.call) for item in diagnosis.evidence)
    assert diagnosis.summary and len(diagnosis.summary) <= 1200
    if row["expected_category"] != "healthy":
        assert diagnosis.next_actions, "a problem without next steps"
    assert len([call for call in recording.calls if not call[0].startswith("/token")]) <= 12


async def test_seeded_scenarios_cover_every_category_but_unknown() -> None:
    """The table above is the whole troubleshooting table, plus healthy flows."""
    expected = {row["expected_category"] for row in SEEDED}
    assert expected == {
        "credential_expired", "transform_error", "schema_mismatch", "rate_limited",
        "network_timeout", "resource_conflict", "flow_not_running", "high_error_rate",
        "stale_data", "permission_denied", "healthy",
    }  # fmt: skip


@pytest.mark.parametrize("kind", [*INCIDENT_KINDS, "healthy"])
async def test_incidents_injected_into_other_flows_are_classified_too(
    client: NexlaClient, org: Org, kind: str
) -> None:
    """Injected into each healthy seeded flow (other connectors, names, shapes), every kind
    is recognised: the verdict follows the evidence, not the flow."""
    targets = [row["flow_id"] for row in await org.scenarios() if row["kind"] == "healthy"]
    assert len(targets) >= 3
    for flow_id in targets:
        injected = await org.inject(kind, flow_id)
        diagnosis = await diagnose(client, flow_id)
        assert diagnosis.category == injected["expected_category"], (flow_id, diagnosis.summary)


async def test_a_broken_flow_that_recovers_is_diagnosed_healthy(
    client: NexlaClient, org: Org
) -> None:
    """Healing each seeded incident flow turns its verdict to healthy."""
    broken = [row for row in await org.scenarios() if row["expected_category"] not in ("healthy",)]
    for row in broken:
        if row["kind"] == "never_activated":
            continue  # a flow with no nexset cannot have healthy runs
        await org.inject("healthy", row["flow_id"])
        assert (await diagnose(client, row["flow_id"])).category == "healthy", row


async def test_expired_credential_is_proved_by_probe_and_logs_and_rotation_comes_next(
    client: NexlaClient, org: Org
) -> None:
    """The refused credential's probe and the failing run's 401 lines are both cited."""
    row = await org.scenario("credential_expired")
    diagnosis = await diagnose(client, row["flow_id"])
    credential = row["data_credentials_id"]
    calls = {item.call for item in diagnosis.evidence}
    assert f"GET /data_credentials/{credential}/probe" in calls
    assert any("/flow/logs?run_id=" in call for call in calls)
    assert any("401" in item.finding for item in diagnosis.evidence)
    refused = [c for c in diagnosis.credentials if not c.ok]
    assert [c.credential_id for c in refused] == [credential]
    steps = [(a.tool or a.prompt, a.arguments) for a in diagnosis.next_actions]
    assert ("probe_credential", {"credential_id": credential}) in steps
    assert ("rotate_credential", {"credential_id": str(credential)}) in steps
    assert diagnosis.confidence >= 0.8


async def test_transform_error_points_at_the_edit_made_just_before_the_failures(
    client: NexlaClient, org: Org
) -> None:
    """The transform's update shortly before the first failing run is a change and evidence."""
    row = await org.scenario("transform_error")
    diagnosis = await diagnose(client, row["flow_id"])
    change = next(c for c in diagnosis.changes if c.what.startswith("transform "))
    assert change.relative and change.relative.endswith("min before the first failing run")
    assert any(item.finding.startswith("transform ") for item in diagnosis.evidence)
    assert any(
        re.fullmatch(r"GET /code_containers/\d+/audit_log", item.call)
        for item in diagnosis.evidence
        if item.finding.startswith("transform ")
    ), "the edit should come from the transform's own audit log"
    assert diagnosis.errors and "Transform failed" in diagnosis.errors[0].template


async def test_schema_mismatch_cites_the_detected_schema_change(
    client: NexlaClient, org: Org
) -> None:
    """The schema detector's change to output_schema, before the failures, is listed."""
    row = await org.scenario("schema_mismatch")
    diagnosis = await diagnose(client, row["flow_id"])
    change = next(c for c in diagnosis.changes if "output_schema" in c.what)
    assert change.by == "nexla-schema-detector"
    assert "before the first failing run" in (change.relative or "")


async def test_the_failing_run_is_compared_with_the_last_good_run(
    client: NexlaClient, org: Org
) -> None:
    """Comparison: the latest (failed) run against the last clean one, overall and per
    resource, each difference one line."""
    row = await org.scenario("transform_error")
    diagnosis = await diagnose(client, row["flow_id"])
    comparison, runs = diagnosis.comparison, diagnosis.runs
    assert comparison is not None and comparison.baseline_run_id is not None and runs is not None
    assert runs.latest_status == "failed"
    assert iso(run_started_at(comparison.run_id)) == runs.latest_at
    assert iso(run_started_at(comparison.baseline_run_id)) == runs.last_success_at
    assert any(d.startswith("errors ") for d in comparison.differences)
    failing = [r for r in comparison.resources if re.search(r"errors [1-9]\d* vs 0\b", r)]
    assert failing and failing[0].startswith(f"nexset {row['data_set_ids'][-1]} ")


async def test_a_paused_flow_says_who_paused_it(client: NexlaClient, org: Org) -> None:
    """An automatic pause after failures shows the monitor's pause and the failures before it."""
    row = await org.scenario("flow_not_running")
    diagnosis = await diagnose(client, row["flow_id"])
    pause = next(c for c in diagnosis.changes if c.what.endswith(": paused"))
    assert pause.by == "nexla-flow-monitor"
    assert "Before it stopped" in diagnosis.summary
    assert [a.tool for a in diagnosis.next_actions] == [
        "get_flow_logs",
        "activate_flow",
        "get_run_metrics",
    ]  # then watch


async def test_a_flow_is_found_by_any_of_its_resources(client: NexlaClient, org: Org) -> None:
    """resource_type + resource_id of a destination diagnose the same flow."""
    row = await org.scenario("resource_conflict")
    by_sink = await diagnose_flow(
        client,
        FlowTarget(resource_type="data_sinks", resource_id=row["data_sink_ids"][0]),
        now=now(),
    )
    assert by_sink.flow_id == row["flow_id"] and by_sink.category == "resource_conflict"


async def test_no_planted_secret_reaches_any_diagnosis(client: NexlaClient, org: Org) -> None:
    """Log lines and probe replies echo tokens and passwords; none survives into a report."""
    for row in await org.scenarios():
        text = json.dumps((await diagnose(client, row["flow_id"])).model_dump(mode="json"))
        leaked = [secret for secret in PLANTED_SECRETS if secret in text]
        assert not leaked, (row["kind"], leaked)


# trio's mock clock moves only when every task waits, and then straight to the next timer: the
# sandbox's in-process replies take no time, so the deadline, not the machine's load, decides
# which calls are missing, and the elapsed time can be checked exactly.
on_mock_clock = pytest.mark.parametrize(
    "anyio_backend", [pytest.param(("trio", {"clock": MockClock(autojump_threshold=0)}), id="trio")]
)


@on_mock_clock
async def test_on_its_deadline_the_diagnosis_returns_what_it_has_and_lists_the_rest(
    client: NexlaClient, org: Org
) -> None:
    """Probes stuck for 5 s do not hold a 0.5 s diagnosis: it answers at its deadline with
    the runs that had arrived, and lists the probes and the log reads it skipped as missing."""
    row = await org.scenario("credential_expired")
    await org.faults(latency_ms=5000, paths=["/data_credentials"])
    started = anyio.current_time()
    diagnosis = await diagnose(client, row["flow_id"], deadline_s=0.5)
    assert anyio.current_time() - started == pytest.approx(0.5)
    assert not diagnosis.complete
    probe = f"GET /data_credentials/{row['data_credentials_id']}/probe (deadline)"
    assert probe in diagnosis.missing
    for call in diagnosis.missing:  # the stuck probes, and the log reads due after them
        assert call.startswith("GET /data_credentials/") or "/flow/logs" in call, call
    assert diagnosis.runs is not None, "what arrived before the deadline is kept"
    assert diagnosis.confidence <= 0.8


@on_mock_clock
async def test_when_not_even_the_flow_arrives_in_time_the_error_says_so(
    client: NexlaClient, org: Org
) -> None:
    """Nothing to diagnose from: a retryable timeout at the deadline, not a made-up verdict."""
    row = await org.scenario("healthy")
    await client.list_flows(page=1, per_page=1)  # log in before the fault
    await org.faults(latency_ms=5000, paths=["/flows"])
    started = anyio.current_time()
    with pytest.raises(UpstreamTimeoutError) as caught:
        await diagnose(client, row["flow_id"], deadline_s=0.3)
    assert anyio.current_time() - started == pytest.approx(0.3)
    assert caught.value.retryable and caught.value.resource_id == row["flow_id"]


async def test_with_upstream_latency_the_calls_overlap_and_stay_few(
    org: Org, sandbox_app: Any
) -> None:
    """With 50 ms per upstream call, diagnose_flow's requests run side by side (several in
    flight at once) and number no more than twelve; timings are in bench/, not here."""
    row = await org.scenario("transform_error")
    await org.faults(latency_ms=50)
    recording = Recording(httpx.ASGITransport(app=sandbox_app))
    async with (
        httpx.AsyncClient(transport=recording) as http,
        NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http) as client,
    ):
        await client.list_flows(page=1, per_page=1)  # log in first: the token is not the runbook's
        recording.calls.clear()
        diagnosis = await diagnose(client, row["flow_id"])
    upstream = [call for call in recording.calls if not call[0].startswith("/token")]
    assert diagnosis.category == "transform_error"
    assert 6 <= len(upstream) <= 12
    assert max_in_flight(upstream) >= 4
