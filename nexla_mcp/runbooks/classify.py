"""Decide a flow's root-cause category from collected evidence, with a confidence.

The decision, in order:

1. a flow that is PAUSED or never started is ``flow_not_running``, with the cause of the
   failures before it stopped and whether that cause is still there;
2. a flow failing now (its latest run failed, or more than 20 % of its recent runs failed in
   separate stretches) gets the category of its **primary cause**: the failing runs that hold
   the latest failure (``episodes``); other causes overlapping with it are kept apart, each
   with its own runs. Evidence for a cause is weighed by severity first, then by time:
   the cause's own ERROR/FATAL log lines and a refused credential probe decide; WARN/INFO
   lines, alerts and changes only decide when nothing decisive names a cause, whatever their
   counts. Alerts count in full from ``ALERT_LEAD`` before the cause's first failing run on
   (older ones belong to an earlier incident and barely count), changes in full within
   ``SHORTLY`` before it and a little up to ``CHANGE_WINDOW``. Failures without recognisable
   wording are ``high_error_rate`` when partial or intermittent, else ``unknown``;
3. an active flow with no run for longer than its schedule allows, or whose runs moved
   nothing for longer than its history makes usual, is ``stale_data``;
4. a credential that fails its probe while runs succeed gets its probe's category (the resource
   that uses it is named), with less confidence;
5. a flow whose latest runs succeed after failures is ``healthy``, recovering or recovered;
6. otherwise ``healthy``.

Confidence grows with the kinds of evidence that agree and shrinks when another category
scores close or key calls gave no answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from nexla_mcp.nexla import Notification
from nexla_mcp.runbooks.changes import Change
from nexla_mcp.runbooks.clustering import LogCluster, severity_rank, template_of
from nexla_mcp.runbooks.compare import error_clusters
from nexla_mcp.runbooks.episodes import CauseRuns
from nexla_mcp.runbooks.evidence import FlowEvidence, LogSample, ProbeOutcome
from nexla_mcp.runbooks.facts import HIGH_ERROR_RATIO, RunFacts
from nexla_mcp.runbooks.flowmap import FlowMap, ResourceKey
from nexla_mcp.runbooks.report import Category, untrusted
from nexla_mcp.runbooks.signals import categories_in

__all__ = ["CAUSES", "HIGH_ERROR_RATIO", "Cause", "Signal", "Verdict", "classify"]

CAUSES: frozenset[Category] = frozenset({
    "credential_expired", "permission_denied", "rate_limited", "network_timeout",
    "resource_conflict", "transform_error", "schema_mismatch",
})  # fmt: skip
# Causes that stay until someone changes something (the others can pass by themselves).
LASTING: frozenset[Category] = frozenset({
    "credential_expired", "permission_denied", "transform_error", "schema_mismatch",
})  # fmt: skip
CHANGE_WINDOW = timedelta(hours=24)
SHORTLY = timedelta(minutes=60)
ALERT_LEAD = timedelta(minutes=15)
DECISIVE = 3
# Cluster severities are normalised (FATAL and CRITICAL fold into ERROR, WARN into WARNING).
_LOG_TIERS = {"ERROR": (DECISIVE, 2.0), "WARNING": (1, 0.5)}
_LOG_LABELS = {"SOURCE": "data_sources", "DATASET": "data_sets", "SINK": "data_sinks"}
Source = Literal["logs", "probe", "notification", "change"]


@dataclass(frozen=True)
class Signal:
    """One piece of evidence pointing to a category, and the call that produced it."""

    category: Category
    weight: float
    source: Source
    call: str
    finding: str
    tier: int = 1
    resource: ResourceKey | None = None


@dataclass(frozen=True)
class Cause:
    """One cause in play: what it is, the failing runs it explains, where, and whether it is
    still there (``persists``: True, False, or None when the evidence cannot tell)."""

    category: Category
    runs: CauseRuns | None
    signals: list[Signal]
    clusters: list[LogCluster]
    resource: ResourceKey | None
    persists: bool | None = None
    fixed_by: Change | None = None


@dataclass(frozen=True)
class Verdict:
    """The category, how sure, the primary cause and the others (strongest evidence first)."""

    category: Category
    confidence: float
    signals: list[Signal]
    facts: RunFacts | None
    cause_before_stop: Category | None = None
    primary: Cause | None = None
    others: list[Cause] = field(default_factory=list)
    recovery: Literal["recovering", "recovered"] | None = None
    resource: ResourceKey | None = None


# --- signals -----------------------------------------------------------------------------------


def _cluster_resource(cluster: LogCluster) -> ResourceKey | None:
    if not cluster.resources:
        return None
    kind, resource_id = cluster.resources[0]
    resource_type = _LOG_LABELS.get(kind.upper())
    return (resource_type, resource_id) if resource_type else None  # type: ignore[return-value]


def log_signals(flow: FlowMap, call: str, clusters: list[LogCluster]) -> list[Signal]:
    signals = []
    for cluster in clusters:
        tier, weight = _LOG_TIERS.get(cluster.severity, (0, 0.25))
        key = _cluster_resource(cluster)
        where = flow.label(key) if key else None
        finding = f"{cluster.count}x {cluster.severity}{f' on {where}' if where else ''}: " + (
            untrusted(cluster.example, 200) or cluster.template
        )
        found = categories_in(cluster.example) | categories_in(cluster.template)
        signals.extend(Signal(category, weight, "logs", call, finding, tier, key)
                       for category in found)  # fmt: skip
    return signals


def probe_signals(flow: FlowMap, probes: list[ProbeOutcome]) -> list[Signal]:
    signals = []
    users = flow.credential_users()
    for probe in probes:
        if probe.ok:
            continue
        used = users.get(probe.credential_id, [])
        message = untrusted(probe.message, 200) or "refused"
        where = f" (used by {flow.label(used[0])})" if used else ""
        finding = f"{flow.credential_label(probe.credential_id)}{where} fails its probe: {message}"
        found = categories_in(probe.message or "") & {"credential_expired", "permission_denied"}
        weight = 3.0 if found else 1.5  # a refusal without wording is weaker evidence
        signals.extend(
            Signal(category, weight, "probe", probe.call, finding, DECISIVE,
                   used[0] if used else None)
            for category in found or {"credential_expired"}
        )  # fmt: skip
    return signals


def notification_signals(
    flow: FlowMap, notes: list[tuple[str, Notification]], onset: datetime | None
) -> list[Signal]:
    """Alerts, in full from ``ALERT_LEAD`` before ``onset`` on; earlier ones barely count."""
    seen: set[str] = set()
    signals = []
    for call, note in notes:
        level = (note.level or "").upper()
        message = note.message or ""
        early = (
            onset is not None
            and note.created_at is not None
            and (note.created_at < onset - ALERT_LEAD)
        )
        key = f"{level}:{early}:{template_of(message)}"
        if level not in ("ERROR", "WARN", "WARNING") or key in seen:
            continue
        seen.add(key)
        repeats = sum(1 for _, other in notes if other.message == note.message)
        when = " (from before these failures began)" if early else ""
        kind = _LOG_LABELS.get((note.resource_type or "").upper())
        key_of = (kind, note.resource_id) if kind and note.resource_id is not None else None
        where = f" on {flow.label(key_of)}" if key_of else ""  # type: ignore[arg-type]
        finding = f"{level} notification{f' x{repeats}' if repeats > 1 else ''}{where}{when}: " + (
            untrusted(message, 200) or ""
        )
        signals.extend(Signal(c, 0.1 if early else 1.0, "notification", call, finding,
                              0 if early else 1, key_of) for c in categories_in(message))  # type: ignore[arg-type]  # fmt: skip
    return signals


def change_signals(changes: list[Change], onset: datetime | None) -> list[Signal]:
    if onset is None:
        return []
    signals = []
    for change in changes:
        if onset - CHANGE_WINDOW <= change.at <= onset:
            near = onset - change.at <= SHORTLY
            minutes = round((onset - change.at).total_seconds() / 60)
            finding = f"{change.what} {minutes} min before the first failing run"
            signals.extend(
                Signal(category, 1.0 if near else 0.4, "change", change.call, finding,
                       1 if near else 0)
                for category in change.points_to() - {"flow_not_running"}
            )  # fmt: skip
    return signals


# --- one cause ---------------------------------------------------------------------------------


def _ranked(signals: list[Signal]) -> list[tuple[Category, tuple[int, float]]]:
    """Cause categories by (strongest tier, total weight), best first."""
    scores: dict[Category, tuple[int, float]] = {}
    for signal in signals:
        if signal.category in CAUSES:
            tier, total = scores.get(signal.category, (0, 0.0))
            scores[signal.category] = (max(tier, signal.tier), total + signal.weight)
    return sorted(scores.items(), key=lambda item: (-item[1][0], -item[1][1]))


def _ordered(clusters: list[LogCluster]) -> list[LogCluster]:
    """Most severe first, then most frequent."""
    return sorted(clusters, key=lambda c: (-severity_rank(c.severity), -c.count))


def _fix_after(changes: list[Change], category: Category, after: datetime | None) -> Change | None:
    if after is None:
        return None
    return next((c for c in reversed(changes) if c.at > after and category in c.points_to()),
                None)  # fmt: skip


def _cause(
    evidence: FlowEvidence, group: CauseRuns | None, logs: LogSample | None,
    changes: list[Change], *, current: bool,
) -> tuple[Cause | None, list[Signal]]:  # fmt: skip
    """The cause behind one group of failing runs (None when nothing names one)."""
    flow = evidence.flow
    clusters = _ordered(error_clusters(logs))
    onset = group.first.started_at if group else None
    probes = probe_signals(flow, evidence.probes) if current else []
    if group is not None and group.resources:
        # A refused credential of a resource whose runs did not fail is another problem (the
        # next one, perhaps), not the cause of these failures: it no longer decides.
        probes = [p if p.resource in group.resources else replace(p, tier=1, weight=1.0)
                  for p in probes]  # fmt: skip
    signals = [
        *(log_signals(flow, logs.call, clusters) if logs else []),
        *probes,
        *notification_signals(flow, evidence.notifications, onset),
        *change_signals(changes, onset),
    ]
    signals.sort(key=lambda s: (-s.tier, -s.weight))
    ranked = _ranked(signals)
    if not ranked:
        return None, signals
    category = ranked[0][0]
    kept = [s for s in signals if s.category == category]
    resource = next((s.resource for s in kept if s.resource), None)
    if resource is None and group and group.resources:
        resource = group.resources[0]
    last = group.last.started_at if group else None
    fix = _fix_after(changes, category, last)
    persists: bool | None = None
    if category in ("credential_expired", "permission_denied"):
        refused = any(s.source == "probe" for s in probe_signals(flow, evidence.probes))
        persists = refused if evidence.probes else None
    elif category in LASTING:
        persists = fix is None
    deciding = [c for c in clusters
                if category in categories_in(c.example) | categories_in(c.template)]  # fmt: skip
    rest = [c for c in clusters if c not in deciding]
    return Cause(category, group, kept, deciding + rest, resource, persists, fix), signals


def _confidence(cause: Cause, ranked: list[tuple[Category, tuple[int, float]]],
                facts: RunFacts | None, logs_read: bool) -> float:  # fmt: skip
    sources = {signal.source for signal in cause.signals}
    value = 0.55 + 0.15 * (len(sources) >= 2) + 0.1 * (len(sources) >= 3)
    if facts is not None and facts.latest_failing and facts.streak.consecutive_failures >= 2:
        value += 0.1
    if len(ranked) > 1:
        (_, (tier, best)), (_, (tier2, second)) = ranked[0], ranked[1]
        if tier2 == tier and second >= 0.5 * best:
            value -= 0.15
    if not logs_read:
        value -= 0.1
    if not sources & {"logs", "probe"}:
        value = min(value, 0.5)
    return round(min(0.95, max(0.1, value)), 2)


# --- decision ----------------------------------------------------------------------------------


def classify(evidence: FlowEvidence, facts: RunFacts | None, changes: list[Change]) -> Verdict:
    """The verdict for one flow (rules in the module docstring); ``facts`` are
    ``run_facts(evidence.history)`` when the runs were read."""
    flow = evidence.flow
    state = facts.state if facts is not None else None
    primary_group = state.primary if state else None
    primary, signals = _cause(evidence, primary_group, evidence.failed_logs, changes,
                              current=True)  # fmt: skip
    others = []
    for group in state.others if state else ():
        logs = evidence.cause_logs.get(group.last.run_id)
        other, _ = _cause(evidence, group, logs, changes, current=False)
        if other is not None and (primary is None or other.category != primary.category):
            others.append(other)
    ranked = _ranked(signals)

    resource = primary.resource if primary else None
    if resource is None and primary_group is not None and primary_group.resources:
        resource = primary_group.resources[0]

    def verdict(category: Category, confidence: float, **extra: object) -> Verdict:
        kept = [s for s in signals if s.category == category]
        return Verdict(
            category,
            round(confidence, 2),
            kept,
            facts,
            primary=primary,
            others=others,
            resource=resource,
            **extra,
        )  # type: ignore[arg-type]

    if flow.kind_of_status() in ("paused", "not_started"):
        before = primary.category if primary and facts and facts.failing else None
        return verdict("flow_not_running", 0.9, cause_before_stop=before)
    if "RATE_LIMIT" in flow.status:
        return verdict("rate_limited", 0.85)
    logs_read = evidence.failed_logs is not None
    if facts is not None and facts.failing_now:
        if primary is not None:
            return verdict(primary.category, _confidence(primary, ranked, facts, logs_read))
        partial = any(run.status == "partial" for run in facts.recent)
        intermittent = facts.failing < len(facts.recent)
        if facts.ratio > HIGH_ERROR_RATIO and (partial or intermittent):
            support = any(s.category == "high_error_rate" for s in signals)
            return verdict("high_error_rate", 0.65 + 0.15 * support)
        return verdict("unknown", 0.3 if logs_read else 0.15)
    if facts is not None and facts.stale:
        support = any(s.category == "stale_data" for s in signals)
        return verdict("stale_data", 0.75 + 0.1 * support)
    refused = probe_signals(flow, evidence.probes)
    if refused:
        cause = Cause(refused[0].category, None, refused, [], refused[0].resource, True)
        return Verdict(refused[0].category, 0.5, refused, facts, primary=cause,
                       others=others, resource=cause.resource)  # fmt: skip
    if facts is None or not facts.recent:
        if evidence.history is None:
            return verdict("unknown", 0.2)
        ran_before = flow.origin.last_run_id is not None
        return verdict("stale_data" if ran_before else "flow_not_running", 0.6)
    unprobed = bool(flow.credential_users()) and not evidence.probes
    if state is not None and state.phase in ("recovering", "recovered"):
        recovered = state.phase == "recovered"
        fixed = primary is not None and (primary.fixed_by is not None or primary.persists is False)
        confidence = (0.85 if recovered else 0.55) + (0.1 if fixed else 0.0)
        if unprobed:
            confidence -= 0.1
        return verdict("healthy", confidence, recovery=state.phase)
    return verdict("healthy", 0.8 if unprobed else 0.9)
