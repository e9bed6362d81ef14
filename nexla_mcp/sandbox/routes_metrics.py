"""Metrics and logs (fact sheet §6.11, §6.12, §11): daily, per run, per flow, and flow logs.

All of it is computed on demand from the run history, so it always agrees with itself:
the run summary, the daily totals, the flow metrics and the logs describe the same runs.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import history
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.http import Query, day_of, day_start_ms, json_response, page_window, path_id
from nexla_mcp.sandbox.model import DATA_SETS, SINKS, SOURCES, Flow, LogLine, Run
from nexla_mcp.sandbox.profiles import RunOutcome, outcome
from nexla_mcp.sandbox.routes_flows import flow_node
from nexla_mcp.sandbox.store import ORG

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

DAY_MS = 24 * 3600 * 1000
_SEVERITIES = {
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "DEBUG": "DEBUG",
}


def _target(sandbox: Sandbox, request: Request, resource_type: str) -> tuple[Any, Flow]:
    resource = sandbox.store.table(resource_type).get(path_id(request))
    if resource is None:
        raise ApiError(404)
    return resource, sandbox.store.flow_of_node(resource.node_id)


def _outcomes(sandbox: Sandbox, flow: Flow, runs: list[Run]) -> list[RunOutcome]:
    return [outcome(sandbox.store, flow, run) for run in runs]


def _day_window(query: Query, now_ms: int) -> tuple[int, int]:
    start = query.day("from", required=True)
    end = query.day("to") or datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
    if start is None or end is None or end < start:
        raise bad_request("'to' must not be before 'from'")
    return day_start_ms(start), day_start_ms(end + timedelta(days=1)) - 1


async def daily_metrics(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    """`GET /{rt}/{id}/metrics?from=YYYY-MM-DD[&to=][&aggregate=1]`: one row per UTC day."""
    resource, flow = _target(sandbox, request, resource_type)
    query = Query(request)
    query.boolean("aggregate")
    since, until = _day_window(query, sandbox.now_ms())
    days: dict[str, dict[str, Any]] = {}
    for result in _outcomes(sandbox, flow, history.runs(flow, sandbox.now_ms(), since, until)):
        metric = result.metric_for(resource_type, resource.id)
        if metric is None:
            continue
        row = days.setdefault(
            day_of(result.run.run_id),
            {"time": day_of(result.run.run_id), "records": 0, "size": 0, "errors": 0},
        )
        row["records"] += metric.records
        row["size"] += metric.size
        row["errors"] += metric.errors
    return json_response({"status": 200, "metrics": [days[day] for day in sorted(days)]})


async def run_summary(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    """`GET /{rt}/{id}/metrics/run_summary`: rows under `metrics.data`, newest run first.

    A sink's rows carry `lastWritten` only when grouped by it (§11.2); each run writes in
    one batch, so the rows are the same runs either way.
    """
    resource, flow = _target(sandbox, request, resource_type)
    query = Query(request)
    groupby = query.choice("groupby", ("runId", "lastWritten"), "runId")
    orderby = query.choice("orderby", ("runId", "lastWritten"), "runId")
    if "lastWritten" in (groupby, orderby) and resource_type != SINKS:
        raise bad_request("lastWritten is only available for data sinks")
    page, size = page_window(request)
    rows: list[tuple[int, dict[str, Any]]] = []  # (when the run's write ended, row)
    for result in reversed(_outcomes(sandbox, flow, history.runs(flow, sandbox.now_ms()))):
        metric = result.metric_for(resource_type, resource.id)
        if metric is None:
            continue
        row = {
            "runId": result.run.run_id,
            "dataSetId": metric.data_set_id,
            "records": metric.records,
            "size": metric.size,
            "errors": metric.errors,
        }
        rows.append((result.finished_ms, row))
    if orderby == "lastWritten":
        rows.sort(key=lambda item: item[0], reverse=True)
    chunk = [
        {**row, "lastWritten": written} if groupby == "lastWritten" else row
        for written, row in rows[(page - 1) * size : page * size]
    ]
    meta = {"currentPage": page, "pageCount": math.ceil(len(rows) / size), "totalCount": len(rows)}
    return json_response({"status": 200, "metrics": {"data": chunk, "meta": meta}})


def _resource_metrics(result: RunOutcome) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {SOURCES: [], DATA_SETS: [], SINKS: []}
    for metric in result.metrics:
        grouped[metric.resource_type].append(
            {
                "id": metric.resource_id,
                "metric": {"records": metric.records, "size": metric.size, "errors": metric.errors},
            }
        )
    return grouped


async def flow_metrics(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    """`GET /{rt}/{id}/flow/metrics`: the whole flow's numbers, totals or `groupby=runId`."""
    _resource, flow = _target(sandbox, request, resource_type)
    query = Query(request)
    since, until = _day_window(query, sandbox.now_ms())
    groupby = query.choice("groupby", ("runId",))
    query.choice("orderby", ("runId", "created_at"))
    descending = (query.text("sortorder") or query.text("sort_order") or "desc").lower() != "asc"
    page, size = page_window(request, size_names=("per_page", "size"))
    runs = history.runs(flow, sandbox.now_ms(), since, until)
    if descending:
        runs.reverse()
    if groupby == "runId":
        # Only the page's runs are simulated: a run's outcome depends on no other run.
        chunk = _outcomes(sandbox, flow, runs[(page - 1) * size : page * size])
        data: dict[str, Any] = {
            str(result.run.run_id): _resource_metrics(result) for result in chunk
        }
        meta = {
            "currentPage": page,
            "pageCount": math.ceil(len(runs) / size),
            "totalCount": len(runs),
        }
    else:
        results = _outcomes(sandbox, flow, runs)
        totals: dict[tuple[str, int], dict[str, int]] = {}
        for result in results:
            for metric in result.metrics:
                total = totals.setdefault(
                    (metric.resource_type, metric.resource_id),
                    {"records": 0, "size": 0, "errors": 0},
                )
                total["records"] += metric.records
                total["size"] += metric.size
                total["errors"] += metric.errors
        data = {SOURCES: [], DATA_SETS: [], SINKS: []}
        for (kind, resource_id), total in totals.items():
            data[kind].append({"id": resource_id, "metric": total})
        meta = {"currentPage": 1, "pageCount": 1, "totalCount": len(totals)}
    return json_response({"status": 200, "message": "Ok", "metrics": {"data": data, "meta": meta}})


def _log_filters(query: Query) -> tuple[set[str] | None, set[str] | None, bool]:
    raw_severity = query.text("severity") or query.text("level")
    severities = None
    if raw_severity:
        severities = set()
        for part in raw_severity.split(","):
            if part.strip().upper() not in _SEVERITIES:
                raise bad_request(f"Unknown severity '{part.strip()[:20]}'")
            severities.add(_SEVERITIES[part.strip().upper()])
    raw_types = query.text("log_type")
    log_types = {part.strip().upper() for part in raw_types.split(",")} if raw_types else None
    order_by = query.text("order_by") or query.text("orderby")
    if order_by and order_by != "ts":
        raise bad_request("Flow logs 'order_by' query parameter supports only the 'ts' option")
    descending = (query.text("sort_order") or query.text("sortorder") or "asc").lower() == "desc"
    return severities, log_types, descending


def _logs_reply(
    request: Request,
    lines: list[tuple[int, LogLine]],
    run_id: int | None,
    since: int,
    until: int | None,
) -> Response:
    query = Query(request)
    severities, log_types, descending = _log_filters(query)
    query.boolean("consolidated")
    page, size = page_window(request, size_names=("per_page", "size"))
    kept = [
        (owner, line)
        for owner, line in lines
        if line.timestamp_ms >= since
        and (until is None or line.timestamp_ms <= until)
        and (severities is None or line.severity in severities)
        and (log_types is None or line.log_type in log_types)
    ]
    kept.sort(key=lambda item: item[1].timestamp_ms, reverse=descending)
    chunk = kept[(page - 1) * size : page * size]
    data = [
        {
            "timestamp": line.timestamp_ms,
            "resource_id": line.resource_id,
            "resource_type": line.resource_type,
            "run_id": owner,
            "log": line.text,
            "log_type": line.log_type,
            "severity": line.severity,
        }
        for owner, line in chunk
    ]
    meta = {
        "current_page": page,
        "pages_count": math.ceil(len(kept) / size),
        "total_count": len(kept),
        "org_id": ORG["id"],
        "run_id": run_id,
    }
    return json_response({"status": 200, "message": "Ok", "logs": {"data": data, "meta": meta}})


def _collect(results: list[RunOutcome]) -> list[tuple[int, LogLine]]:
    """Every log line of the runs, tagged with its run id."""
    return [(result.run.run_id, line) for result in results for line in result.logs]


async def flow_logs(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    """`GET /{rt}/{id}/flow/logs?run_id=&from=<ms>`: one run's logs across the whole flow."""
    _resource, flow = _target(sandbox, request, resource_type)
    query = Query(request)
    run_id = query.integer("run_id")
    if run_id is None:
        run_id = query.integer("runId")
    since = query.epoch_ms("from", required=True) or 0
    until = query.epoch_ms("to")
    # Without a run id the server asks downstream for run -1, which has no logs.
    run = history.find_run(flow, run_id, sandbox.now_ms()) if run_id is not None else None
    lines = _collect(_outcomes(sandbox, flow, [run] if run else []))
    return _logs_reply(request, lines, run_id if run_id is not None else -1, since, until)


async def logs_by_flow(request: Request, sandbox: Sandbox) -> Response:
    """`GET /flows/{id}/logs`: from/to in epoch seconds (milliseconds also accepted)."""
    store, now = sandbox.store, sandbox.now_ms()
    flow = store.flow_of_node(flow_node(store, request).id)
    query = Query(request)
    since = query.epoch_ms("from", now - DAY_MS) or 0
    until = query.epoch_ms("to")
    run_id = query.integer("run_id")
    if run_id is not None:
        run = history.find_run(flow, run_id, now)
        runs = [run] if run else []
    else:
        runs = history.runs(flow, now, since - 3600 * 1000, until)
    return _logs_reply(request, _collect(_outcomes(sandbox, flow, runs)), run_id, since, until)
