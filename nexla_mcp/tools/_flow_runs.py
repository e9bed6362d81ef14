"""How a flow's recent runs went, read with one ``flow/metrics?groupby=runId`` call per flow.

Shared by ``list_flows``/``get_flow`` (health per flow) and ``get_flow_logs`` (which run to
read). "Recent" is anchored on the flow's own latest run, not on the wall clock, so a flow that
stopped running still shows what its last runs did.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from nexla_mcp.nexla import FlowNode, gather_bounded
from nexla_mcp.runbooks.runs import (
    DEFAULT_STALE_AFTER,
    RunStatus,
    RunTotals,
    flow_health,
    flow_run_totals,
    run_started_at,
    streak_of,
)
from nexla_mcp.tools._views import CompactModel, iso, utc_now

if TYPE_CHECKING:
    from nexla_mcp.nexla import NexlaClient

__all__ = [
    "HEALTH_CONCURRENCY",
    "Health",
    "RecentRuns",
    "recent_runs",
    "summaries",
    "summarize_runs",
]

# At most this many flows' metrics are read at once, whatever the page size.
HEALTH_CONCURRENCY = 6
RECENT_RUN_COUNT = 10
RECENT_WINDOW = timedelta(hours=24)

Health = Literal["failing", "degraded", "stale", "paused", "idle", "ok", "unknown"]


class RecentRuns(CompactModel):
    """How a flow's recent runs went (up to 10 runs within 24 h of its latest run)."""

    health: Health = Field(
        description="failing (latest run failed), degraded (some recent runs had errors), "
        "paused, idle (no runs), stale (no run for 24 h), ok, or unknown (runs unreadable)"
    )
    last_run_id: int | None = None
    last_run_at: str | None = Field(None, description="Start of the latest run (UTC)")
    last_run_status: RunStatus | None = None
    recent_runs: int | None = Field(None, description="Runs considered")
    recent_errors: int | None = Field(None, description="Errors summed over those runs")
    failed_runs: int | None = Field(None, description="Of those runs, how many failed or partial")
    failing_since: str | None = Field(
        None, description="Start of the first run of the current failure streak (UTC)"
    )


async def recent_runs(client: NexlaClient, origin: FlowNode) -> list[RunTotals]:
    """The flow's runs within ``RECENT_WINDOW`` of its latest run, oldest first."""
    anchor = origin.resource
    latest = run_started_at(origin.last_run_id) if origin.last_run_id else None
    if anchor is None or latest is None:
        return []
    resource_type, resource_id = anchor
    metrics = await client.get_flow_metrics(
        resource_type,
        resource_id,
        from_date=(latest - RECENT_WINDOW).date(),
        groupby="runId",
        per_page=RECENT_RUN_COUNT,
    )
    runs = flow_run_totals(metrics.data)
    if not runs:
        return []
    cutoff = runs[-1].run_id - int(RECENT_WINDOW.total_seconds() * 1000)
    return [run for run in runs if run.run_id >= cutoff]


def summarize_runs(status: str | None, runs: list[RunTotals]) -> RecentRuns:
    """What a flow's recent runs say about it."""
    health = flow_health(status, runs, now=utc_now(), stale_after=DEFAULT_STALE_AFTER)
    if not runs:
        return RecentRuns(health=health)
    latest, streak = runs[-1], streak_of(runs)
    return RecentRuns(
        health=health,
        last_run_id=latest.run_id,
        last_run_at=iso(latest.started_at),
        last_run_status=latest.status,
        recent_runs=len(runs),
        recent_errors=sum(run.errors for run in runs),
        failed_runs=sum(run.status in ("failed", "partial") for run in runs),
        failing_since=iso(streak.failing_since.started_at) if streak.failing_since else None,
    )


async def summaries(client: NexlaClient, origins: list[FlowNode]) -> list[RecentRuns | None]:
    """Recent runs of each flow, ``HEALTH_CONCURRENCY`` at a time; None where unreadable."""
    outcomes = await gather_bounded(
        [lambda origin=origin: recent_runs(client, origin) for origin in origins],
        limit=HEALTH_CONCURRENCY,
    )
    return [
        None if isinstance(outcome, Exception) else summarize_runs(origin.status, outcome)
        for origin, outcome in zip(origins, outcomes, strict=True)
    ]
