"""The /_sandbox/ control API: reset, runs, logs, the state digest, and injected faults."""

from __future__ import annotations

import time

import httpx
import pytest

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app

from .conftest import BASE_URL, FakeClock, login, scenario

pytestmark = pytest.mark.anyio


async def digest(client: httpx.AsyncClient) -> str:
    return (await client.get("/_sandbox/state")).json()["digest"]


async def set_faults(client: httpx.AsyncClient, **faults: object) -> None:
    reply = await client.post("/_sandbox/faults", json=faults)
    assert reply.status_code == 200, reply.text


async def test_state_digest_is_the_same_for_any_sandbox_at_any_time() -> None:
    """The seeded org is deterministic: two sandboxes on different dates share one digest."""
    digests = []
    for now in (1_741_082_400.0, 1_900_000_000.0):
        app = create_app(clock=FakeClock(now))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as client:
            body = (await client.get("/_sandbox/state")).json()
            digests.append(body["digest"])
    assert digests[0] == digests[1] and len(digests[0]) == 64
    assert body["counts"]["flows"] >= 15


async def test_reads_leave_the_digest_unchanged(api: httpx.AsyncClient) -> None:
    """Lists, gets, metrics, logs, probes and samples change no resource state."""
    before = await digest(api)
    row = await scenario(api, "credential_expired")
    for path in (
        "/flows",
        f"/flows/{row['flow_id']}",
        "/data_sources?expand=1",
        "/data_credentials",
        f"/data_credentials/{row['data_credentials_id']}/probe",
        f"/data_sources/{row['data_source_id']}/metrics?from=2025-01-01",
        f"/flows/{row['flow_id']}/logs",
        f"/data_sets/{row['data_set_ids'][0]}/samples",
        f"/data_sources/{row['data_source_id']}/accessors",
        "/notifications",
    ):
        assert (await api.get(path)).status_code in (200, 403)
    await api.post(f"/data_credentials/{row['data_credentials_id']}/probe/tree", json={"depth": 1})
    assert await digest(api) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("PUT", "/flows/{flow_id}/pause", None, id="pause-flow"),
        pytest.param(
            "PUT", "/data_sources/{data_source_id}", {"name": "renamed"}, id="rename-source"
        ),
        pytest.param(
            "PUT",
            "/data_sources/{data_source_id}/accessors",
            {"accessors": [{"type": "TEAM", "id": 12, "access_roles": ["operator"]}]},
            id="accessors",
        ),
        pytest.param(
            "PUT",
            "/data_credentials/{data_credentials_id}",
            {"description": "rotated"},
            id="credential",
        ),
        pytest.param(
            "POST", "/data_sources", {"name": "new", "source_type": "s3"}, id="create-source"
        ),
    ],
)
async def test_writes_change_the_digest(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    """Status, config, accessor and credential changes, and new resources, all move the digest."""
    row = await scenario(api, "healthy")
    before = await digest(api)
    reply = await api.request(method, path.format(**row), json=body)
    assert reply.status_code == 200, reply.text
    assert await digest(api) != before


async def test_pause_then_activate_restores_the_digest(api: httpx.AsyncClient) -> None:
    """The digest tracks state, not history: undoing a pause gives the original digest back."""
    row = await scenario(api, "healthy")
    before = await digest(api)
    await api.put(f"/flows/{row['flow_id']}/pause", params={"all": 1})
    assert await digest(api) != before
    await api.put(f"/flows/{row['flow_id']}/activate", params={"all": 1})
    assert await digest(api) == before


async def test_reset_restores_the_seed_and_clears_faults_but_keeps_tokens(
    api: httpx.AsyncClient,
) -> None:
    """POST /_sandbox/reset rebuilds the seeded org; the caller's token keeps working."""
    before = await digest(api)
    row = await scenario(api, "healthy")
    await api.put(f"/flows/{row['flow_id']}/pause")
    await set_faults(api, error_rate=1.0, paths=["/data_sinks"])
    reply = await api.post("/_sandbox/reset")
    assert reply.status_code == 200 and reply.json()["counts"]["flows"] >= 15
    assert await digest(api) == before
    assert (await api.get("/data_sinks")).status_code == 200


async def test_runs_endpoint_adds_a_run_now_with_the_requested_outcome(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """POST /_sandbox/runs makes a run at the current time; a failure shows errors and notifies."""
    row = await scenario(api, "healthy")
    clock.advance(60)
    reply = await api.post("/_sandbox/runs", json={"flow_id": row["flow_id"], "outcome": "failure"})
    run = reply.json()
    assert reply.status_code == 200 and run["run_id"] == int(clock.now * 1000) and run["errors"] > 0
    summary = await api.get(f"/data_sources/{row['data_source_id']}/metrics/run_summary?size=1")
    latest = summary.json()["metrics"]["data"][0]
    assert (latest["runId"], latest["records"], latest["errors"]) == (run["run_id"], 0, 1)
    notes = (await api.get("/notifications", params={"level": "ERROR"})).json()
    assert any(str(run["run_id"]) in note["message"] for note in notes)


async def test_runs_endpoint_refuses_unknown_outcomes_and_flows(api: httpx.AsyncClient) -> None:
    """Bad outcome or flow id is a 4xx."""
    row = await scenario(api, "healthy")
    bad_outcome = await api.post(
        "/_sandbox/runs", json={"flow_id": row["flow_id"], "outcome": "meh"}
    )
    assert bad_outcome.status_code == 400
    assert (
        await api.post("/_sandbox/runs", json={"flow_id": 5, "outcome": "success"})
    ).status_code == 404


async def test_logs_endpoint_appends_to_the_latest_run(api: httpx.AsyncClient) -> None:
    """POST /_sandbox/logs adds a line that the flow logs of the latest run then include."""
    row = await scenario(api, "healthy")
    body = {
        "resource_type": "data_sinks",
        "resource_id": row["data_sink_ids"][0],
        "severity": "ERROR",
        "message": "Disk quota exceeded on warehouse",
    }
    added = (await api.post("/_sandbox/logs", json=body)).json()
    logs = (
        await api.get(
            f"/data_sources/{row['data_source_id']}/flow/logs",
            params={"run_id": added["run_id"], "from": added["run_id"]},
        )
    ).json()
    lines = [
        (entry["resource_type"], entry["severity"], entry["log"]) for entry in logs["logs"]["data"]
    ]
    assert ("SINK", "ERROR", "Disk quota exceeded on warehouse") in lines


async def test_logs_endpoint_needs_a_resource_that_ran(api: httpx.AsyncClient) -> None:
    """Unknown resources are 404; a flow that never ran has no run to attach to (409)."""
    unknown = await api.post(
        "/_sandbox/logs", json={"resource_type": "SOURCE", "resource_id": 1, "message": "x"}
    )
    assert unknown.status_code == 404
    idle = await scenario(api, "never_activated")
    body = {"resource_type": "SOURCE", "resource_id": idle["data_source_id"], "message": "x"}
    assert (await api.post("/_sandbox/logs", json=body)).status_code == 409


async def test_rate_limit_fault_answers_429_with_retry_after(api: httpx.AsyncClient) -> None:
    """rate_limit_rate=1 answers 429 with a Retry-After header and a body retry_after."""
    await set_faults(api, rate_limit_rate=1.0, retry_after_s=7)
    reply = await api.get("/flows")
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "7" and reply.json()["retry_after"] == 7


async def test_error_fault_uses_the_configured_status_and_only_matching_paths(
    api: httpx.AsyncClient,
) -> None:
    """error_rate with error_status hits only the listed path prefixes; control paths are immune."""
    await set_faults(api, error_rate=1.0, error_status=502, paths=["/data_sinks"])
    failing = await api.get("/data_sinks")
    assert failing.status_code == 502 and failing.json()["status"] == 502
    assert len(failing.headers["x-request-id"]) == 32, "a request id, as on every reply"
    assert (await api.get("/data_sources")).status_code == 200
    await set_faults(api, error_rate=1.0)
    assert (await api.get("/_sandbox/state")).status_code == 200
    await set_faults(api)
    assert (await api.get("/data_sinks")).status_code == 200


async def test_drop_fault_ends_the_connection_without_a_response(api: httpx.AsyncClient) -> None:
    """drop_rate=1 surfaces in-process as the httpx error a closed socket gives."""
    await set_faults(api, drop_rate=1.0, paths=["/flows"])
    with pytest.raises(httpx.RemoteProtocolError):
        await api.get("/flows")
    assert (await api.get("/data_sources")).status_code == 200


async def test_latency_fault_delays_responses(api: httpx.AsyncClient) -> None:
    """latency_ms holds each matching response back at least that long."""
    await set_faults(api, latency_ms=60, paths=["/limits"])
    started = time.perf_counter()
    assert (await api.get("/limits")).status_code == 200
    assert time.perf_counter() - started >= 0.06


async def test_fractional_rates_repeat_the_same_sequence_after_each_setting(
    api: httpx.AsyncClient,
) -> None:
    """Rates use a seeded RNG: setting the same faults again replays the same failures."""

    async def sequence() -> list[int]:
        await set_faults(api, error_rate=0.5, paths=["/limits"])
        return [(await api.get("/limits")).status_code for _ in range(20)]

    first = await sequence()
    assert first == await sequence()
    assert {200, 503} == set(first)


async def test_token_ttl_fault_shortens_existing_and_new_tokens(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """token_ttl_s caps every token's life, so a client must re-authenticate sooner."""
    await set_faults(api, token_ttl_s=60)
    clock.advance(61)
    assert (await api.get("/flows?flows_only=1")).status_code == 401
    reply = await api.post("/token", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"})
    assert reply.json()["expires_in"] == 60


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 1.5},
        {"error_status": 700},
        {"paths": "/flows"},
        {"latency_ms": -1},
        {"explode": True},
        {"drop_rate": "often"},
    ],
)
async def test_invalid_fault_settings_are_400s(
    anonymous: httpx.AsyncClient, body: dict[str, object]
) -> None:
    """Out-of-range or unknown fault settings are refused and change nothing."""
    reply = await anonymous.post("/_sandbox/faults", json=body)
    assert reply.status_code == 400
    assert (await anonymous.get("/_sandbox/faults")).json()["faults"]["error_rate"] == 0


async def test_control_api_needs_no_token(anonymous: httpx.AsyncClient) -> None:
    """/_sandbox/ endpoints answer without authentication."""
    assert (await anonymous.get("/_sandbox/scenarios")).status_code == 200
    assert await login(anonymous)
