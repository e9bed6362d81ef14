"""Watch a flow's next runs after a fix: did it recover, is it still failing, or no run yet?

A fix is only a fix once a run after it succeeds (step 7 of the reference runbook). This polls
the flow's per-run metrics (``flow/metrics?groupby=runId``, docs/nexla-api.md §6.12) for runs
that started after a moment (``since``), until ``runs`` of them are there or the timeout
passes. A run counts once Nexla reports metrics for it. The answer:

- ``recovered``: the first ``runs`` new runs all succeeded (errors 0);
- ``still_failing``: a new run had errors (the caller re-diagnoses for the new category);
- ``no_run_yet``: the timeout passed with fewer new runs than asked for.

Waiting is injected (``sleep``, ``clock``) so tests can move a simulated clock instead of
sleeping, and progress goes to a callback (the tool turns it into MCP progress notifications).
No MCP imports: the rotation and migration workflows call this too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.runs import RunTotals, flow_run_totals

__all__ = [
    "DEFAULT_POLL_S",
    "Progress",
    "WatchOutcome",
    "WatchStatus",
    "watch_runs",
]

WatchStatus = Literal["recovered", "still_failing", "no_run_yet"]
Progress = Callable[[float, float, str], Awaitable[None]]
"""``progress(done, total, message)``: seconds waited of the timeout, and what was seen."""

DEFAULT_POLL_S = 15.0
# Metrics are asked for from the UTC day before ``since``, so a run near midnight is not lost;
# they come newest first, so one page holds the new runs of any flow that runs at most every
# 15 minutes.
_DAY = timedelta(days=1)
_MAX_RUNS_READ = 100


@dataclass
class WatchOutcome:
    """What the watch saw: the answer and the new runs behind it, oldest first."""

    status: WatchStatus
    flow_id: int
    since: datetime
    runs: list[RunTotals] = field(default_factory=list)
    waited_s: float = 0.0
    polls: int = 0
    flow_status: str | None = None

    @property
    def failing_run(self) -> RunTotals | None:
        return next((run for run in self.runs if run.errors), None)


async def watch_runs(
    client: NexlaClient,
    flow_id: int,
    *,
    since: datetime,
    runs: int = 1,
    timeout_s: float,
    poll_s: float = DEFAULT_POLL_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    progress: Progress | None = None,
) -> WatchOutcome:
    """Wait up to ``timeout_s`` for ``runs`` runs of ``flow_id`` that started at ``since`` or
    later, and say whether they succeeded.

    ``flow_id`` is the flow's origin (its source's node id, as ``list_flows`` shows it).

    Raises:
        NexlaError: the flow or its metrics could not be read.
    """
    if runs < 1 or timeout_s < 0 or poll_s <= 0:  # the tool's schema prevents these
        raise ValueError("runs must be >= 1, timeout_s >= 0 and poll_s > 0")
    source_id, flow_status = await _origin_source(client, flow_id)
    since = since.astimezone(UTC)
    started = clock()
    outcome = WatchOutcome(
        status="no_run_yet", flow_id=flow_id, since=since, flow_status=flow_status
    )
    while True:
        seen = await _runs_since(client, source_id, since, runs)
        outcome.polls += 1
        outcome.runs = seen
        outcome.waited_s = clock() - started
        if any(run.errors for run in seen):
            outcome.status = "still_failing"
            return outcome
        if len(seen) >= runs:
            outcome.status = "recovered"
            return outcome
        remaining = timeout_s - outcome.waited_s
        if remaining <= 0:
            return outcome
        if progress is not None:
            await progress(
                round(outcome.waited_s, 1),
                timeout_s,
                f"{len(seen)} of {runs} new runs finished; waiting up to {remaining:.0f} s more",
            )
        await sleep(min(poll_s, remaining))


async def _origin_source(client: NexlaClient, flow_id: int) -> tuple[int, str | None]:
    """The source at the flow's origin (flow metrics are keyed by a resource), and the
    flow's status."""
    document = await client.get_flow(flow_id, flows_only=True)
    for node in document.flows:
        resource = node.resource
        if resource is not None and resource[0] == "data_sources":
            return resource[1], node.status
    raise ValidationError(
        f"Flow {flow_id} does not start at a source, so it has no runs to watch.",
        operation="watch_flow", resource_type="flows", resource_id=flow_id,
        hint="Watch the flow that feeds it (get_flow shows its origin).",
    )  # fmt: skip


async def _runs_since(
    client: NexlaClient, source_id: int, since: datetime, wanted: int
) -> list[RunTotals]:
    since_ms = int(since.timestamp() * 1000)
    metrics = await client.get_flow_metrics(
        "data_sources",
        source_id,
        from_date=(since - _DAY).date(),
        groupby="runId",
        per_page=_MAX_RUNS_READ,
    )
    runs = [run for run in flow_run_totals(metrics.data) if run.run_id >= since_ms]
    return runs[:wanted]
