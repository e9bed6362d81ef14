"""What a flow's run history says, independent of any wording: the facts every verdict shares.

``diagnose_flow``, ``check_flow_health`` and ``org_health`` all judge a flow from these, so
they agree on whether it is failing, recovering, recovered, stale or idle. Staleness is
judged against the flow's own schedule: no run for ``max(STALE_FLOOR, STALE_INTERVALS ×
its usual interval)``, or runs that move nothing for longer than its history makes usual
(``episodes.empty_streak``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nexla_mcp.runbooks.episodes import RunState, empty_streak, run_state
from nexla_mcp.runbooks.evidence import RunHistory
from nexla_mcp.runbooks.runs import FAILING_STATUSES, RunStreak, RunTotals, streak_of

__all__ = ["HIGH_ERROR_RATIO", "STALE_FLOOR", "RunFacts", "run_facts"]

HIGH_ERROR_RATIO = 0.2
STALE_FLOOR = timedelta(hours=2)
STALE_INTERVALS = 2.5
# Without a known schedule (fewer than two runs), a day.
STALE_UNKNOWN = timedelta(hours=24)


@dataclass(frozen=True)
class RunFacts:
    """What the run history says (see the module docstring)."""

    recent: list[RunTotals]
    failing: int
    streak: RunStreak
    last_run_age: timedelta | None
    interval: timedelta | None
    stale_after: timedelta
    idle_since: datetime | None
    state: RunState
    empty_runs: int = 0

    @property
    def ratio(self) -> float:
        return self.failing / len(self.recent) if self.recent else 0.0

    @property
    def latest_failing(self) -> bool:
        latest = self.streak.latest
        return latest is not None and latest.status in FAILING_STATUSES

    @property
    def too_old(self) -> bool:
        return self.last_run_age is not None and self.last_run_age > self.stale_after

    @property
    def stale(self) -> bool:
        return self.too_old or self.idle_since is not None

    @property
    def failing_now(self) -> bool:
        """Failing (the latest run) or intermittently failing (over 20 % of recent runs)."""
        return self.state.phase in ("failing", "intermittent")


def run_facts(history: RunHistory, now: datetime) -> RunFacts:
    recent = history.recent()
    interval_ms = history.interval_ms()
    interval = timedelta(milliseconds=interval_ms) if interval_ms else None
    latest = history.runs[-1] if history.runs else None
    started = latest.started_at if latest else None
    stale_after = max(STALE_FLOOR, STALE_INTERVALS * interval) if interval else STALE_UNKNOWN
    empty = empty_streak(history.runs, now)
    return RunFacts(
        recent=recent,
        failing=sum(run.status in FAILING_STATUSES for run in recent),
        streak=streak_of(history.runs),
        last_run_age=now - started if started else None,
        interval=interval,
        stale_after=stale_after,
        idle_since=empty[0] if empty else None,
        state=run_state(history),
        empty_runs=empty[1] if empty else 0,
    )
