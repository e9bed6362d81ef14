"""Every seeded or injected incident is classifiable from API evidence, never from ids or names.

`gather` collects the evidence a diagnosis runbook would read (statuses, run ages and errors,
probe results, log wording, audit entries, notifications); `classify` is a deliberately
simple reference classifier over that evidence. If the sandbox's incidents stop looking like
their real-world counterparts, these tests fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from nexla_mcp.sandbox import create_app

from .conftest import BASE_URL, START, FakeClock, authorize, scenarios

pytestmark = pytest.mark.anyio

NOW_MS = int(START * 1000)
HOUR_MS = 3600 * 1000
INCIDENT_KINDS = (
    "credential_expired",
    "transform_error",
    "schema_mismatch",
    "rate_limited",
    "network_timeout",
    "resource_conflict",
    "flow_not_running",
    "high_error_rate",
    "stale_data",
    "permission_denied",
)


@dataclass
class Evidence:
    status: str
    last_run_age_h: float | None
    run_errors: list[int]  # errors per run across the flow, newest first (last 10 runs)
    source_records: list[int]  # records read per run, newest first (last 20 runs)
    probe_status: int | None
    tree_status: int | None
    logs: list[dict[str, Any]] = field(default_factory=list)  # the last 24 h of flow logs
    audit: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(entry["log"] for entry in self.logs)


async def _summary(
    api: httpx.AsyncClient, rt: str, resource_id: int, size: int
) -> list[dict[str, Any]]:
    reply = await api.get(f"/{rt}/{resource_id}/metrics/run_summary", params={"size": size})
    return reply.json()["metrics"]["data"]


async def gather(api: httpx.AsyncClient, row: dict[str, Any]) -> Evidence:
    flow = (await api.get(f"/flows/{row['flow_id']}")).json()
    source_runs = await _summary(api, "data_sources", row["data_source_id"], 20)
    errors: dict[int, int] = {run["runId"]: run["errors"] for run in source_runs[:10]}
    for rt, ids in (("data_sets", row["data_set_ids"]), ("data_sinks", row["data_sink_ids"])):
        for resource_id in ids:
            for run in await _summary(api, rt, resource_id, 10):
                if run["runId"] in errors:
                    errors[run["runId"]] += run["errors"]
    last = flow["flows"][0]["last_run_id"]
    probe_status = tree_status = None
    if row["data_credentials_id"]:
        base = f"/data_credentials/{row['data_credentials_id']}"
        probe_status = (await api.get(f"{base}/probe")).status_code
        tree_status = (await api.post(f"{base}/probe/tree", json={"depth": 1})).status_code
    logs = (await api.get(f"/flows/{row['flow_id']}/logs", params={"per_page": 1000})).json()
    notes = []
    for rt, label in (
        ("data_source_id", "SOURCE"),
        ("data_set_ids", "DATASET"),
        ("data_sink_ids", "SINK"),
    ):
        ids = row[rt] if isinstance(row[rt], list) else [row[rt]]
        for resource_id in ids:
            params = {"resource_type": label, "resource_id": resource_id}
            notes += (await api.get("/notifications", params=params)).json()
    return Evidence(
        status=flow["flows"][0]["status"],
        last_run_age_h=None if last is None else (NOW_MS - last) / HOUR_MS,
        run_errors=[errors[run_id] for run_id in sorted(errors, reverse=True)],
        source_records=[run["records"] for run in source_runs],
        probe_status=probe_status,
        tree_status=tree_status,
        logs=logs["logs"]["data"],
        audit=(await api.get(f"/flows/{row['flow_id']}/audit_log")).json(),
        notifications=notes,
    )


def classify(evidence: Evidence) -> str:
    """A reference classifier keyed on real-world signals only."""
    text = evidence.text()
    if evidence.status != "ACTIVE":
        return "flow_not_running"
    if evidence.probe_status == 403:
        return "credential_expired"
    if evidence.tree_status == 403:
        return "permission_denied"
    if evidence.last_run_age_h is None or evidence.last_run_age_h >= 24:
        return "stale_data"
    signatures = (
        ("Transform failed", "transform_error"),
        ("Schema validation failed", "schema_mismatch"),
        ("429 Too Many Requests", "rate_limited"),
        ("timed out", "network_timeout"),
        ("409 Conflict", "resource_conflict"),
    )
    for needle, category in signatures:
        if needle in text:
            return category
    failing = sum(1 for errors in evidence.run_errors if errors)
    if evidence.run_errors and failing / len(evidence.run_errors) > 0.2:
        return "high_error_rate"
    return "healthy"


async def test_scenarios_list_every_incident_kind_healthy_flows_and_the_paused_one(
    api: httpx.AsyncClient,
) -> None:
    """/_sandbox/scenarios names each kind, its expected category and its resource ids."""
    rows = await scenarios(api)
    kinds = [row["kind"] for row in rows]
    assert set(INCIDENT_KINDS) <= set(kinds)
    assert kinds.count("healthy") >= 3 and "paused" in kinds
    for row in rows:
        expected = {"paused": "flow_not_running", "never_activated": "flow_not_running"}.get(
            row["kind"], row["kind"]
        )
        assert row["expected_category"] == expected
        assert set(row) == {
            "kind",
            "flow_id",
            "data_source_id",
            "data_set_ids",
            "data_sink_ids",
            "data_credentials_id",
            "expected_category",
        }


async def test_every_seeded_scenario_is_classified_as_its_expected_category(
    api: httpx.AsyncClient,
) -> None:
    """Evidence gathered through the API alone leads to each scenario's expected category."""
    rows = await scenarios(api)
    outcomes = {row["flow_id"]: classify(await gather(api, row)) for row in rows}
    assert outcomes == {row["flow_id"]: row["expected_category"] for row in rows}


async def test_healthy_flows_ran_recently_without_errors_and_probe_ok(
    api: httpx.AsyncClient,
) -> None:
    """Healthy: ACTIVE, a run within hours, zero errors in the last ten runs, credential OK."""
    for row in [row for row in await scenarios(api) if row["kind"] == "healthy"]:
        evidence = await gather(api, row)
        assert evidence.last_run_age_h is not None and evidence.last_run_age_h < 3
        assert evidence.run_errors and not any(evidence.run_errors)
        assert evidence.probe_status == 200


async def test_credential_expired_shows_upstream_401s_failing_runs_and_an_error_notification(
    api: httpx.AsyncClient,
) -> None:
    """The probe says the token expired, the runs fail with 401 Unauthorized, and Nexla notified."""
    row = next(row for row in await scenarios(api) if row["kind"] == "credential_expired")
    evidence = await gather(api, row)
    assert evidence.probe_status == 403
    assert "401 Unauthorized" in evidence.text() and evidence.run_errors[0] > 0
    assert any(note["level"] == "ERROR" for note in evidence.notifications)


async def test_transform_error_follows_a_code_change_and_spares_the_source(
    api: httpx.AsyncClient,
) -> None:
    """Source runs are clean, the derived nexset fails, and the code changed just before."""
    row = next(row for row in await scenarios(api) if row["kind"] == "transform_error")
    evidence = await gather(api, row)
    source_runs = await _summary(api, "data_sources", row["data_source_id"], 10)
    assert not any(run["errors"] for run in source_runs)
    derived_runs = await _summary(api, "data_sets", row["data_set_ids"][-1], 50)
    first_failure = min(run["runId"] for run in derived_runs if run["errors"])
    transform_id = (await api.get(f"/data_sets/{row['data_set_ids'][-1]}?expand=1")).json()[
        "transform_id"
    ]
    changes = (await api.get(f"/transforms/{transform_id}/audit_log")).json()
    code_changes = [entry for entry in changes if "code" in entry["change_summary"]]
    assert code_changes
    assert code_changes[0]["created_at"] < _iso(first_failure)
    assert "KeyError" in evidence.text()


async def test_schema_mismatch_shows_validation_failures_after_a_schema_change(
    api: httpx.AsyncClient,
) -> None:
    """Validation failures name the field and types; the audit shows the output schema changed."""
    row = next(row for row in await scenarios(api) if row["kind"] == "schema_mismatch")
    evidence = await gather(api, row)
    assert "expected number, got string" in evidence.text()
    assert any("output_schema" in entry["change_summary"] for entry in evidence.audit)


async def test_throttled_and_timed_out_sources_deliver_well_below_their_usual_volume(
    api: httpx.AsyncClient,
) -> None:
    """rate_limited and network_timeout runs read far fewer records than the same source used to."""
    for kind in ("rate_limited", "network_timeout"):
        row = next(row for row in await scenarios(api) if row["kind"] == kind)
        records = (await gather(api, row)).source_records
        recent, usual = records[0], max(records)
        assert recent < 0.5 * usual, kind


async def test_resource_conflict_errors_are_on_the_sink(api: httpx.AsyncClient) -> None:
    """Duplicate-key rejections show as sink errors and sink log lines."""
    row = next(row for row in await scenarios(api) if row["kind"] == "resource_conflict")
    evidence = await gather(api, row)
    sink_runs = await _summary(api, "data_sinks", row["data_sink_ids"][0], 5)
    assert all(run["errors"] > 0 for run in sink_runs)
    sink_lines = [entry["log"] for entry in evidence.logs if entry["resource_type"] == "SINK"]
    assert any("duplicate key" in line and "already exists" in line for line in sink_lines)


async def test_not_running_flows_are_explained_by_audit_and_notifications(
    api: httpx.AsyncClient,
) -> None:
    """Auto-paused by the system after failures, or paused by a person; idle for 24h+."""
    rows = {row["kind"]: row for row in await scenarios(api)}
    auto = await gather(api, rows["flow_not_running"])
    manual = await gather(api, rows["paused"])
    for evidence in (auto, manual):
        assert evidence.status == "PAUSED" and evidence.last_run_age_h >= 24
    auto_pauses = [
        entry
        for entry in auto.audit
        if entry["object_changes"].get("status") == ["ACTIVE", "PAUSED"]
    ]
    assert auto_pauses and all(
        entry["user"]["email"] == "system@nexla.com" for entry in auto_pauses
    )
    assert any("paused automatically" in note["message"] for note in auto.notifications)
    manual_pauses = [entry for entry in manual.audit if entry["object_changes"].get("status")]
    assert manual_pauses and all(
        entry["user"]["email"] != "system@nexla.com" for entry in manual_pauses
    )
    never = await gather(api, rows["never_activated"])
    assert never.status == "INIT" and never.last_run_age_h is None


async def test_high_error_rate_has_varied_record_errors_and_no_other_signature(
    api: httpx.AsyncClient,
) -> None:
    """More than 20% of the last ten runs fail, with several different record-level reasons."""
    row = next(row for row in await scenarios(api) if row["kind"] == "high_error_rate")
    evidence = await gather(api, row)
    assert sum(1 for errors in evidence.run_errors if errors) / len(evidence.run_errors) > 0.2
    reasons = {
        entry["log"].split(" (record offset")[0]
        for entry in evidence.logs
        if entry["severity"] == "ERROR" and entry["log_type"] == "LOG"
    }
    assert len(reasons) >= 3
    for needle in (
        "401 Unauthorized",
        "403 Forbidden",
        "429 Too Many",
        "409 Conflict",
        "timed out",
        "Transform failed",
        "Schema validation",
    ):
        assert needle not in evidence.text()


async def test_stale_data_is_active_with_healthy_history_but_no_run_for_a_day(
    api: httpx.AsyncClient,
) -> None:
    """ACTIVE, last run about 30 hours ago, earlier runs clean."""
    row = next(row for row in await scenarios(api) if row["kind"] == "stale_data")
    evidence = await gather(api, row)
    assert evidence.status == "ACTIVE" and 24 <= evidence.last_run_age_h <= 36
    assert not any(evidence.run_errors) and evidence.probe_status == 200


@pytest.mark.parametrize("kind", [*INCIDENT_KINDS, "paused", "never_activated", "healthy"])
async def test_injected_incident_shows_like_the_seeded_one(
    api: httpx.AsyncClient, kind: str
) -> None:
    """POST /_sandbox/incidents turns a healthy flow into `kind`, classified the same way."""
    target = [row for row in await scenarios(api) if row["kind"] == "healthy"][1]
    reply = await api.post("/_sandbox/incidents", json={"kind": kind, "flow_id": target["flow_id"]})
    row = reply.json()
    assert reply.status_code == 200 and row["kind"] == kind and row["flow_id"] == target["flow_id"]
    assert classify(await gather(api, row)) == row["expected_category"]
    listed = {entry["flow_id"]: entry["kind"] for entry in await scenarios(api)}
    assert listed[target["flow_id"]] == kind


@pytest.fixture
async def generated(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a 100-flow generated org, whose flows share credentials and transforms."""
    app = create_app(flows=100, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        yield await authorize(client)


async def _source_sharing_its_credential(api: httpx.AsyncClient) -> dict[str, Any]:
    """A generated healthy flow's source whose credential other sources or sinks use too."""
    flows = (await api.get("/flows", params={"per_page": 1000})).json()
    listed = {row["flow_id"] for row in await scenarios(api)}
    in_use = [item["data_credentials_id"] for item in flows["data_sinks"] + flows["data_sources"]]
    return next(
        item
        for item in flows["data_sources"]
        if item["origin_node_id"] not in listed and in_use.count(item["data_credentials_id"]) > 1
    )


async def _inject(api: httpx.AsyncClient, kind: str, flow_id: int) -> dict[str, Any]:
    reply = await api.post("/_sandbox/incidents", json={"kind": kind, "flow_id": flow_id})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_injecting_a_credential_incident_spares_flows_sharing_that_credential(
    generated: httpx.AsyncClient,
) -> None:
    """A shared credential is copied for the broken flow; the original still passes its probes."""
    api = generated
    source = await _source_sharing_its_credential(api)
    row = await _inject(api, "credential_expired", source["origin_node_id"])
    assert row["data_credentials_id"] != source["data_credentials_id"]
    shared = f"/data_credentials/{source['data_credentials_id']}"
    assert (await api.get(f"{shared}/probe")).status_code == 200
    assert (await api.post(f"{shared}/probe/tree", json={"depth": 1})).status_code == 200
    assert classify(await gather(api, row)) == "credential_expired"


async def test_a_credential_swap_is_audited_just_before_the_first_failing_run(
    generated: httpx.AsyncClient,
) -> None:
    """The swap to the flow's own (broken) credential sits between the last good run and the
    first failing one, so "what changed just before the failure" finds it in order."""
    api = generated
    source = await _source_sharing_its_credential(api)
    row = await _inject(api, "credential_expired", source["origin_node_id"])
    runs = sorted(
        await _summary(api, "data_sources", source["id"], 1000), key=lambda run: run["runId"]
    )
    first_failure = next(run["runId"] for run in runs if run["errors"])
    last_good = max(run["runId"] for run in runs if run["runId"] < first_failure)
    audit = (await api.get(f"/data_sources/{source['id']}/audit_log")).json()
    swaps = [entry for entry in audit if "data_credentials_id" in entry["object_changes"]]
    assert [entry["object_changes"]["data_credentials_id"] for entry in swaps] == [
        [source["data_credentials_id"], row["data_credentials_id"]]
    ]
    assert _iso(last_good) < swaps[0]["created_at"] < _iso(first_failure)
    credential = (await api.get(f"/data_credentials/{row['data_credentials_id']}")).json()
    assert credential["created_at"] == swaps[0]["created_at"]


async def test_a_transform_error_spares_flows_sharing_that_transform(
    generated: httpx.AsyncClient,
) -> None:
    """A reusable transform used by several nexsets is copied for the broken one; the others
    keep the original, unedited."""
    api = generated
    users: dict[int, list[dict[str, Any]]] = {}
    for item in (await api.get("/data_sets", params={"per_page": 1000})).json():
        if item["transform_id"]:
            users.setdefault(item["transform_id"], []).append(item)
    shared_id, (broken, spared, *_) = next(
        (key, found) for key, found in users.items() if len(found) >= 2
    )
    shared = (await api.get(f"/transforms/{shared_id}")).json()
    row = await _inject(api, "transform_error", broken["origin_node_id"])
    after = (await api.get(f"/transforms/{shared_id}")).json()
    assert (after["code"], after["updated_at"]) == (shared["code"], shared["updated_at"])
    assert after["data_sets"] == [item for item in shared["data_sets"] if item != broken["id"]]
    spared_now = (await api.get(f"/data_sets/{spared['id']}?expand=1")).json()
    own_id = (await api.get(f"/data_sets/{broken['id']}?expand=1")).json()["transform_id"]
    assert spared_now["transform_id"] == shared_id and own_id != shared_id
    changes = (await api.get(f"/transforms/{own_id}/audit_log")).json()
    assert any("code" in entry["change_summary"] for entry in changes)
    assert classify(await gather(api, row)) == "transform_error"


async def test_rotating_an_expired_credential_makes_later_runs_healthy(
    api: httpx.AsyncClient,
) -> None:
    """New secrets on the credential fix it: the probe passes and runs after the fix are clean."""
    row = next(row for row in await scenarios(api) if row["kind"] == "credential_expired")
    base = f"/data_credentials/{row['data_credentials_id']}"
    await api.put(
        base, json={"credentials": {"access_token": "rotated", "refresh_token": "rotated"}}
    )
    assert (await api.get(f"{base}/probe")).status_code == 200
    run = (
        await api.post("/_sandbox/runs", json={"flow_id": row["flow_id"], "outcome": "success"})
    ).json()
    assert run["errors"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"kind": "volcano", "flow_id": 9001}, 400, id="unknown-kind"),
        pytest.param({"kind": "stale_data", "flow_id": 1}, 404, id="unknown-flow"),
        pytest.param({"kind": "stale_data", "flow_id": "9001"}, 400, id="string-flow-id"),
        pytest.param({"kind": "stale_data"}, 400, id="no-flow-id"),
    ],
)
async def test_bad_incident_requests_are_refused(
    api: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    """Unknown kinds, unknown flows and malformed ids are 4xx with a message."""
    reply = await api.post("/_sandbox/incidents", json=body)
    assert reply.status_code == status and reply.json()["message"]


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
