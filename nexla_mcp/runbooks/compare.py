"""Compare a run with a baseline run: records, errors, size, duration, and which errors are new.

Nexla's run metrics carry no status, start or end time (docs/nexla-api.md §19 #8), so the
comparison uses what is derivable: per-resource records/errors/size from the flow's metrics,
the start from the run id (epoch ms), and the duration from the run's last log line. Error
lines are clustered into templates and the templates the baseline did not have are "new".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from nexla_mcp.errors import NotFoundError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.clustering import LogCluster, LogLine, cluster_log_lines, severity_rank
from nexla_mcp.runbooks.evidence import (
    LogSample,
    RunHistory,
    logs_call,
    metrics_call,
    read_run_logs,
)
from nexla_mcp.runbooks.flowmap import FlowMap, FlowTarget, fetch_flow
from nexla_mcp.runbooks.gather import DEFAULT_DEADLINE_S, Gatherer
from nexla_mcp.runbooks.report import NAME_CHARS, iso, untrusted
from nexla_mcp.runbooks.runs import RunStatus, RunTotals, run_started_at

__all__ = [
    "ErrorTemplate",
    "RunComparison",
    "RunComparisonReport",
    "RunContrast",
    "RunSide",
    "cluster_resource",
    "compare",
    "compare_runs",
    "contrast",
    "error_clusters",
    "template_view",
]

MAX_TEMPLATES = 5
MAX_RESOURCES = 8
NOISE = 0.1
_SEVERITY_FLOOR = severity_rank("WARNING")


class RunSide(BaseModel):
    """One run's totals over the whole flow."""

    run_id: int
    started_at: str | None = None
    status: RunStatus
    records: int
    errors: int
    size: int
    duration_s: int | None = Field(None, description="First to last log line, when all were read")


class ResourceDelta(BaseModel):
    """One resource whose numbers differ between the two runs."""

    resource: str
    records: int
    baseline_records: int
    errors: int
    baseline_errors: int


class ErrorTemplate(BaseModel):
    """Log lines that share a template (variable parts masked), with one example."""

    template: str
    severity: str
    count: int
    resource: str | None = None
    example: str | None = None


class RunComparison(BaseModel):
    """A run against a baseline run: what differs, and which error templates are new."""

    run: RunSide
    baseline: RunSide | None = None
    differences: list[str] = Field(default_factory=list)
    resources: list[ResourceDelta] = Field(default_factory=list)
    new_errors: list[ErrorTemplate] = Field(
        default_factory=list, description="Error templates of the run that the baseline lacks"
    )


class RunContrast(BaseModel):
    """A run against a baseline in a few lines: what a diagnosis needs of a comparison
    (``compare_runs`` gives every number)."""

    run_id: int
    baseline_run_id: int | None = None
    differences: list[str] = Field(default_factory=list)
    resources: list[str] = Field(
        default_factory=list,
        description="Each resource whose numbers differ, e.g. \"nexset 6110 'x': records 0 vs "
        '8716 (-100%), errors 9566 vs 0"',
    )


class RunComparisonReport(RunComparison):
    """``compare_runs``: the comparison, for one flow."""

    flow_id: int
    name: str | None = None
    missing: list[str] = Field(default_factory=list, description="Calls that gave no answer")


def error_clusters(sample: LogSample | None) -> list[LogCluster]:
    """WARNING and ERROR lines of a run clustered into templates (run summaries left out)."""
    if sample is None:
        return []
    lines = (
        LogLine(
            entry.message,
            entry.severity or "INFO",
            entry.timestamp,
            entry.run_id,
            entry.resource_type,
            entry.resource_id,
        )  # fmt: skip
        for entry in sample.entries
        if severity_rank(entry.severity) >= _SEVERITY_FLOOR
        and (entry.log_type or "").upper() != "SUMMARY"
    )
    return cluster_log_lines(lines)


_LOG_KINDS = {"SOURCE": "data_sources", "DATASET": "data_sets", "SINK": "data_sinks"}


def cluster_resource(flow: FlowMap, cluster: LogCluster) -> str | None:
    """The label of the (first) resource a cluster's lines came from."""
    if not cluster.resources:
        return None
    kind, resource_id = cluster.resources[0]
    resource_type = _LOG_KINDS.get(kind.upper())
    return flow.label((resource_type, resource_id)) if resource_type else None  # type: ignore[arg-type]


def template_view(flow: FlowMap, cluster: LogCluster) -> ErrorTemplate:
    return ErrorTemplate(
        template=untrusted(cluster.template, 200) or "", severity=cluster.severity,
        count=cluster.count, resource=cluster_resource(flow, cluster),
        example=untrusted(cluster.example, 200),
    )  # fmt: skip


def _duration_s(run: RunTotals, sample: LogSample | None) -> int | None:
    started = run.started_at
    if sample is None or not sample.entries or started is None:
        return None
    if sample.total is not None and sample.total > len(sample.entries):
        return None  # the last line was not read
    last = max(entry.timestamp for entry in sample.entries)
    return max(0, round((last - started).total_seconds()))


def _side(run: RunTotals, sample: LogSample | None) -> RunSide:
    return RunSide(run_id=run.run_id, started_at=iso(run.started_at), status=run.status,
                   records=run.records, errors=run.errors, size=run.size,
                   duration_s=_duration_s(run, sample))  # fmt: skip


def _change(name: str, now: int, before: int, unit: str = "") -> str | None:
    """``records 0 vs 8389 (-100%)``, or None when the two are within ``NOISE`` of each other."""
    if not _differs(now, before):
        return None
    if before:
        return f"{name} {now}{unit} vs {before}{unit} ({(now - before) / before:+.0%})"
    return f"{name} {now}{unit} vs {before}{unit}"


def _differs(now: int, before: int) -> bool:
    # Run-to-run volume varies a little; only a change beyond the noise is a difference.
    return now != before and (min(now, before) == 0 or abs(now - before) > NOISE * max(now, before))


def compare(
    flow: FlowMap,
    history: RunHistory,
    run: RunTotals,
    baseline: RunTotals | None,
    run_logs: LogSample | None = None,
    baseline_logs: LogSample | None = None,
) -> RunComparison:
    """Compare ``run`` with ``baseline`` (pure: everything is already fetched)."""
    side = _side(run, run_logs)
    if baseline is None:
        clusters = error_clusters(run_logs)[:MAX_TEMPLATES]
        return RunComparison(run=side, new_errors=[template_view(flow, c) for c in clusters])
    base = _side(baseline, baseline_logs)
    differences = [
        text
        for text in (
            _change("records", side.records, base.records),
            f"errors {side.errors} vs {base.errors}" if side.errors != base.errors else None,
            _change("size", side.size, base.size, " B"),
            _change("duration", side.duration_s, base.duration_s, " s")
            if side.duration_s is not None and base.duration_s is not None
            else None,
        )
        if text is not None
    ]
    now_metrics = history.by_resource.get(run.run_id, {})
    base_metrics = history.by_resource.get(baseline.run_id, {})
    resources = []
    for key in list(dict.fromkeys([*flow.order, *now_metrics, *base_metrics])):
        a, b = now_metrics.get(key), base_metrics.get(key)
        now_pair = (a.records, a.errors) if a else (0, 0)
        base_pair = (b.records, b.errors) if b else (0, 0)
        if now_pair[1] != base_pair[1] or _differs(now_pair[0], base_pair[0]):
            resources.append(ResourceDelta(
                resource=flow.label(key), records=now_pair[0], baseline_records=base_pair[0],
                errors=now_pair[1], baseline_errors=base_pair[1],
            ))  # fmt: skip
    known = {(c.severity, c.template) for c in error_clusters(baseline_logs)}
    fresh = [c for c in error_clusters(run_logs) if (c.severity, c.template) not in known]
    return RunComparison(
        run=side, baseline=base, differences=differences, resources=resources[:MAX_RESOURCES],
        new_errors=[template_view(flow, c) for c in fresh[:MAX_TEMPLATES]],
    )  # fmt: skip


def _delta_text(delta: ResourceDelta) -> str:
    changes = [
        _change("records", delta.records, delta.baseline_records),
        f"errors {delta.errors} vs {delta.baseline_errors}"
        if delta.errors != delta.baseline_errors
        else None,
    ]
    return f"{delta.resource}: " + ", ".join(text for text in changes if text is not None)


def contrast(comparison: RunComparison) -> RunContrast:
    """``comparison`` in a few lines: the two run ids, what differs overall and per resource."""
    return RunContrast(
        run_id=comparison.run.run_id,
        baseline_run_id=comparison.baseline.run_id if comparison.baseline else None,
        differences=comparison.differences,
        resources=[_delta_text(delta) for delta in comparison.resources],
    )


def _pick(
    history: RunHistory, run_id: int | None, baseline_run_id: int | None
) -> tuple[RunTotals, RunTotals | None]:
    by_id = {run.run_id: run for run in history.runs}
    for wanted in (run_id, baseline_run_id):
        if wanted is not None and wanted not in by_id:
            raise NotFoundError(
                f"Run {wanted} is not among the flow's runs in the window read.",
                operation="compare_runs", resource_type="runs", resource_id=wanted,
                hint="Take run ids from get_run_metrics, or omit them to compare the latest "
                "failing run with the last good one.",
            )  # fmt: skip
    failed, good = history.focus()
    run = (
        by_id[run_id]
        if run_id is not None
        else failed or (history.runs[-1] if history.runs else None)
    )
    if run is None:
        raise NotFoundError("The flow has no runs to compare.", operation="compare_runs",
                            hint="Check the flow's schedule with get_flow.")  # fmt: skip
    if baseline_run_id is not None:
        return run, by_id[baseline_run_id]
    earlier = [r for r in history.runs if r.run_id < run.run_id and r.status == "success"]
    return run, earlier[-1] if earlier else (good if good and good.run_id != run.run_id else None)


async def compare_runs(
    client: NexlaClient,
    target: FlowTarget,
    *,
    run_id: int | None = None,
    baseline_run_id: int | None = None,
    now: datetime,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> RunComparisonReport:
    """Compare a run (default: the latest failing one) with a baseline (default: the last good
    run before it) over the whole flow.

    Raises:
        NotFoundError: unknown flow, or a run id that is not among the flow's runs.
        NexlaError: reading the flow or its runs failed.
    """
    gather = Gatherer(deadline_s=deadline_s)
    flow = await fetch_flow(client, target)
    anchor = flow.anchor
    if anchor is None:
        raise NotFoundError("The flow has no source or nexset to read runs from.",
                            operation="compare_runs", resource_id=flow.flow_id)  # fmt: skip
    starts = [run_started_at(r) for r in (run_id, baseline_run_id) if r is not None]
    since = min([start for start in starts if start is not None] + [now - timedelta(days=7)])
    metrics = await client.get_flow_metrics(
        anchor[0], anchor[1], from_date=since.date(), groupby="runId", per_page=1000
    )
    history = RunHistory.from_metrics(metrics_call(anchor), metrics)
    run, baseline = _pick(history, run_id, baseline_run_id)
    reads = {logs_call(anchor, r.run_id): (lambda r=r: read_run_logs(client, anchor, r))
             for r in (run, baseline) if r is not None and r.started_at is not None}  # fmt: skip
    results = await gather.run(reads)
    samples = {s.run_id: s for s in results.values() if isinstance(s, LogSample)}
    comparison = compare(flow, history, run, baseline, samples.get(run.run_id),
                         samples.get(baseline.run_id) if baseline else None)  # fmt: skip
    return RunComparisonReport(
        **comparison.model_dump(), flow_id=flow.flow_id, name=untrusted(flow.name, NAME_CHARS),
        missing=gather.missing(),
    )  # fmt: skip
