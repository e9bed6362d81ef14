"""The generated 10,000-flow org shows each incident consistently; healthy flows stay healthy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from nexla_mcp.sandbox import create_app

from .conftest import BASE_URL, START, FakeClock, authorize, scenarios

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FLOWS = 10_000
PAGE = 1000
CREDENTIAL_KINDS = {"credential_expired", "permission_denied"}
# Kinds whose story is "runs started failing": each must show a failing run, before its alerts.
FAILING_KINDS = {
    "credential_expired",
    "permission_denied",
    "transform_error",
    "schema_mismatch",
    "rate_limited",
    "network_timeout",
    "resource_conflict",
    "high_error_rate",
    "flow_not_running",
}


@pytest.fixture(scope="module")
def big_org() -> Starlette:
    """One 10,000-flow org for the module; the tests only read it."""
    return create_app(flows=FLOWS, clock=FakeClock())


@pytest.fixture
async def api(big_org: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=big_org), base_url=BASE_URL
    ) as client:
        yield await authorize(client)


async def _all(client: httpx.AsyncClient, path: str, **params: Any) -> list[Any]:
    """Every page of a list endpoint (pages of 1000)."""
    found: list[Any] = []
    page = 1
    while True:
        reply = await client.get(path, params={**params, "page": page, "per_page": PAGE})
        assert reply.status_code == 200, reply.text
        found.extend(reply.json())
        if len(found) >= int(reply.headers["X-Total-Count"]):
            return found
        page += 1


async def _flow_resources(client: httpx.AsyncClient) -> dict[int, list[dict[str, Any]]]:
    """Flow id -> its sources and destinations (with their credential ids), from GET /flows."""
    resources: dict[int, list[dict[str, Any]]] = defaultdict(list)
    page = 1
    while True:
        reply = await client.get("/flows", params={"page": page, "per_page": PAGE})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        for kind in ("data_sources", "data_sinks"):
            for item in body[kind]:
                resources[item["origin_node_id"]].append({**item, "kind": kind})
        if page * PAGE >= int(reply.headers["X-Total-Count"]):
            return resources
        page += 1


async def _probe_fails(client: httpx.AsyncClient, credential_id: int) -> bool:
    """The credential is refused on authentication or on reading a sample."""
    authenticate = await client.get(f"/data_credentials/{credential_id}/probe")
    if authenticate.status_code != 200:
        return True
    sample = await client.post(f"/data_credentials/{credential_id}/probe/sample", json={})
    return sample.status_code != 200


async def test_only_credential_incidents_fail_their_credential_probes(
    api: httpx.AsyncClient,
) -> None:
    """A flow's credential probe fails exactly when the flow carries a credential incident."""
    kinds = {row["flow_id"]: row["kind"] for row in await scenarios(api)}
    credentials = await _all(api, "/data_credentials")
    failing = {item["id"] for item in credentials if await _probe_fails(api, item["id"])}
    resources = await _flow_resources(api)
    assert len(resources) == FLOWS + 15

    probe_fails = {
        flow_id
        for flow_id, items in resources.items()
        if any(item["data_credentials_id"] in failing for item in items)
    }
    leaked = {
        flow_id: kinds.get(flow_id, "healthy")
        for flow_id in probe_fails
        if kinds.get(flow_id) not in CREDENTIAL_KINDS
    }
    assert leaked == {}
    credential_flows = {flow_id for flow_id, kind in kinds.items() if kind in CREDENTIAL_KINDS}
    assert probe_fails == credential_flows
    assert len(credential_flows) >= 20


async def _runs(client: httpx.AsyncClient, source_id: int) -> list[tuple[int, int]]:
    """(run id, errors across the flow) of the flow's runs in the last four days, oldest first;
    a run id is the epoch ms of the run's start. The longest incident onset is three days."""
    since = (datetime.fromtimestamp(START, UTC) - timedelta(days=4)).date().isoformat()
    reply = await client.get(
        f"/data_sources/{source_id}/flow/metrics",
        params={"from": since, "groupby": "runId", "per_page": PAGE},
    )
    assert reply.status_code == 200, reply.text
    return sorted(
        (int(run_id), sum(entry["metric"]["errors"] for items in kinds.values() for entry in items))
        for run_id, kinds in reply.json()["metrics"]["data"].items()
    )


async def _failing_runs(client: httpx.AsyncClient, source_id: int) -> list[int]:
    return [run_id for run_id, errors in await _runs(client, source_id) if errors]


async def test_every_failing_incident_has_a_failing_run_before_its_first_alert(
    api: httpx.AsyncClient,
) -> None:
    """Incidents that imply failing runs show one, and no ERROR/WARN alert precedes it."""
    alerts: dict[tuple[str, int], list[int]] = defaultdict(list)
    for note in await _all(api, "/notifications"):
        if note["level"] in ("ERROR", "WARN"):
            alerts[(note["resource_type"], note["resource_id"])].append(note["ts"] * 1000)
    rows = [row for row in await scenarios(api) if row["kind"] in FAILING_KINDS]
    assert len(rows) >= 150
    silent, early = [], []
    for row in rows:
        failing = await _failing_runs(api, row["data_source_id"])
        if not failing:
            silent.append((row["kind"], row["flow_id"]))
            continue
        keys = [("SOURCE", row["data_source_id"])]
        keys += [("DATASET", item) for item in row["data_set_ids"]]
        keys += [("SINK", item) for item in row["data_sink_ids"]]
        first_alert = min((ts for key in keys for ts in alerts[key]), default=None)
        if first_alert is not None and first_alert < failing[0]:
            early.append((row["kind"], row["flow_id"]))
    assert silent == [] and early == []


async def _incident_changes(client: httpx.AsyncClient, flow_id: int) -> list[int]:
    """When the flow's resources and transforms were changed (epoch ms), creations aside."""
    entries = (await client.get(f"/flows/{flow_id}/audit_log", params={"per_page": 100})).json()
    flow = (await client.get(f"/flows/{flow_id}")).json()
    for transform in flow["code_containers"]:
        entries += (await client.get(f"/code_containers/{transform['id']}/audit_log")).json()
    return [
        int(datetime.fromisoformat(entry["created_at"]).timestamp() * 1000)
        for entry in entries
        if entry["event"] == "update"
    ]


async def test_the_changes_behind_incidents_fall_between_the_last_good_and_first_failing_run(
    api: httpx.AsyncClient,
) -> None:
    """A credential swap, transform edit or schema change behind an incident is audited after
    the last good run and before the first failing one, whatever the flow's interval."""
    rows = [
        row
        for row in await scenarios(api)
        if row["kind"] in CREDENTIAL_KINDS | {"transform_error", "schema_mismatch"}
    ]
    assert len(rows) >= 60
    misplaced, swapped = [], 0
    for row in rows:
        runs = await _runs(api, row["data_source_id"])
        first_failure = next(run_id for run_id, errors in runs if errors)
        last_good = max(run_id for run_id, _errors in runs if run_id < first_failure)
        changes = await _incident_changes(api, row["flow_id"])
        # A credential that expired in place (not shared, so not swapped) has no change.
        needs_change = row["kind"] not in CREDENTIAL_KINDS
        if (needs_change and not changes) or not all(
            last_good < at < first_failure for at in changes
        ):
            misplaced.append((row["kind"], row["flow_id"]))
        swapped += bool(changes) and row["kind"] in CREDENTIAL_KINDS
    assert misplaced == []
    assert swapped >= 30
