"""The drill control API: messy histories through `POST /_sandbox/drills` and `/drills/heal`."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app


def auth_header(sandbox: TestClient) -> dict[str, str]:
    token = sandbox.post("/token", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def drill(sandbox: TestClient, **body: Any) -> Any:
    return sandbox.post("/_sandbox/drills", json=body)


def runs(sandbox: TestClient, headers: dict[str, str], source_id: int) -> list[dict[str, Any]]:
    """The flow's runs, newest first, with records and errors summed over its resources."""
    reply = sandbox.get(f"/data_sources/{source_id}/flow/metrics",
                        params={"from": "2000-01-01", "groupby": "runId", "per_page": 1000},
                        headers=headers)  # fmt: skip
    found = []
    for run_id, kinds in reply.json()["metrics"]["data"].items():
        metrics = [entry["metric"] for kind in kinds.values() for entry in kind]
        sinks = [entry["metric"] for entry in kinds["data_sinks"]] or [
            entry["metric"] for entry in kinds["data_sources"]
        ]
        found.append({"run_id": int(run_id), "records": sum(m["records"] for m in sinks),
                      "errors": sum(m["errors"] for m in metrics)})  # fmt: skip
    return found


@pytest.fixture
def sandbox() -> Any:
    with TestClient(create_app()) as client:
        yield client


def test_a_timeline_gives_the_flow_its_runs_oldest_first_ending_now(sandbox: TestClient) -> None:
    reply = drill(sandbox, flow_id=9001, prefill=False, timeline=[
        {"profile": "healthy", "runs": 3}, {"profile": "empty", "runs": 2},
        {"profile": "transform_error", "runs": 2}])  # fmt: skip
    assert reply.status_code == 200 and reply.json()["kind"] == "drill"
    found = runs(sandbox, auth_header(sandbox), 5101)
    assert len(found) == 7
    statuses = ["failed" if r["errors"] else "empty" if not r["records"] else "ok"
                for r in reversed(found)]  # fmt: skip
    assert statuses == ["ok"] * 3 + ["empty"] * 2 + ["failed"] * 2


def test_a_trailing_gap_leaves_the_flow_without_runs_for_that_long(sandbox: TestClient) -> None:
    drill(sandbox, flow_id=9005, timeline=[{"profile": "healthy", "runs": 5}, {"gap_hours": 30}])
    latest = max(r["run_id"] for r in runs(sandbox, auth_header(sandbox), 5102))
    state = sandbox.app.state.sandbox
    assert state.now_ms() - latest >= 30 * 3600 * 1000


def test_overlapping_causes_leave_their_changes_and_alerts_and_stay_broken(
    sandbox: TestClient,
) -> None:
    timeline = [{"profile": "transform_error", "runs": 3},
                {"profile": "credential_expired", "runs": 2}]  # fmt: skip
    drill(sandbox, flow_id=9001, timeline=timeline)
    headers = auth_header(sandbox)
    probe = sandbox.get("/data_credentials/5001/probe", headers=headers)
    assert probe.status_code != 200  # the credential is still expired
    audit = sandbox.get("/code_containers/7701/audit_log", headers=headers).json()
    assert any("code" in entry["object_changes"] for entry in audit)  # the transform edit
    notes = sandbox.get("/notifications", params={"per_page": 100}, headers=headers).json()
    messages = " ".join(note["message"] for note in notes)
    assert "Transform errors" in messages and "401 Unauthorized" in messages


def test_heal_fixes_the_cause_now_and_later_runs_succeed(sandbox: TestClient) -> None:
    drill(sandbox, flow_id=9015, timeline=[{"profile": "credential_expired", "runs": 3}])
    headers = auth_header(sandbox)
    reply = sandbox.post("/_sandbox/drills/heal", json={"flow_id": 9015})
    assert reply.status_code == 200 and reply.json()["healed"] is True
    assert sandbox.get("/data_credentials/5009/probe", headers=headers).status_code == 200
    ran = sandbox.post("/_sandbox/runs", json={"flow_id": 9015, "outcome": "success"}).json()
    assert ran["errors"] == 0


def test_noise_adds_lines_of_the_given_severity_before_the_runs_own(sandbox: TestClient) -> None:
    drill(sandbox, flow_id=9035, timeline=[{"profile": "resource_conflict", "runs": 2}],
          noise=[{"lines": 1500, "severity": "WARN", "messages": ["pool idle {n}"]}])  # fmt: skip
    headers = auth_header(sandbox)
    latest = max(runs(sandbox, headers, 5111), key=lambda r: r["run_id"])
    params = {"run_id": latest["run_id"], "from": latest["run_id"] - 60_000, "per_page": 1000}
    page = sandbox.get("/data_sources/5111/flow/logs", params=params, headers=headers).json()
    assert page["logs"]["meta"]["total_count"] > 1500
    assert all(line["severity"] == "WARNING" for line in page["logs"]["data"][:1000])
    errors = sandbox.get("/data_sources/5111/flow/logs", params={**params, "severity": "ERROR"},
                         headers=headers).json()["logs"]["data"]  # fmt: skip
    assert any("duplicate key" in line["log"] for line in errors)


def test_a_sink_credential_can_fail_its_probe_while_runs_deliver(sandbox: TestClient) -> None:
    drill(sandbox, flow_id=9005, timeline=[{"profile": "healthy", "runs": 3}],
          sink_credential="expired")  # fmt: skip
    headers = auth_header(sandbox)
    sink = sandbox.get("/data_sinks/7102", headers=headers).json()
    credential_id = sink["data_credentials"]["id"]
    assert (
        sandbox.get(f"/data_credentials/{credential_id}/probe", headers=headers).status_code != 200
    )
    assert all(r["records"] > 0 for r in runs(sandbox, headers, 5102))


@pytest.mark.parametrize("body", [
    {"flow_id": 9001}, {"flow_id": 9001, "timeline": []},
    {"flow_id": 9001, "timeline": [{"profile": "nope", "runs": 1}]},
    {"flow_id": 9001, "timeline": [{"profile": "healthy", "runs": 0}]},
    {"flow_id": 9001, "timeline": [{"profile": "healthy", "runs": 1}], "end": "gone"},
    {"flow_id": 9001, "timeline": [{"profile": "healthy", "runs": 1}], "fixed_after": ["x"]},
    {"flow_id": 9001, "timeline": [{"profile": "healthy", "runs": 1}],
     "noise": [{"lines": 5, "severity": "LOUD", "messages": ["x"]}]},
    {"flow_id": "9001", "timeline": [{"profile": "healthy", "runs": 1}]},
])  # fmt: skip
def test_a_malformed_drill_is_refused_with_400(sandbox: TestClient, body: dict) -> None:
    assert drill(sandbox, **body).status_code == 400


def test_an_unknown_flow_is_404_and_a_flow_without_nexsets_409(sandbox: TestClient) -> None:
    timeline = [{"profile": "healthy", "runs": 1}]
    assert drill(sandbox, flow_id=1, timeline=timeline).status_code == 404
    assert drill(sandbox, flow_id=9041, timeline=timeline).status_code == 409
