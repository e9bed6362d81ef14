"""Run status and per-resource baselines from Nexla run-summary rows.

Nexla's run summary (``GET /{resource_type}/{id}/metrics/run_summary``) has no status, start or
end time: each row is ``runId, dataSetId, records, size, errors`` (docs/nexla-api.md §11.2, §19
#8). This module derives what an assistant actually asks:

- **status** of a run, from its totals (a resource can report several rows per run, one per
  nexset, so rows are summed per run first):

  ========  ==========================================================================
  failed    errors > 0 and the errors are at least the records (nothing, or less than
            the failures, got through)
  partial   errors > 0 but more records than errors went through
  success   no errors and at least one record
  empty     no records and no errors: the run happened and moved nothing
  ========  ==========================================================================

  "records" is ambiguous upstream (total attempted in some payloads, delivered in others); the
  rule above reads correctly under either meaning.

- **baseline**: records and errors of a run against the median of the runs before it (up to
  ``window`` of them), with flags such as ``records_drop`` and ``error_spike`` so "is this run
  abnormal?" has a yes/no answer and a reason. With fewer than ``min_history`` earlier runs
  there is no baseline and no flags: a new flow is not abnormal, just new.

- **streak**: whether the latest run failed, and since which run the resource has been failing.

- **whole flows**: per-run totals of every resource of a flow (``flow/metrics?groupby=runId``)
  and one health word per flow (failing, degraded, paused, idle, stale, ok).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

__all__ = [
    "DEFAULT_MIN_HISTORY",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_WINDOW",
    "FAILING_STATUSES",
    "Baseline",
    "FlowHealth",
    "RunAssessment",
    "RunRow",
    "RunStatus",
    "RunStreak",
    "RunTotals",
    "aggregate_runs",
    "assess_runs",
    "flow_health",
    "flow_run_totals",
    "run_started_at",
    "run_status",
    "streak_of",
]

RunStatus = Literal["success", "partial", "failed", "empty"]
FAILING_STATUSES: frozenset[RunStatus] = frozenset({"failed", "partial"})

DEFAULT_WINDOW = 7
DEFAULT_MIN_HISTORY = 3
# A run carrying less than half the usual records is a drop; more than three times, a spike.
RECORDS_DROP_RATIO = 0.5
RECORDS_SPIKE_RATIO = 3.0
# Errors more than double the usual count are a spike; with a usual count of zero, any error is.
ERROR_SPIKE_RATIO = 2.0

# Run ids are epoch-millisecond-like; outside this range they are just ids, not times.
_EARLIEST_RUN_MS = 946_684_800_000  # 2000-01-01
_LATEST_RUN_MS = 4_102_444_800_000  # 2100-01-01


class RunRow(NamedTuple):
    """One run-summary row (the client's shape, reduced to what status and baselines need)."""

    run_id: int
    records: int = 0
    errors: int = 0
    size: int = 0


def run_status(records: int, errors: int) -> RunStatus:
    """Classify one run from its totals (rules in the module docstring)."""
    if errors > 0:
        return "failed" if errors >= records else "partial"
    return "success" if records > 0 else "empty"


def run_started_at(run_id: int) -> datetime | None:
    """The time a run id encodes (Nexla run ids are epoch ms at run start), or None."""
    if _EARLIEST_RUN_MS <= run_id < _LATEST_RUN_MS:
        return datetime.fromtimestamp(run_id / 1000, tz=UTC)
    return None


@dataclass(frozen=True)
class RunTotals:
    """One run of one resource: the sum of its rows."""

    run_id: int
    records: int
    errors: int
    size: int

    @property
    def status(self) -> RunStatus:
        return run_status(self.records, self.errors)

    @property
    def started_at(self) -> datetime | None:
        return run_started_at(self.run_id)


def aggregate_runs(rows: Iterable[RunRow]) -> list[RunTotals]:
    """Sum rows per run id, oldest run first (run ids grow with time)."""
    totals: dict[int, list[int]] = {}
    for row in rows:
        bucket = totals.setdefault(row.run_id, [0, 0, 0])
        bucket[0] += max(row.records, 0)
        bucket[1] += max(row.errors, 0)
        bucket[2] += max(row.size, 0)
    return [
        RunTotals(run_id=run_id, records=r, errors=e, size=s)
        for run_id, (r, e, s) in sorted(totals.items())
    ]


@dataclass(frozen=True)
class Baseline:
    """The trailing median of the runs before a run."""

    runs: int
    median_records: float
    median_errors: float


@dataclass(frozen=True)
class RunAssessment:
    """A run with its derived status, its baseline and what is abnormal about it."""

    run: RunTotals
    status: RunStatus
    baseline: Baseline | None
    flags: tuple[str, ...]

    @property
    def records_ratio(self) -> float | None:
        """Records of this run divided by the baseline median (None without a usable baseline)."""
        if self.baseline is None or self.baseline.median_records <= 0:
            return None
        return self.run.records / self.baseline.median_records


def _flags(run: RunTotals, baseline: Baseline | None) -> tuple[str, ...]:
    if baseline is None:
        return ()
    flags: list[str] = []
    usual_records, usual_errors = baseline.median_records, baseline.median_errors
    if usual_records > 0:
        if run.records == 0:
            flags.append("records_zero")
        elif run.records < usual_records * RECORDS_DROP_RATIO:
            flags.append("records_drop")
        elif run.records > usual_records * RECORDS_SPIKE_RATIO:
            flags.append("records_spike")
    if run.errors > 0 and run.errors > usual_errors * ERROR_SPIKE_RATIO:
        flags.append("error_spike")
    return tuple(flags)


def assess_runs(
    runs: Sequence[RunTotals],
    *,
    window: int = DEFAULT_WINDOW,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> list[RunAssessment]:
    """Assess each run against the runs before it, newest first.

    ``runs`` must be oldest first (as ``aggregate_runs`` returns them). Each run's baseline is
    the median of up to ``window`` runs immediately before it; runs with fewer than
    ``min_history`` predecessors get no baseline.
    """
    if window < 1 or min_history < 1:
        raise ValueError("window and min_history must be at least 1")
    # statistics imports fractions and decimal: not with every start, only when assessing.
    from statistics import median

    assessments: list[RunAssessment] = []
    for index, run in enumerate(runs):
        history = runs[max(0, index - window) : index]
        baseline = (
            Baseline(
                runs=len(history),
                median_records=float(median(r.records for r in history)),
                median_errors=float(median(r.errors for r in history)),
            )
            if len(history) >= min_history
            else None
        )
        assessments.append(
            RunAssessment(
                run=run, status=run.status, baseline=baseline, flags=_flags(run, baseline)
            )
        )
    assessments.reverse()
    return assessments


@dataclass(frozen=True)
class RunStreak:
    """The current state of a resource's runs: the latest one, and how long it has been failing.

    ``failing_since`` is the oldest run of the current unbroken streak of failed or partial
    runs (None when the latest run is healthy); ``last_success`` is the newest successful run.
    Both only look at the runs given, so an older start is possible: ``streak_is_complete``
    says whether a healthy run was seen before the streak.
    """

    latest: RunTotals | None
    consecutive_failures: int
    failing_since: RunTotals | None
    last_success: RunTotals | None
    streak_is_complete: bool


def streak_of(runs: Sequence[RunTotals]) -> RunStreak:
    """Summarise the failure streak at the end of ``runs`` (oldest first)."""
    if not runs:
        return RunStreak(None, 0, None, None, streak_is_complete=True)
    failures = 0
    for run in reversed(runs):
        if run.status not in FAILING_STATUSES:
            break
        failures += 1
    last_success = next((r for r in reversed(runs) if r.status == "success"), None)
    return RunStreak(
        latest=runs[-1],
        consecutive_failures=failures,
        failing_since=runs[-failures] if failures else None,
        last_success=last_success,
        streak_is_complete=failures < len(runs),
    )


# --- whole flows ------------------------------------------------------------------------------

FlowHealth = Literal["failing", "degraded", "stale", "paused", "idle", "ok"]
DEFAULT_STALE_AFTER = timedelta(hours=24)


def flow_run_totals(by_run: Mapping[str, Any]) -> list[RunTotals]:
    """Per-run totals of a whole flow from ``flow/metrics?groupby=runId`` data, oldest first.

    ``by_run`` maps run id -> ``{"data_sources": [{"id", "metric": {...}}], "data_sets": [...],
    "data_sinks": [...]}`` (docs/nexla-api.md §6.12). Errors are summed over every resource
    (a transform error shows on a nexset, a rejected write on a destination); records are what
    the destinations wrote, or what the source read when the flow has no destination, because
    adding up the same records at every step would count them several times.
    """
    runs: list[RunTotals] = []
    for key, kinds in by_run.items():
        if not str(key).isdigit() or not isinstance(kinds, Mapping):
            continue
        metrics = {
            kind: _metrics_of(kinds.get(kind))
            for kind in ("data_sources", "data_sets", "data_sinks")
        }
        delivered = metrics["data_sinks"] or metrics["data_sources"]
        runs.append(
            RunTotals(
                run_id=int(key),
                records=sum(m.get("records", 0) for m in delivered),
                errors=sum(m.get("errors", 0) for kind in metrics.values() for m in kind),
                size=sum(m.get("size", 0) for m in delivered),
            )
        )
    runs.sort(key=lambda run: run.run_id)
    return runs


def _metrics_of(entries: Any) -> list[dict[str, int]]:
    if not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        metric = entry.get("metric") if isinstance(entry, Mapping) else None
        if isinstance(metric, Mapping):
            found.append({k: int(v) for k, v in metric.items() if isinstance(v, int | float)})
    return found


def flow_health(
    status: str | None,
    runs: Sequence[RunTotals],
    *,
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> FlowHealth:
    """One word for the state of a flow, from its status and its recent runs (oldest first).

    ========  ===============================================================================
    failing   the latest run failed (even if the flow has since been paused: the cause stands)
    degraded  the latest run was partial, or an earlier recent run failed
    paused    paused, and its recent runs were healthy
    idle      no runs at all (never activated, or history expired)
    stale     active, but the latest run started more than ``stale_after`` ago
    ok        active with healthy recent runs
    ========  ===============================================================================
    """
    if runs:
        if runs[-1].status == "failed":
            return "failing"
        if any(run.status in FAILING_STATUSES for run in runs):
            return "degraded"
    if (status or "").upper() == "PAUSED":
        return "paused"
    if not runs:
        return "idle"
    started = runs[-1].started_at
    if started is not None and now - started > stale_after:
        return "stale"
    return "ok"
