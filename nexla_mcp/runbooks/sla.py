"""``track_sla``: a flow's runs over a window against latency, success-rate and freshness targets.

- **success rate**: runs without errors (status success or empty) over all runs in the window;
- **latency** of a run: from its start (the run id is its epoch-ms start) to the last write
  a destination reported for it (``lastWritten`` in the destinations' run summaries, which
  report it only when grouped by it, §11.2); runs without a reported write have no latency,
  and a flow without destinations has none at all;
- **data age**: hours since the latest successful run's last write (its start if no write
  time is known).

Nexla's run metrics carry no duration (docs/nexla-api.md §19 #8), hence the destination write
times. The flow's runs and each destination's run summary are read in parallel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Literal

from pydantic import BaseModel, Field

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla import NexlaClient, RunSummary
from nexla_mcp.runbooks.evidence import RunHistory, fetch_runs, metrics_call
from nexla_mcp.runbooks.flowmap import FlowTarget, fetch_flow
from nexla_mcp.runbooks.gather import DEFAULT_DEADLINE_S, Gatherer
from nexla_mcp.runbooks.report import iso
from nexla_mcp.runbooks.runs import RunTotals

__all__ = ["SlaCheck", "SlaReport", "SlaTargets", "SlaViolation", "track_sla"]

MAX_SINKS = 3
MAX_RUNS = 500
MAX_LISTED_VIOLATIONS = 10


class SlaTargets(BaseModel):
    """The thresholds (the reference defaults: 300 s, 95 %, 24 h)."""

    max_latency_s: int = Field(300, gt=0)
    min_success_rate: float = Field(0.95, ge=0, le=1)
    max_age_hours: float = Field(24, gt=0)


class SlaCheck(BaseModel):
    """One target: what was measured against it."""

    name: Literal["success_rate", "latency", "data_age"]
    target: float
    observed: float | None = Field(None, description="Absent when it could not be measured")
    ok: bool | None = Field(None, description="Absent when it could not be measured")
    detail: str


class SlaViolation(BaseModel):
    """One run that broke a target."""

    run_id: int
    started_at: str | None = None
    kind: Literal["failed", "partial", "latency"]
    value: float | None = Field(None, description="Latency in seconds, for latency violations")


class SlaReport(BaseModel):
    """SLA compliance of one flow over a window."""

    flow_id: int
    name: str | None = None
    window_days: int
    runs: int
    compliant: bool | None = Field(description="All measured targets met; absent if none measured")
    checks: list[SlaCheck]
    violations: list[SlaViolation] = Field(default_factory=list, description="Newest first, capped")
    violations_total: int = 0
    missing: list[str] = Field(default_factory=list, description="Calls that gave no answer")


def _write_times(summaries: list[RunSummary]) -> dict[int, int]:
    """Run id -> the latest ``lastWritten`` (epoch ms) any destination reported for it."""
    written: dict[int, int] = {}
    for summary in summaries:
        for row in summary.rows:
            if row.run_id and row.last_written:
                written[row.run_id] = max(written.get(row.run_id, 0), row.last_written)
    return written


def _latency_s(run: RunTotals, written: dict[int, int]) -> float | None:
    end = written.get(run.run_id)
    return max(0.0, (end - run.run_id) / 1000) if end else None


def _checks(runs: list[RunTotals], written: dict[int, int], targets: SlaTargets,
            now: datetime, has_sinks: bool) -> list[SlaCheck]:  # fmt: skip
    good = [run for run in runs if run.errors == 0]
    rate = len(good) / len(runs) if runs else None
    checks = [SlaCheck(
        name="success_rate", target=targets.min_success_rate,
        observed=round(rate, 3) if rate is not None else None,
        ok=None if rate is None else rate >= targets.min_success_rate,
        detail=f"{len(good)} of {len(runs)} runs without errors" if runs
        else "no runs in the window",
    )]  # fmt: skip
    latencies = [lat for run in runs if (lat := _latency_s(run, written)) is not None]
    worst = max(latencies) if latencies else None
    checks.append(SlaCheck(
        name="latency", target=targets.max_latency_s,
        observed=round(worst, 1) if worst is not None else None,
        ok=None if worst is None else worst <= targets.max_latency_s,
        detail=(f"slowest of {len(latencies)} runs; median {median(latencies):.0f} s"
                if latencies else "no destination reported write times"
                if has_sinks else "the flow has no destination"),
    ))  # fmt: skip
    delivered = [written.get(run.run_id, run.run_id) for run in good]
    age = (now.timestamp() * 1000 - max(delivered)) / 3_600_000 if delivered else None
    checks.append(SlaCheck(
        name="data_age", target=targets.max_age_hours,
        observed=round(age, 1) if age is not None else None,
        ok=None if age is None else age <= targets.max_age_hours,
        detail="hours since the latest successful delivery" if age is not None
        else "no successful run in the window",
    ))  # fmt: skip
    return checks


def _violations(runs: list[RunTotals], written: dict[int, int], targets: SlaTargets
                ) -> list[SlaViolation]:  # fmt: skip
    found = []
    for run in reversed(runs):
        if run.errors:
            kind: Literal["failed", "partial"] = "failed" if run.status == "failed" else "partial"
            found.append(SlaViolation(run_id=run.run_id, started_at=iso(run.started_at), kind=kind))
        latency = _latency_s(run, written)
        if latency is not None and latency > targets.max_latency_s:
            found.append(SlaViolation(run_id=run.run_id, started_at=iso(run.started_at),
                                      kind="latency", value=round(latency, 1)))  # fmt: skip
    return found


async def track_sla(
    client: NexlaClient,
    target: FlowTarget,
    targets: SlaTargets,
    *,
    days: int = 7,
    now: datetime,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> SlaReport:
    """Measure one flow against ``targets`` over the last ``days`` days (module docstring).

    Raises:
        ValidationError: ``days`` outside 1..30.
        NexlaError: the flow itself could not be read.
    """
    if not 1 <= days <= 30:
        raise ValidationError("days must be between 1 and 30", operation="validate_arguments",
                              hint="Pass a window of 1 to 30 days.")  # fmt: skip
    gather = Gatherer(deadline_s=deadline_s)
    flow = await fetch_flow(client, target)
    anchor = flow.anchor
    sinks = flow.resources("data_sinks")[:MAX_SINKS]
    calls = {
        f"GET /data_sinks/{sink}/metrics/run_summary?groupby=lastWritten": (
            lambda sink=sink: client.get_run_summary(
                "data_sinks", sink, groupby="lastWritten", size=MAX_RUNS
            )
        )
        for sink in sinks
    }
    if anchor is not None:
        calls[metrics_call(anchor)] = lambda: fetch_runs(
            client, anchor, now, window=timedelta(days=days), max_runs=MAX_RUNS
        )
    results = await gather.run(calls)
    history = next((r for r in results.values() if isinstance(r, RunHistory)), None)
    cutoff = now - timedelta(days=days)
    runs = [r for r in history.runs if r.started_at and r.started_at >= cutoff] if history else []
    written = _write_times([r for r in results.values() if isinstance(r, RunSummary)])
    checks = _checks(runs, written, targets, now, has_sinks=bool(sinks))
    measured = [check.ok for check in checks if check.ok is not None]
    violations = _violations(runs, written, targets)
    return SlaReport(
        flow_id=flow.flow_id, name=flow.name, window_days=days, runs=len(runs),
        compliant=all(measured) if measured else None, checks=checks,
        violations=violations[:MAX_LISTED_VIOLATIONS], violations_total=len(violations),
        missing=gather.missing(),
    )  # fmt: skip
