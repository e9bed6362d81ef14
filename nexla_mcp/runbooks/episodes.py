"""Where a flow's runs stand now, and which failing runs belong to which cause.

A verdict describes the flow as it is now, so the run history is read from its end:

- **phase**: ``failing`` (the latest run failed or was partial), ``intermittent`` (it
  succeeded, but more than 20 % of the recent runs failed in separate stretches),
  ``recovering`` (it succeeded after one stretch of failures, fewer than ``RECOVERED_RUNS``
  times so far), ``recovered`` (at least ``RECOVERED_RUNS`` successes since) or ``ok``.
- **groups**: the failing runs that matter now (the current streak, the recent failures of an
  intermittent flow, or the stretch a flow recovered from), grouped by the resources that
  reported their errors. Causes that overlap show on different resources (a transform error
  on its nexset, then an expired credential on the source), so each group is one cause with
  its own onset, runs and resource; the group holding the latest failing run is the primary.
- **empty streak**: runs that succeed but move nothing, judged against the flow's own history:
  at least ``MIN_EMPTY_RUNS`` of them (or a day of them), twice as many as the longest empty
  stretch it had before, after runs that did move records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from nexla_mcp.runbooks.runs import FAILING_STATUSES, RunTotals

if TYPE_CHECKING:
    from nexla_mcp.runbooks.evidence import RunHistory
    from nexla_mcp.runbooks.flowmap import ResourceKey

__all__ = ["RECOVERED_RUNS", "CauseRuns", "Phase", "RunState", "empty_streak", "run_state"]

RECOVERED_RUNS = 3
RECENT_RUNS = 10
INTERMITTENT_RATIO = 0.2
MIN_EMPTY_RUNS = 3
EMPTY_DAY = timedelta(hours=24)
MIN_EMPTY_SPAN = timedelta(hours=1)
Phase = Literal["failing", "intermittent", "recovering", "recovered", "ok"]


@dataclass(frozen=True)
class CauseRuns:
    """Failing runs whose errors came from the same resources, oldest first."""

    resources: tuple[ResourceKey, ...]
    runs: tuple[RunTotals, ...]

    @property
    def first(self) -> RunTotals:
        return self.runs[0]

    @property
    def last(self) -> RunTotals:
        return self.runs[-1]

    @property
    def outright(self) -> bool:
        """Every run failed as a whole (nothing got through), not record by record."""
        return all(run.status == "failed" and run.records == 0 for run in self.runs)


@dataclass(frozen=True)
class RunState:
    """The phase of the flow's runs and the causes in play (see the module docstring)."""

    phase: Phase
    groups: tuple[CauseRuns, ...] = ()
    successes_since: int = 0
    recovered_at: datetime | None = None
    stretches: int = 0

    @property
    def primary(self) -> CauseRuns | None:
        return self.groups[-1] if self.groups else None

    @property
    def others(self) -> tuple[CauseRuns, ...]:
        return self.groups[:-1]


def _failing(run: RunTotals) -> bool:
    return run.status in FAILING_STATUSES


def _stretches(runs: list[RunTotals]) -> int:
    count, inside = 0, False
    for run in runs:
        if _failing(run) and not inside:
            count += 1
        inside = _failing(run)
    return count


def _trailing(runs: list[RunTotals], keep: bool) -> list[RunTotals]:
    """The runs at the end of ``runs`` for which ``_failing(run) == keep``."""
    found: list[RunTotals] = []
    for run in reversed(runs):
        if _failing(run) != keep:
            break
        found.append(run)
    return found[::-1]


def _groups(history: RunHistory, scope: list[RunTotals]) -> tuple[CauseRuns, ...]:
    by_resources: dict[tuple[ResourceKey, ...], list[RunTotals]] = {}
    for run in scope:
        key = tuple(sorted(history.erroring_resources(run.run_id)))
        by_resources.setdefault(key, []).append(run)
    groups = [CauseRuns(key, tuple(runs)) for key, runs in by_resources.items()]
    return tuple(sorted(groups, key=lambda group: group.last.run_id))


def run_state(history: RunHistory) -> RunState:
    """The phase and the causes in play (see the module docstring)."""
    runs, recent = history.runs, history.recent(RECENT_RUNS)
    failing_recent = [run for run in recent if _failing(run)]
    if not failing_recent:
        return RunState("ok")
    stretches = _stretches(recent)
    intermittent = stretches >= 2 and len(failing_recent) / len(recent) > INTERMITTENT_RATIO
    if _failing(runs[-1]):
        scope = failing_recent if intermittent else _trailing(runs, keep=True)
        return RunState("failing", _groups(history, scope), stretches=stretches)
    after = _trailing(runs, keep=False)
    if intermittent:
        return RunState("intermittent", _groups(history, failing_recent),
                        successes_since=len(after), stretches=stretches)  # fmt: skip
    stretch = _trailing(runs[: len(runs) - len(after)], keep=True)
    phase: Phase = "recovered" if len(after) >= RECOVERED_RUNS else "recovering"
    return RunState(phase, _groups(history, stretch), successes_since=len(after),
                    recovered_at=after[0].started_at, stretches=stretches)  # fmt: skip


def empty_streak(runs: list[RunTotals], now: datetime) -> tuple[datetime, int] | None:
    """(first run, count) of the trailing runs that moved nothing, when that is unusual for
    this flow (see the module docstring); None otherwise."""
    quiet: list[RunTotals] = []
    for run in reversed(runs):
        if run.records or run.errors:
            break
        quiet.append(run)
    if not quiet or quiet[-1].started_at is None:
        return None
    before = runs[: len(runs) - len(quiet)]
    if not any(run.records for run in before):
        return None
    longest = current = 0
    for run in before:
        current = current + 1 if not (run.records or run.errors) else 0
        longest = max(longest, current)
    since = quiet[-1].started_at
    span = now - since
    enough = len(quiet) >= MIN_EMPTY_RUNS and span >= MIN_EMPTY_SPAN or span >= EMPTY_DAY
    if not enough or len(quiet) < 2 * longest:
        return None
    return since, len(quiet)
