"""Collect everything a diagnosis looks at, in three parallel rounds under one deadline.

1. the flow with its side-loaded resources (everything else depends on its ids);
2. in parallel: the flow's runs with per-resource metrics (one ``flow/metrics?groupby=runId``
   call), a probe of each credential it uses, its audit trail, and the notifications about
   its origin;
3. in parallel, once the runs say which matter: the logs of the latest failing run and of the
   last good run before it, and the notifications about the resources that reported errors.

That is one call, then up to ``3 + MAX_PROBES``, then up to ``2 + MAX_ERROR_NOTIFICATIONS``:
about nine for a typical flow. The rounds share a ``Gatherer`` so the deadline covers them all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from nexla_mcp.errors import CredentialError, NexlaError
from nexla_mcp.nexla import (
    AuditLogEntry,
    FlowMetrics,
    LogEntry,
    NexlaClient,
    Notification,
    ProbeResult,
)
from nexla_mcp.nexla.status_errors import upstream_message
from nexla_mcp.runbooks.changes import transform_audit_call, transform_audit_calls
from nexla_mcp.runbooks.episodes import run_state
from nexla_mcp.runbooks.flowmap import (
    NOTIFICATION_KINDS,
    FlowMap,
    FlowTarget,
    ResourceKey,
    fetch_flow,
    flow_call,
)
from nexla_mcp.runbooks.gather import Gatherer
from nexla_mcp.runbooks.logread import read_whole_run
from nexla_mcp.runbooks.runs import FAILING_STATUSES, RunTotals, flow_run_totals

__all__ = [
    "FlowEvidence",
    "LogSample",
    "ProbeOutcome",
    "ResourceMetric",
    "RunHistory",
    "collect_evidence",
    "fetch_runs",
    "logs_call",
    "metrics_call",
    "probe_call",
    "probe_credentials",
    "read_run_logs",
]

HISTORY_WINDOW = timedelta(days=7)
MAX_RUNS = 50
RECENT_RUNS = 10
MAX_PROBES = 3
MAX_ERROR_NOTIFICATIONS = 2
# Runs of earlier overlapping causes whose logs a diagnosis reads (one run each).
MAX_OTHER_CAUSES = 2
# When every run read moved nothing, the runs are read again this many at a time, page by
# page, back to the start of the window, to find when records last came.
WIDE_PAGE = 1000
MAX_WIDE_PAGES = 5
LONGEST_LOOKBACK = timedelta(days=30)  # Nexla keeps run history about this long
LOG_PAGE_SIZE = 500
NOTIFICATION_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50
# Logs are read from a little before the run id's instant: clocks upstream are not in lockstep.
LOG_LEAD = timedelta(minutes=1)


@dataclass(frozen=True)
class ResourceMetric:
    """One resource's numbers in one run."""

    records: int = 0
    errors: int = 0
    size: int = 0


@dataclass(frozen=True)
class RunHistory:
    """A flow's runs over a window, oldest first, with each run's numbers per resource."""

    call: str
    runs: list[RunTotals]
    by_resource: dict[int, dict[ResourceKey, ResourceMetric]] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, call: str, *pages: FlowMetrics) -> RunHistory:
        by_resource: dict[int, dict[ResourceKey, ResourceMetric]] = {}
        data: dict[str, Any] = {}
        for metrics in pages:
            data.update(metrics.data)
        for key, kinds in data.items():
            if str(key).isdigit() and isinstance(kinds, Mapping):
                by_resource[int(key)] = _resource_metrics(kinds)
        return cls(call=call, runs=flow_run_totals(data), by_resource=by_resource)

    def recent(self, count: int = RECENT_RUNS) -> list[RunTotals]:
        return self.runs[-count:]

    def failing(self, count: int = RECENT_RUNS) -> list[RunTotals]:
        """Recent runs that failed or were partial, oldest first."""
        return [run for run in self.recent(count) if run.status in FAILING_STATUSES]

    def interval_ms(self) -> int | None:
        """The usual gap between runs (median), when at least two runs are known."""
        gaps = [
            b.run_id - a.run_id for a, b in itertools.pairwise(self.runs) if b.run_id > a.run_id
        ]
        return int(median(gaps)) if gaps else None

    def focus(self) -> tuple[RunTotals | None, RunTotals | None]:
        """(latest failing recent run, last successful run before it or else the latest one)."""
        failing = self.failing()
        failed = failing[-1] if failing else None
        before = [run for run in self.runs if failed is None or run.run_id < failed.run_id]
        good = next((run for run in reversed(before) if run.status == "success"), None)
        if good is None and failed is not None:
            good = next((run for run in reversed(self.runs) if run.status == "success"), None)
        return failed, good

    def erroring_resources(self, run_id: int) -> list[ResourceKey]:
        """Resources that reported errors in the run, most errors first."""
        metrics = self.by_resource.get(run_id, {})
        ranked = sorted(metrics.items(), key=lambda item: -item[1].errors)
        return [key for key, metric in ranked if metric.errors > 0]


def _resource_metrics(kinds: Mapping[str, Any]) -> dict[ResourceKey, ResourceMetric]:
    found: dict[ResourceKey, ResourceMetric] = {}
    for kind in ("data_sources", "data_sets", "data_sinks"):
        entries = kinds.get(kind)
        for entry in entries if isinstance(entries, list) else []:
            metric = entry.get("metric") if isinstance(entry, Mapping) else None
            if isinstance(metric, Mapping) and isinstance(entry.get("id"), int):
                found[(kind, entry["id"])] = ResourceMetric(  # type: ignore[index]
                    records=int(metric.get("records") or 0),
                    errors=int(metric.get("errors") or 0),
                    size=int(metric.get("size") or 0),
                )
    return found


@dataclass(frozen=True)
class LogSample:
    """One run's log lines (the first page, and for a failing run its error lines beyond it)
    and how many there were in all; ``complete`` is False when the deadline cut paging short."""

    run_id: int
    call: str
    entries: list[LogEntry]
    total: int | None
    complete: bool = True


@dataclass(frozen=True)
class ProbeOutcome:
    """A credential probe: ``ok``, or the external system's refusal and its message."""

    credential_id: int
    call: str
    ok: bool
    message: str | None = None
    status_code: int | None = None


@dataclass
class FlowEvidence:
    """What the rounds found; ``None``/empty where a call failed or missed the deadline."""

    flow: FlowMap
    flow_call: str
    now: datetime
    history: RunHistory | None = None
    failed_logs: LogSample | None = None
    cause_logs: dict[int, LogSample] = field(default_factory=dict)
    good_logs: LogSample | None = None
    probes: list[ProbeOutcome] = field(default_factory=list)
    notifications: list[tuple[str, Notification]] = field(default_factory=list)
    audit: list[AuditLogEntry] = field(default_factory=list)
    audit_call: str | None = None
    transform_audits: dict[int, list[AuditLogEntry]] = field(default_factory=dict)


def metrics_call(anchor: ResourceKey) -> str:
    return f"GET /{anchor[0]}/{anchor[1]}/flow/metrics?groupby=runId"


def probe_call(credential_id: int) -> str:
    return f"GET /data_credentials/{credential_id}/probe"


def logs_call(anchor: ResourceKey, run_id: int) -> str:
    return f"GET /{anchor[0]}/{anchor[1]}/flow/logs?run_id={run_id}"


def _notifications_call(key: ResourceKey) -> str:
    return f"GET /notifications?resource_type={NOTIFICATION_KINDS[key[0]]}&resource_id={key[1]}"


async def fetch_runs(
    client: NexlaClient, anchor: ResourceKey, now: datetime, window: timedelta = HISTORY_WINDOW,
    max_runs: int = MAX_RUNS,
) -> RunHistory:  # fmt: skip
    """The flow's runs over ``window`` (newest ``max_runs``), from its anchor's flow metrics.

    When none of those runs moved anything, the window is read whole (``WIDE_PAGE`` runs a
    page), then the last ``LONGEST_LOOKBACK``, until a run that moved records turns up: an empty
    streak is judged against the flow's own history, however many runs that takes.
    """
    first = await client.get_flow_metrics(
        anchor[0], anchor[1], from_date=(now - window).date(), groupby="runId", per_page=max_runs
    )
    pages = [first]
    history = RunHistory.from_metrics(metrics_call(anchor), first)
    if not history.runs or any(run.records or run.errors for run in history.runs):
        return history
    whole = (first.meta.total_count or 0) <= len(history.runs)  # the window was read whole
    spans = ([] if whole else [window]) + ([LONGEST_LOOKBACK] if LONGEST_LOOKBACK > window else [])
    moved = False
    for span in spans:
        for number in range(1, MAX_WIDE_PAGES + 1):
            page = await client.get_flow_metrics(
                anchor[0], anchor[1], from_date=(now - span).date(), groupby="runId",
                page=number, per_page=WIDE_PAGE,
            )  # fmt: skip
            pages.append(page)
            moved = any(run.records for run in RunHistory.from_metrics("", page).runs)
            if moved or number * WIDE_PAGE >= (page.meta.total_count or 0):
                break
        if moved:
            break
    return RunHistory.from_metrics(metrics_call(anchor), *pages)


async def probe(client: NexlaClient, credential_id: int) -> ProbeOutcome:
    """Probe one credential; a refusal is an outcome, other errors propagate."""
    call = probe_call(credential_id)
    try:
        reply: ProbeResult = await client.probe_credential(credential_id)
    except CredentialError as error:
        # The external system's answer is in the body; the message is only our words.
        message = upstream_message(error.response) or error.message
        return ProbeOutcome(credential_id, call, ok=False, message=message,
                            status_code=error.status_code)  # fmt: skip
    return ProbeOutcome(credential_id, call, ok=reply.ok, status_code=reply.status_code)


def probe_calls(
    client: NexlaClient, flow: FlowMap, limit: int = MAX_PROBES
) -> dict[str, Callable[[], Any]]:
    """Probe calls for the flow's credentials, the source's first, at most ``limit``."""
    credential_ids = list(flow.credential_users())[:limit]
    return {probe_call(cid): (lambda cid=cid: probe(client, cid)) for cid in credential_ids}


async def probe_credentials(
    gather: Gatherer, client: NexlaClient, flow: FlowMap, limit: int = MAX_PROBES
) -> list[ProbeOutcome]:
    """Probe the flow's credentials in parallel through ``gather``."""
    results = await gather.run(probe_calls(client, flow, limit))
    return [result for result in results.values() if isinstance(result, ProbeOutcome)]


async def read_failing_logs(
    client: NexlaClient, anchor: ResourceKey, run: RunTotals, gather: Gatherer
) -> LogSample:
    """A failing run's first page and every error line beyond it (see ``logread``)."""
    found = await read_whole_run(client, anchor, run, time_left=gather.time_left)
    return LogSample(run.run_id, logs_call(anchor, run.run_id), found.entries, found.total,
                     found.complete)  # fmt: skip


async def read_run_logs(client: NexlaClient, anchor: ResourceKey, run: RunTotals) -> LogSample:
    """The first page of one run's logs across the whole flow."""
    started = run.started_at
    assert started is not None, "only runs whose id is a time are read"
    page = await client.get_flow_logs(
        anchor[0], anchor[1], run_id=run.run_id, from_ts=started - LOG_LEAD,
        per_page=LOG_PAGE_SIZE,
    )  # fmt: skip
    return LogSample(run.run_id, logs_call(anchor, run.run_id), page.entries, page.meta.total_count)


async def collect_evidence(
    client: NexlaClient, target: FlowTarget, *, now: datetime, gather: Gatherer
) -> FlowEvidence | None:
    """Run the three rounds; None when the deadline passes before the flow itself is read.

    Raises:
        NexlaError: reading the flow failed (unknown id, no access, Nexla down).
    """
    first = await gather.run({flow_call(target): lambda: fetch_flow(client, target)})
    flow = first.get(flow_call(target))
    if flow is None:
        return None
    if isinstance(flow, NexlaError):
        raise flow
    evidence = FlowEvidence(flow=flow, flow_call=flow_call(target), now=now)
    anchor = flow.anchor
    since = now - HISTORY_WINDOW

    second: dict[str, Callable[[], Any]] = {}
    if anchor is not None:
        second[metrics_call(anchor)] = lambda: fetch_runs(client, anchor, now)
        second[_notifications_call(anchor)] = lambda: client.list_notifications(
            resource_type=anchor[0], resource_id=anchor[1], from_ts=since,
            per_page=NOTIFICATION_PAGE_SIZE,
        )  # fmt: skip
    second.update(probe_calls(client, flow))
    evidence.audit_call = f"GET /flows/{flow.flow_id}/audit_log"
    second[evidence.audit_call] = lambda: client.get_audit_log(
        "flows", flow.flow_id, per_page=AUDIT_PAGE_SIZE
    )
    second.update(transform_audit_calls(client, flow))
    results = await gather.run(second)
    _file_second_round(evidence, results)

    if evidence.history is None or anchor is None:
        return evidence
    failed, good = evidence.history.focus()
    if failed is None:  # nothing failed recently: no logs or error notifications to read
        return evidence
    third: dict[str, Callable[[], Any]] = {}
    others = [group.last for group in run_state(evidence.history).others[-MAX_OTHER_CAUSES:]]
    for run in (failed, *others):
        if run.started_at is not None:
            third[logs_call(anchor, run.run_id)] = lambda run=run: read_failing_logs(
                client, anchor, run, gather
            )
    if good is not None and good.started_at is not None:
        third[logs_call(anchor, good.run_id)] = lambda: read_run_logs(client, anchor, good)
    erroring = [key for key in evidence.history.erroring_resources(failed.run_id) if key != anchor]
    for key in erroring[:MAX_ERROR_NOTIFICATIONS]:
        third[_notifications_call(key)] = lambda key=key: client.list_notifications(
            resource_type=key[0], resource_id=key[1], from_ts=since,
            per_page=NOTIFICATION_PAGE_SIZE,
        )  # fmt: skip
    if gather.expired:
        gather.skip(*third)
        return evidence
    results = await gather.run(third)
    for result in results.values():
        if isinstance(result, LogSample):
            if result.run_id == failed.run_id:
                evidence.failed_logs = result
            elif good is not None and result.run_id == good.run_id:
                evidence.good_logs = result
            else:
                evidence.cause_logs[result.run_id] = result
    _file_notifications(evidence, results)
    return evidence


def _file_second_round(evidence: FlowEvidence, results: dict[str, Any]) -> None:
    for result in results.values():
        if isinstance(result, RunHistory):
            evidence.history = result
        elif isinstance(result, ProbeOutcome):
            evidence.probes.append(result)
    audit = results.get(evidence.audit_call or "")
    if audit is not None and not isinstance(audit, NexlaError):
        evidence.audit = list(audit.items)
    for transform_id in evidence.flow.transforms:
        log = results.get(transform_audit_call(transform_id))
        if log is not None and not isinstance(log, NexlaError):
            evidence.transform_audits[transform_id] = list(log.items)
    _file_notifications(evidence, results)


def _file_notifications(evidence: FlowEvidence, results: dict[str, Any]) -> None:
    for label, result in results.items():
        if label.startswith("GET /notifications") and not isinstance(result, NexlaError):
            evidence.notifications.extend((label, note) for note in result.items)
