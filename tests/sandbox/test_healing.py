"""An incident heals only on the change that fixes it in real Nexla; any other change leaves
the next run failing. Each test changes the broken flow through the API, moves the clock past
its next scheduled run and reads that run's status."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .conftest import HOUR, FakeClock, authorize, scenario

pytestmark = pytest.mark.anyio


async def _next_run_errors(api: httpx.AsyncClient, clock: FakeClock, row: dict[str, Any]) -> int:
    """Errors (every resource) of the first run that starts after now; the clock moves to it."""
    flow_id, source_id = row["flow_id"], row["data_source_id"]
    before = (await api.get(f"/flows/{flow_id}/run_status/latest")).json()[0]["output"]["run_id"]
    for _ in range(30):
        clock.advance(HOUR / 4)
        await authorize(api)  # tokens live an hour on the same clock
        latest = (await api.get(f"/flows/{flow_id}/run_status/latest")).json()[0]["output"]
        if latest["run_id"] != before:
            reply = await api.get(
                f"/data_sources/{source_id}/flow/metrics",
                params={"from": "2025-01-01", "groupby": "runId"},
            )
            kinds = reply.json()["metrics"]["data"][str(latest["run_id"])]
            return sum(item["metric"]["errors"] for kind in kinds.values() for item in kind)
    raise AssertionError("no run within 7.5 hours")


async def _transform_of(api: httpx.AsyncClient, row: dict[str, Any]) -> dict[str, Any]:
    nexset = (await api.get(f"/data_sets/{row['data_set_ids'][-1]}?expand=1")).json()
    return (await api.get(f"/transforms/{nexset['transform_id']}")).json()


def _python(script: str) -> list[dict[str, Any]]:
    return [{"operation": "nexla.custom",
             "spec": {"language": "python", "encoding": "none", "script": script}}]  # fmt: skip


async def test_a_transform_error_flow_keeps_failing_without_a_fix(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    row = await scenario(api, "transform_error")
    await api.put(f"/data_sources/{row['data_source_id']}", json={"name": "renamed"})
    assert await _next_run_errors(api, clock, row) > 0


@pytest.mark.parametrize(
    ("script", "heals"),
    [
        pytest.param("def transform(r):\n    r['total'] = r['no_such_field'] * 2\n    return r",
                     False, id="still-reads-a-missing-field"),
        pytest.param("def transform(r):\n    r['total'] = r['amount']\n    return r",
                     True, id="corrected"),
    ],
)  # fmt: skip
async def test_a_transform_edit_heals_the_flow_only_when_it_reads_fields_that_exist(
    api: httpx.AsyncClient, clock: FakeClock, script: str, heals: bool
) -> None:
    row = await scenario(api, "transform_error")
    transform = await _transform_of(api, row)
    reply = await api.put(f"/transforms/{transform['id']}", json={"code": _python(script)})
    assert reply.status_code == 200 and reply.json()["code"] == _python(script)
    assert (await _next_run_errors(api, clock, row) == 0) is heals


async def test_reverting_the_breaking_edit_heals_the_flow(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    row = await scenario(api, "transform_error")
    transform = await _transform_of(api, row)
    audit = (await api.get(f"/transforms/{transform['id']}/audit_log")).json()
    edit = next(e for e in audit if "code" in e.get("object_changes", {}))
    old_code = edit["object_changes"]["code"][0]
    old_type = edit["object_changes"].get("code_type", [transform["code_type"]])[0]
    reply = await api.put(
        f"/transforms/{transform['id']}", json={"code": old_code, "code_type": old_type}
    )
    assert reply.status_code == 200
    assert await _next_run_errors(api, clock, row) == 0


async def test_a_schema_mismatch_heals_when_the_transform_converts_the_field_back(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    row = await scenario(api, "schema_mismatch")
    transform = await _transform_of(api, row)
    keep = "def transform(r):\n    return r"
    await api.put(f"/transforms/{transform['id']}", json={"code": _python(keep)})
    assert await _next_run_errors(api, clock, row) > 0
    status = (await api.get(f"/flows/{row['flow_id']}/run_status/latest")).json()
    field = re.search(r"field '(\w+)' expected number", status[0]["output"]["error"])
    assert field is not None
    cast = f"def transform(r):\n    r['{field[1]}'] = float(r['{field[1]}'])\n    return r"
    await api.put(f"/transforms/{transform['id']}", json={"code": _python(cast)})
    assert await _next_run_errors(api, clock, row) == 0


@pytest.mark.parametrize(
    ("schedule", "heals"), [("every 90 minutes", False), ("every 2 hours", True)]
)
async def test_a_rate_limited_source_heals_only_when_it_polls_at_most_half_as_often(
    api: httpx.AsyncClient, clock: FakeClock, schedule: str, heals: bool
) -> None:
    row = await scenario(api, "rate_limited")
    reply = await api.put(
        f"/data_sources/{row['data_source_id']}", json={"poll_schedule": schedule}
    )
    assert reply.status_code == 200 and reply.json()["poll_schedule"] == schedule
    errors = await _next_run_errors(api, clock, row)
    assert (errors == 0) is heals


async def test_an_unreadable_poll_schedule_is_refused(api: httpx.AsyncClient) -> None:
    row = await scenario(api, "rate_limited")
    reply = await api.put(f"/data_sources/{row['data_source_id']}", json={"poll_schedule": "often"})
    assert reply.status_code == 400


@pytest.mark.parametrize(("timeout_ms", "heals"), [(45_000, False), (60_000, True)])
async def test_a_timing_out_source_heals_only_with_a_timeout_of_a_minute_or_more(
    api: httpx.AsyncClient, clock: FakeClock, timeout_ms: int, heals: bool
) -> None:
    row = await scenario(api, "network_timeout")
    source = (await api.get(f"/data_sources/{row['data_source_id']}")).json()
    config = {**source["source_config"], "timeout_ms": timeout_ms}
    refused = await api.put(f"/data_sources/{source['id']}", json={"source_config": config})
    assert refused.status_code == 405  # an ACTIVE source's config needs force=1
    reply = await api.put(
        f"/data_sources/{source['id']}", params={"force": 1}, json={"source_config": config}
    )
    assert reply.status_code == 200
    assert (await _next_run_errors(api, clock, row) == 0) is heals
