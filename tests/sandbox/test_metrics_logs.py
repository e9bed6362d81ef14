"""Daily metrics, run summaries, flow metrics and flow logs (§6.11, §6.12, §11)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import START, FakeClock, authorize, scenario

pytestmark = pytest.mark.anyio

FROM_DAY = "2025-02-01"


async def runs_of(
    api: httpx.AsyncClient, rt: str, resource_id: int, size: int = 10
) -> list[dict[str, Any]]:
    reply = await api.get(f"/{rt}/{resource_id}/metrics/run_summary", params={"size": size})
    return reply.json()["metrics"]["data"]


async def test_daily_metrics_are_one_row_per_utc_day(api: httpx.AsyncClient) -> None:
    """GET /{rt}/{id}/metrics answers {status, metrics: [{time, records, size, errors}]}."""
    row = await scenario(api, "healthy")
    body = (
        await api.get(
            f"/data_sources/{row['data_source_id']}/metrics",
            params={"from": FROM_DAY, "aggregate": 1},
        )
    ).json()
    assert body["status"] == 200
    days = [item["time"] for item in body["metrics"]]
    assert days == sorted(set(days)) and days[-1] == "2025-03-04"
    assert all(set(item) == {"time", "records", "size", "errors"} for item in body["metrics"])
    assert all(item["records"] > 0 and item["errors"] == 0 for item in body["metrics"])


async def test_daily_metrics_totals_match_the_run_summary(api: httpx.AsyncClient) -> None:
    """The runs of one day add up to that day's daily total: the views agree."""
    row = await scenario(api, "healthy")
    rt, resource_id = "data_sinks", row["data_sink_ids"][0]
    daily = (
        await api.get(
            f"/{rt}/{resource_id}/metrics", params={"from": "2025-03-03", "to": "2025-03-03"}
        )
    ).json()
    runs = await runs_of(api, rt, resource_id, size=500)
    day_start, day_end = 1_740_960_000_000, 1_741_046_400_000
    same_day = [run for run in runs if day_start <= run["runId"] < day_end]
    assert daily["metrics"][0]["records"] == sum(run["records"] for run in same_day)


async def test_metrics_need_a_valid_from_date(api: httpx.AsyncClient) -> None:
    """`from` is required and must be YYYY-MM-DD; to must not precede it."""
    row = await scenario(api, "healthy")
    path = f"/data_sources/{row['data_source_id']}/metrics"
    for params in ({}, {"from": "yesterday"}, {"from": "2025-03-04", "to": "2025-03-01"}):
        reply = await api.get(path, params=params)
        assert reply.status_code == 400, params


async def test_run_summary_rows_and_meta_follow_the_documented_shape(
    api: httpx.AsyncClient,
) -> None:
    """Rows (runId, dataSetId, records, size, errors) sit under metrics.data, newest first."""
    row = await scenario(api, "healthy")
    body = (
        await api.get(
            f"/data_sources/{row['data_source_id']}/metrics/run_summary",
            params={"page": 2, "size": 5},
        )
    ).json()
    data, meta = body["metrics"]["data"], body["metrics"]["meta"]
    assert len(data) == 5 and meta["currentPage"] == 2
    assert meta["pageCount"] == -(-meta["totalCount"] // 5)
    assert set(data[0]) == {"runId", "dataSetId", "records", "size", "errors"}
    assert [item["runId"] for item in data] == sorted(
        (item["runId"] for item in data), reverse=True
    )
    assert data[0]["dataSetId"] == row["data_set_ids"][0]


async def test_sink_run_summary_carries_last_written_only_when_grouped_by_it(
    api: httpx.AsyncClient,
) -> None:
    """groupby=lastWritten adds each run's write time to sink rows; sources refuse it."""
    row = await scenario(api, "healthy")
    path = f"/data_sinks/{row['data_sink_ids'][0]}/metrics/run_summary"
    plain = (await api.get(path, params={"size": 10})).json()["metrics"]["data"]
    grouped = (await api.get(path, params={"size": 10, "groupby": "lastWritten"})).json()
    grouped_rows = grouped["metrics"]["data"]
    assert plain and not any("lastWritten" in item for item in plain)
    assert [item["runId"] for item in grouped_rows] == [item["runId"] for item in plain]
    assert all(item["lastWritten"] > item["runId"] for item in grouped_rows)
    refused = await api.get(
        f"/data_sources/{row['data_source_id']}/metrics/run_summary",
        params={"groupby": "lastWritten"},
    )
    assert refused.status_code == 400


async def test_flow_metrics_group_the_whole_flow_by_run(api: httpx.AsyncClient) -> None:
    """flow/metrics?groupby=runId keys runs to per-type metrics; the data_flows alias agrees."""
    row = await scenario(api, "healthy")
    params = {"from": FROM_DAY, "groupby": "runId", "per_page": 3}
    body = (
        await api.get(f"/data_sinks/{row['data_sink_ids'][0]}/flow/metrics", params=params)
    ).json()
    assert body["status"] == 200 and body["message"] == "Ok"
    assert len(body["metrics"]["data"]) == 3
    run = next(iter(body["metrics"]["data"].values()))
    assert [item["id"] for item in run["data_sources"]] == [row["data_source_id"]]
    assert {"records", "size", "errors"} == set(run["data_sinks"][0]["metric"])
    alias = (
        await api.get(f"/data_flows/data_sinks/{row['data_sink_ids'][0]}/metrics", params=params)
    ).json()
    assert alias == body


async def test_flow_metrics_without_groupby_total_each_resource(api: httpx.AsyncClient) -> None:
    """Without groupby the flow metrics hold one total per resource."""
    row = await scenario(api, "healthy")
    body = (
        await api.get(
            f"/data_sources/{row['data_source_id']}/flow/metrics", params={"from": FROM_DAY}
        )
    ).json()
    data = body["metrics"]["data"]
    assert [item["id"] for item in data["data_sinks"]] == row["data_sink_ids"]
    assert data["data_sources"][0]["metric"]["records"] > 0


async def test_flow_logs_cover_one_run_across_the_flow(api: httpx.AsyncClient) -> None:
    """/{rt}/{id}/flow/logs?run_id=&from=<ms> returns that run's SOURCE, DATASET and SINK lines."""
    row = await scenario(api, "healthy")
    run_id = (await runs_of(api, "data_sources", row["data_source_id"], 1))[0]["runId"]
    body = (
        await api.get(
            f"/data_sinks/{row['data_sink_ids'][0]}/flow/logs",
            params={"run_id": run_id, "from": run_id - 1},
        )
    ).json()
    entries = body["logs"]["data"]
    assert body["status"] == 200 and body["logs"]["meta"]["run_id"] == run_id
    assert {entry["resource_type"] for entry in entries} == {"SOURCE", "DATASET", "SINK"}
    assert all(entry["run_id"] == run_id and entry["timestamp"] >= run_id for entry in entries)
    assert {"SUMMARY", "LOG"} == {entry["log_type"] for entry in entries}
    assert set(entries[0]) == {
        "timestamp",
        "resource_id",
        "resource_type",
        "run_id",
        "log",
        "log_type",
        "severity",
    }


async def test_flow_logs_filter_by_severity_and_page(api: httpx.AsyncClient) -> None:
    """severity narrows the lines; page/per_page page them with logs.meta counts."""
    row = await scenario(api, "credential_expired")
    run_id = (await runs_of(api, "data_sources", row["data_source_id"], 1))[0]["runId"]
    path = f"/data_sources/{row['data_source_id']}/flow/logs"
    errors = (
        await api.get(path, params={"run_id": run_id, "from": run_id, "severity": "ERROR"})
    ).json()
    assert errors["logs"]["data"] and {e["severity"] for e in errors["logs"]["data"]} == {"ERROR"}
    paged = (
        await api.get(path, params={"run_id": run_id, "from": run_id, "per_page": 1, "page": 2})
    ).json()
    meta = paged["logs"]["meta"]
    assert len(paged["logs"]["data"]) == 1 and meta["current_page"] == 2
    assert meta["pages_count"] == meta["total_count"] > 1


async def test_flow_logs_without_a_run_id_are_empty_and_need_from(api: httpx.AsyncClient) -> None:
    """The server asks downstream for run -1 when run_id is missing; `from` is mandatory."""
    row = await scenario(api, "healthy")
    path = f"/data_sources/{row['data_source_id']}/flow/logs"
    assert (await api.get(path, params={"from": 1})).json()["logs"]["data"] == []
    assert (await api.get(path, params={"run_id": 1})).status_code == 400
    bad_order = await api.get(path, params={"run_id": 1, "from": 1, "order_by": "severity"})
    assert "supports only the 'ts' option" in bad_order.json()["message"]


async def test_logs_by_flow_take_seconds_or_milliseconds(api: httpx.AsyncClient) -> None:
    """/flows/{id}/logs reads from/to as epoch seconds, and values >= 1e11 as milliseconds."""
    row = await scenario(api, "healthy")
    since_s = int(START) - 3 * 3600
    seconds = (await api.get(f"/flows/{row['flow_id']}/logs", params={"from": since_s})).json()
    millis = (
        await api.get(f"/flows/{row['flow_id']}/logs", params={"from": since_s * 1000})
    ).json()
    assert seconds == millis and seconds["logs"]["meta"]["total_count"] > 0
    assert all(entry["timestamp"] >= since_s * 1000 for entry in seconds["logs"]["data"])


async def test_history_moves_with_the_clock(api: httpx.AsyncClient, clock: FakeClock) -> None:
    """An active scheduled flow keeps running as time passes: new runs appear after an hour."""
    row = await scenario(api, "healthy")
    before = await runs_of(api, "data_sources", row["data_source_id"], 1)
    clock.advance(3 * 3600)
    await authorize(api)
    after = await runs_of(api, "data_sources", row["data_source_id"], 5)
    assert after[0]["runId"] > before[0]["runId"]
    assert after[0]["runId"] <= int(clock.now * 1000)


async def test_metrics_of_unknown_resources_are_404(api: httpx.AsyncClient) -> None:
    """Metrics and logs of a resource that does not exist are bare 404s."""
    for path in (
        "/data_sources/1/metrics?from=2025-01-01",
        "/data_sets/1/metrics/run_summary",
        "/data_sinks/1/flow/logs?from=1&run_id=1",
        "/flows/1/logs",
    ):
        reply = await api.get(path)
        assert (reply.status_code, reply.content) == (404, b""), path


async def test_no_scheduled_run_starts_in_the_first_minutes_after_a_build(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Every flow's latest run stays the latest for 4 minutes: tests see a stable history."""

    async def latest() -> dict[int, int | None]:
        flows = (await api.get("/flows", params={"flows_only": 1})).json()["flows"]
        return {flow["id"]: flow["last_run_id"] for flow in flows}

    before = await latest()
    assert all(
        run_id is None or run_id < int(clock.now * 1000) - 180_000 for run_id in before.values()
    )
    clock.advance(4 * 60)
    assert await latest() == before
