"""``diagnose_flow``: the reference troubleshooting runbook in one call, with a verdict.

It collects the evidence in parallel (``evidence``), lines changes up against the failure
(``changes``), compares the failing run with the last good one (``compare``), decides the
category (``classify``) and the next steps (``actions``), and writes a one-paragraph summary.
On its deadline it answers with what it has and lists the calls that are missing.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from nexla_mcp.errors import UpstreamTimeoutError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.actions import next_actions
from nexla_mcp.runbooks.changes import ChangeView, changes_around
from nexla_mcp.runbooks.classify import Cause, Verdict, classify
from nexla_mcp.runbooks.compare import (
    ErrorTemplate,
    RunContrast,
    compare,
    contrast,
    template_view,
)
from nexla_mcp.runbooks.evidence import HISTORY_WINDOW, FlowEvidence, collect_evidence
from nexla_mcp.runbooks.facts import RunFacts, run_facts
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.gather import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_S, Gatherer
from nexla_mcp.runbooks.narrative import ago, summary
from nexla_mcp.runbooks.report import (
    Category,
    Evidence,
    NextAction,
    iso,
    untrusted,
)
from nexla_mcp.runbooks.runs import RunStatus

__all__ = ["CauseView", "CredentialCheck", "Diagnosis", "Recovery", "RunsView", "diagnose_flow"]

MAX_EVIDENCE = 8
MAX_ERRORS = 4


class RunsView(BaseModel):
    """The last (up to 10) runs; failing: failed or partial; failing_since: streak start."""

    considered: int
    failing: int
    latest_status: RunStatus | None = None
    latest_at: str | None = None
    failing_since: str | None = None
    last_success_at: str | None = None
    usual_interval_min: int | None = None


class CredentialCheck(BaseModel):
    """A credential of the flow and what its probe said."""

    credential_id: int
    ok: bool
    message: str | None = None


class CauseView(BaseModel):
    """Another cause (a category): its failing runs (first, last, count); still there?"""

    category: str
    resource: str | None = None
    since: str | None = None
    until: str | None = None
    runs: int = 0
    persists: bool | None = None


class Recovery(BaseModel):
    """What was wrong (was) before the good runs since recovered_at."""

    state: str = Field(description="recovering or recovered")
    recovered_at: str | None = None
    was: str
    failed_runs: int = 0
    fixed_by: str | None = None


class Diagnosis(BaseModel):
    """A flow's root-cause verdict with its evidence and the next calls to make."""

    flow_id: int
    name: str | None = None
    status: str | None = None
    category: Category
    confidence: float = Field(ge=0, le=1)
    resource: str | None = None
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    next_actions: list[NextAction] = Field(default_factory=list)
    runs: RunsView | None = None
    errors: list[ErrorTemplate] = Field(
        default_factory=list, description="Error templates of the failing run, most severe first"
    )
    comparison: RunContrast | None = Field(
        None, description="The failing run against the last good run"
    )
    changes: list[ChangeView] = Field(default_factory=list, description="Changes near the failure")
    credentials: list[CredentialCheck] = Field(default_factory=list)
    recovery: Recovery | None = None
    other_causes: list[CauseView] = Field(default_factory=list)
    complete: bool = Field(description="False when some calls gave no answer (see missing)")
    missing: list[str] = Field(default_factory=list)


def _onset(facts: RunFacts | None) -> datetime | None:
    """The first failing run of the primary cause (not of every failure before it)."""
    if facts is None:
        return None
    if facts.state.primary is not None:
        return facts.state.primary.first.started_at
    if facts.streak.failing_since is not None:
        return facts.streak.failing_since.started_at
    failing = [run for run in facts.recent if run.status in ("failed", "partial")]
    return failing[0].started_at if failing else None


def _runs_view(facts: RunFacts | None) -> RunsView | None:
    if facts is None:
        return None
    latest, streak = facts.streak.latest, facts.streak
    return RunsView(
        considered=len(facts.recent), failing=facts.failing,
        latest_status=latest.status if latest else None,
        latest_at=iso(latest.started_at) if latest else None,
        failing_since=iso(streak.failing_since.started_at) if streak.failing_since else None,
        last_success_at=iso(streak.last_success.started_at) if streak.last_success else None,
        usual_interval_min=round(facts.interval.total_seconds() / 60) if facts.interval else None,
    )  # fmt: skip


def _evidence(evidence: FlowEvidence, verdict: Verdict) -> list[Evidence]:
    items: list[Evidence] = []
    seen: set[str] = set()
    for signal in verdict.signals:
        if signal.finding not in seen:
            seen.add(signal.finding)
            items.append(Evidence(call=signal.call, finding=signal.finding))
    flow, facts = evidence.flow, verdict.facts
    if verdict.category == "flow_not_running":
        items.insert(0, Evidence(call=evidence.flow_call, finding=f"flow status is {flow.status}"))
    if facts is not None and evidence.history is not None:
        runs = f"{facts.failing} of the last {len(facts.recent)} runs failed or were partial"
        if facts.last_run_age is not None:
            runs += f"; latest run started {ago(facts.last_run_age)} ago"
        items.append(Evidence(call=evidence.history.call, finding=runs))
    items.extend(
        Evidence(call=probe.call, finding=f"{flow.credential_label(probe.credential_id)} probe ok")
        for probe in evidence.probes
        if probe.ok
    )
    return items[:MAX_EVIDENCE]


async def diagnose_flow(
    client: NexlaClient,
    target: FlowTarget,
    *,
    now: datetime,
    deadline_s: float = DEFAULT_DEADLINE_S,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Diagnosis:
    """Diagnose one flow (see the module docstring).

    Raises:
        NexlaError: the flow itself could not be read (unknown id, no access, Nexla down).
        UpstreamTimeoutError: not even the flow arrived before the deadline.
    """
    gather = Gatherer(deadline_s=deadline_s, concurrency=concurrency)
    evidence = await collect_evidence(client, target, now=now, gather=gather)
    if evidence is None:  # not even the flow arrived: there is nothing to diagnose from
        raise UpstreamTimeoutError(
            f"Nexla did not return the flow within {deadline_s:g} s.",
            operation="diagnose_flow", retryable=True,
            resource_type="flows" if target.flow_id is not None else target.resource_type,
            resource_id=target.flow_id if target.flow_id is not None else target.resource_id,
            hint="Nexla is slow right now; try again in a minute.",
        )  # fmt: skip
    history = evidence.history
    facts = run_facts(history, now) if history is not None else None
    onset = _onset(facts)
    changes = changes_around(evidence.flow, evidence.audit, evidence.audit_call, onset=onset,
                             now=now, window=HISTORY_WINDOW,
                             transform_audits=evidence.transform_audits)  # fmt: skip
    verdict = classify(evidence, facts, changes)
    change_views = [change.view(onset) for change in changes]
    comparison = None
    if history is not None:
        failed, good = history.focus()
        if failed is not None:
            # The failing run's error templates are listed in errors already.
            comparison = contrast(compare(
                evidence.flow, history, failed, good, evidence.failed_logs, evidence.good_logs
            ))  # fmt: skip
    missing = gather.missing()
    flow = evidence.flow
    clusters = verdict.primary.clusters if verdict.primary else []
    confidence = verdict.confidence * (0.7 if missing else 1.0)
    if verdict.category == "healthy" and missing:
        confidence = min(confidence, 0.5)
    return Diagnosis(
        flow_id=flow.flow_id, name=flow.name, status=flow.status, category=verdict.category,
        confidence=round(confidence, 2),
        resource=flow.label(verdict.resource) if verdict.resource else None,
        summary=summary(evidence, verdict, changes, onset, missing),
        evidence=_evidence(evidence, verdict),
        next_actions=next_actions(verdict, evidence),
        runs=_runs_view(verdict.facts),
        errors=[template_view(flow, cluster) for cluster in clusters[:MAX_ERRORS]],
        comparison=comparison, changes=change_views,
        credentials=[CredentialCheck(credential_id=p.credential_id, ok=p.ok,
                                     message=untrusted(p.message, 200)) for p in evidence.probes],
        recovery=_recovery(evidence, verdict),
        other_causes=[_cause_view(evidence, other) for other in verdict.others],
        complete=not missing, missing=missing,
    )  # fmt: skip


def _cause_view(evidence: FlowEvidence, cause: Cause) -> CauseView:
    runs = cause.runs
    return CauseView(
        category=cause.category,
        resource=evidence.flow.label(cause.resource) if cause.resource else None,
        since=iso(runs.first.started_at) if runs else None,
        until=iso(runs.last.started_at) if runs else None,
        runs=len(runs.runs) if runs else 0, persists=cause.persists,
    )  # fmt: skip


def _recovery(evidence: FlowEvidence, verdict: Verdict) -> Recovery | None:
    facts, cause = verdict.facts, verdict.primary
    if verdict.recovery is None or facts is None:
        return None
    group = facts.state.primary
    return Recovery(
        state=verdict.recovery, recovered_at=iso(facts.state.recovered_at),
        was=cause.category if cause else ("high_error_rate" if group and not group.outright
                                          else "unknown"),
        failed_runs=len(group.runs) if group else 0,
        fixed_by=cause.fixed_by.what if cause and cause.fixed_by else None,
    )  # fmt: skip
