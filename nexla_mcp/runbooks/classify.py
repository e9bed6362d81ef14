"""Decide a flow's root-cause category from collected evidence, with a confidence.

The decision, in order:

1. a flow that is PAUSED or never started is ``flow_not_running`` (whatever failed before);
2. a flow whose latest run failed, or with more than 20 % failing recent runs, gets the
   category its failure wording points to (log lines of the failing run, credential probes,
   notifications, and changes made shortly before the failures began, weighted in that
   order); failures without recognisable wording are ``high_error_rate`` when they are
   partial or intermittent, and ``unknown`` when runs fail outright for an unknown reason;
3. an active flow whose last run is older than ``max(24 h, 2 × its usual interval)``, or whose
   runs moved no records for a day after moving some before, is ``stale_data``;
4. a credential that fails its probe while runs still succeed gets its probe's category (the
   next run will fail), with less confidence;
5. otherwise ``healthy``.

Confidence grows with the number of independent kinds of evidence that agree and shrinks when
another category scores close or key calls gave no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from nexla_mcp.nexla import Notification
from nexla_mcp.runbooks.changes import Change
from nexla_mcp.runbooks.clustering import LogCluster, template_of
from nexla_mcp.runbooks.compare import cluster_resource
from nexla_mcp.runbooks.evidence import FlowEvidence, ProbeOutcome, RunHistory
from nexla_mcp.runbooks.flowmap import FlowMap
from nexla_mcp.runbooks.report import Category, untrusted
from nexla_mcp.runbooks.runs import FAILING_STATUSES, RunStreak, RunTotals, streak_of
from nexla_mcp.runbooks.signals import categories_in

__all__ = ["RunFacts", "Signal", "Verdict", "classify", "run_facts"]

# Categories a failure's wording can name; the others follow from state and run history.
CAUSES: frozenset[Category] = frozenset({
    "credential_expired", "permission_denied", "rate_limited", "network_timeout",
    "resource_conflict", "transform_error", "schema_mismatch",
})  # fmt: skip
HIGH_ERROR_RATIO = 0.2
STALE_AFTER = timedelta(hours=24)
CHANGE_WINDOW = timedelta(hours=24)
_WEIGHTS = {"ERROR": 2.0, "WARNING": 1.0}
Source = Literal["logs", "probe", "notification", "change"]


@dataclass(frozen=True)
class Signal:
    """One piece of evidence pointing to a category, and the call that produced it."""

    category: Category
    weight: float
    source: Source
    call: str
    finding: str


@dataclass(frozen=True)
class RunFacts:
    """What the run history says, independent of any wording."""

    recent: list[RunTotals]
    failing: int
    streak: RunStreak
    last_run_age: timedelta | None
    interval: timedelta | None
    stale_after: timedelta
    idle_since: datetime | None

    @property
    def ratio(self) -> float:
        return self.failing / len(self.recent) if self.recent else 0.0

    @property
    def latest_failing(self) -> bool:
        latest = self.streak.latest
        return latest is not None and latest.status in FAILING_STATUSES

    @property
    def stale(self) -> bool:
        too_old = self.last_run_age is not None and self.last_run_age > self.stale_after
        return too_old or self.idle_since is not None


@dataclass(frozen=True)
class Verdict:
    """The category, how sure, and the signals behind it (strongest first)."""

    category: Category
    confidence: float
    signals: list[Signal]
    facts: RunFacts | None
    cause_before_stop: Category | None = None


def run_facts(history: RunHistory, now: datetime) -> RunFacts:
    recent = history.recent()
    interval_ms = history.interval_ms()
    interval = timedelta(milliseconds=interval_ms) if interval_ms else None
    latest = history.runs[-1] if history.runs else None
    started = latest.started_at if latest else None
    stale_after = max(STALE_AFTER, 2 * interval) if interval else STALE_AFTER
    return RunFacts(
        recent=recent,
        failing=sum(run.status in FAILING_STATUSES for run in recent),
        streak=streak_of(history.runs),
        last_run_age=now - started if started else None,
        interval=interval,
        stale_after=stale_after,
        idle_since=_idle_since(history.runs, now),
    )


def _idle_since(runs: list[RunTotals], now: datetime) -> datetime | None:
    """Start of a day-long (or longer) stretch of runs that moved nothing, after runs that did."""
    quiet = [run for run in runs if run.started_at and now - run.started_at <= STALE_AFTER]
    if not quiet or any(run.records or run.errors for run in quiet):
        return None
    before = [run for run in runs if run not in quiet]
    if not any(run.records for run in before):
        return None
    last_busy = max(run.run_id for run in before if run.records)
    first_quiet = min((run for run in runs if run.run_id > last_busy), key=lambda r: r.run_id)
    return first_quiet.started_at


# --- signals -----------------------------------------------------------------------------------


def log_signals(flow: FlowMap, call: str, clusters: list[LogCluster]) -> list[Signal]:
    signals = []
    for cluster in clusters:
        weight = _WEIGHTS.get(cluster.severity, 0.5)
        where = cluster_resource(flow, cluster)
        finding = f"{cluster.count}x {cluster.severity}{f' on {where}' if where else ''}: " + (
            untrusted(cluster.example, 200) or cluster.template
        )
        found = categories_in(cluster.example) | categories_in(cluster.template)
        signals.extend(Signal(category, weight, "logs", call, finding) for category in found)
    return signals


def probe_signals(flow: FlowMap, probes: list[ProbeOutcome]) -> list[Signal]:
    signals = []
    for probe in probes:
        if probe.ok:
            continue
        message = untrusted(probe.message, 200) or "refused"
        finding = f"{flow.credential_label(probe.credential_id)} fails its probe: {message}"
        found = categories_in(probe.message or "") & {"credential_expired", "permission_denied"}
        weight = 3.0 if found else 1.5  # a refusal without wording is weaker evidence
        signals.extend(
            Signal(category, weight, "probe", probe.call, finding)
            for category in found or {"credential_expired"}
        )
    return signals


def notification_signals(notes: list[tuple[str, Notification]]) -> list[Signal]:
    seen: set[str] = set()
    signals = []
    for call, note in notes:
        level = (note.level or "").upper()
        message = note.message or ""
        key = f"{level}:{template_of(message)}"
        if level not in ("ERROR", "WARN", "WARNING") or key in seen:
            continue
        seen.add(key)
        repeats = sum(1 for _, other in notes if other.message == note.message)
        finding = f"{level} notification{f' x{repeats}' if repeats > 1 else ''}: " + (
            untrusted(message, 200) or ""
        )
        signals.extend(
            Signal(c, 1.0, "notification", call, finding) for c in categories_in(message)
        )
    return signals


def change_signals(changes: list[Change], onset: datetime | None) -> list[Signal]:
    if onset is None:
        return []
    signals = []
    for change in changes:
        if onset - CHANGE_WINDOW <= change.at <= onset:
            minutes = round((onset - change.at).total_seconds() / 60)
            finding = f"{change.what} {minutes} min before the first failing run"
            signals.extend(
                Signal(category, 1.0, "change", change.call, finding)
                for category in change.points_to() - {"flow_not_running"}
            )
    return signals


# --- decision ----------------------------------------------------------------------------------


def _confidence(signals: list[Signal], category: Category, runner_up: float, best: float,
                facts: RunFacts | None, logs_read: bool) -> float:  # fmt: skip
    sources = {signal.source for signal in signals if signal.category == category}
    value = 0.55 + 0.15 * (len(sources) >= 2) + 0.1 * (len(sources) >= 3)
    if facts is not None and facts.latest_failing and facts.streak.consecutive_failures >= 2:
        value += 0.1
    if runner_up >= 0.5 * best:
        value -= 0.15
    if not logs_read:
        value -= 0.1
    return round(min(0.95, max(0.1, value)), 2)


def classify(
    evidence: FlowEvidence,
    facts: RunFacts | None,
    clusters: list[LogCluster],
    changes: list[Change],
    onset: datetime | None,
) -> Verdict:
    """The verdict for one flow (rules in the module docstring); ``facts`` are
    ``run_facts(evidence.history)`` when the runs were read."""
    flow = evidence.flow
    signals = [
        *(log_signals(flow, evidence.failed_logs.call, clusters) if evidence.failed_logs else []),
        *probe_signals(flow, evidence.probes),
        *notification_signals(evidence.notifications),
        *change_signals(changes, onset),
    ]
    signals.sort(key=lambda signal: -signal.weight)
    causes = [(s.category, s.weight) for s in signals if s.category in CAUSES]
    ranked = _ranked(causes)
    best = ranked[0] if ranked else None
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0

    def verdict(category: Category, confidence: float, **extra: Category | None) -> Verdict:
        kept = [s for s in signals if s.category == category]
        return Verdict(category, round(confidence, 2), kept, facts, **extra)

    if flow.kind_of_status() in ("paused", "not_started"):
        before = best[0] if best and facts and facts.failing else None
        return verdict("flow_not_running", 0.9, cause_before_stop=before)
    if "RATE_LIMIT" in flow.status:
        return verdict("rate_limited", 0.85)
    logs_read = evidence.failed_logs is not None
    if (
        facts is not None
        and facts.failing
        and (facts.latest_failing or facts.ratio > HIGH_ERROR_RATIO)
    ):
        if best is not None:
            confidence = _confidence(signals, best[0], runner_up, best[1], facts, logs_read)
            if not {s.source for s in signals if s.category == best[0]} & {"logs", "probe"}:
                confidence = min(confidence, 0.5)
            return verdict(best[0], confidence)
        partial = any(run.status == "partial" for run in facts.recent)
        intermittent = facts.failing < len(facts.recent)
        if facts.ratio > HIGH_ERROR_RATIO and (partial or intermittent):
            support = any(s.category == "high_error_rate" for s in signals)
            return verdict("high_error_rate", 0.65 + 0.15 * support)
        return verdict("unknown", 0.3 if logs_read else 0.15)
    if facts is not None and facts.stale:
        support = any(s.category == "stale_data" for s in signals)
        return verdict("stale_data", 0.75 + 0.1 * support)
    refused = [s for s in signals if s.source == "probe"]
    if refused:
        return verdict(refused[0].category, 0.5)
    if facts is None or not facts.recent:
        if evidence.history is None:
            return verdict("unknown", 0.2)
        # Active, but no run in the whole window: it ran before (stale) or never did.
        ran_before = flow.origin.last_run_id is not None
        return verdict("stale_data" if ran_before else "flow_not_running", 0.6)
    unprobed = bool(flow.credential_users()) and not evidence.probes
    return verdict("healthy", 0.8 if unprobed else 0.9)


def _ranked(scores: list[tuple[Category, float]]) -> list[tuple[Category, float]]:
    """Categories by total score, highest first; ties keep the order of first appearance."""
    totals: dict[Category, float] = {}
    for category, score in scores:
        totals[category] = totals.get(category, 0.0) + score
    return sorted(totals.items(), key=lambda item: -item[1])
