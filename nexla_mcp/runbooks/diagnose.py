"""``diagnose_flow``: the reference troubleshooting runbook in one call, with a verdict.

It collects the evidence in parallel (``evidence``), lines changes up against the failure
(``changes``), compares the failing run with the last good one (``compare``), decides the
category (``classify``) and the next steps (``actions``), and writes a one-paragraph summary.
On its deadline it answers with what it has and lists the calls that are missing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from nexla_mcp.errors import UpstreamTimeoutError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.actions import FIXES, next_actions
from nexla_mcp.runbooks.changes import ChangeView, changes_around
from nexla_mcp.runbooks.classify import RunFacts, Verdict, classify, run_facts
from nexla_mcp.runbooks.compare import (
    ErrorTemplate,
    RunContrast,
    compare,
    contrast,
    error_clusters,
    template_view,
)
from nexla_mcp.runbooks.evidence import HISTORY_WINDOW, FlowEvidence, collect_evidence
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.gather import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_S, Gatherer
from nexla_mcp.runbooks.report import (
    Category,
    Evidence,
    NextAction,
    iso,
    untrusted,
)
from nexla_mcp.runbooks.runs import RunStatus

__all__ = ["CredentialCheck", "Diagnosis", "RunsView", "diagnose_flow"]

MAX_EVIDENCE = 8
MAX_ERRORS = 4
MAX_SUMMARY_CHARS = 1200

_CAUSES: dict[Category, str] = {
    "credential_expired": "an expired or revoked credential",
    "permission_denied": "missing permissions on the external system",
    "transform_error": "a failing transform",
    "schema_mismatch": "a schema mismatch",
    "rate_limited": "upstream rate limiting",
    "network_timeout": "network timeouts",
    "resource_conflict": "write conflicts (duplicates) at the destination",
    "high_error_rate": "record-level errors in more than 20% of recent runs",
    "unknown": "an error the runbook does not recognise",
}


class RunsView(BaseModel):
    """The flow's recent runs, as the diagnosis read them."""

    considered: int = Field(description="Recent runs considered (up to 10)")
    failing: int = Field(description="Of those, failed or partial")
    latest_status: RunStatus | None = None
    latest_at: str | None = None
    failing_since: str | None = Field(None, description="Start of the current failing streak")
    last_success_at: str | None = None
    usual_interval_min: int | None = None


class CredentialCheck(BaseModel):
    """A credential of the flow and what its probe said."""

    credential_id: int
    ok: bool
    message: str | None = None


class Diagnosis(BaseModel):
    """A flow's root-cause verdict with its evidence and the next calls to make."""

    flow_id: int
    name: str | None = None
    status: str | None = None
    category: Category
    confidence: float = Field(ge=0, le=1)
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    next_actions: list[NextAction] = Field(default_factory=list)
    runs: RunsView | None = None
    errors: list[ErrorTemplate] = Field(
        default_factory=list, description="Error templates of the failing run, most frequent first"
    )
    comparison: RunContrast | None = Field(
        None, description="The failing run against the last good run"
    )
    changes: list[ChangeView] = Field(default_factory=list, description="Changes near the failure")
    credentials: list[CredentialCheck] = Field(default_factory=list)
    complete: bool = Field(description="False when some calls gave no answer (see missing)")
    missing: list[str] = Field(default_factory=list)


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return (
        f"{round(hours * 60)} min"
        if hours < 2
        else f"{hours:.0f} h"
        if hours < 72
        else (f"{hours / 24:.0f} days")
    )


def _onset(facts: RunFacts | None) -> datetime | None:
    if facts is None:
        return None
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


def _state_sentence(evidence: FlowEvidence, verdict: Verdict, pause: ChangeView | None) -> str:
    flow, facts = evidence.flow, verdict.facts
    head = f"Flow {flow.flow_id}" + (f" '{flow.name}'" if flow.name else "")
    kind = flow.kind_of_status()
    if kind == "not_started":
        return f"{head} was never activated (status {flow.status})"
    if kind == "paused":
        when = f" since {pause.at}" + (f" ({pause.by})" if pause.by else "") if pause else ""
        return f"{head} is PAUSED{when}"
    if facts is None:
        return f"{head} is {flow.status}; its runs could not be read"
    if not facts.recent:
        return f"{head} is {flow.status} but has no runs in the last {HISTORY_WINDOW.days} days"
    if facts.failing:
        since, in_a_row = facts.streak.failing_since, facts.streak.consecutive_failures
        streak = ""
        if since is not None and in_a_row > 1:
            streak = f"; failing since {iso(since.started_at)} ({in_a_row} in a row)"
        elif facts.latest_failing:
            streak = "; the latest run failed"
        failing = f"{facts.failing} of its last {len(facts.recent)} runs failed or were partial"
        return f"{head}: {failing}{streak}"
    age = f"{_ago(facts.last_run_age)} ago" if facts.last_run_age else "at an unknown time"
    if facts.idle_since is not None:
        return f"{head}: its runs have moved no records since {iso(facts.idle_since)}"
    usual = f" (usually every {_ago(facts.interval)})" if facts.interval else ""
    return f"{head}: its last {len(facts.recent)} runs succeeded; the latest started {age}{usual}"


def _summary(
    evidence: FlowEvidence, verdict: Verdict, changes: list[ChangeView], first_error: str | None
) -> str:
    pause = next((c for c in reversed(changes) if c.what.endswith(": paused")), None)
    parts = [_state_sentence(evidence, verdict, pause) + "."]
    category = verdict.category
    top = verdict.signals[0].finding if verdict.signals else None
    if category in _CAUSES:
        cause = f"The evidence points to {_CAUSES[category]}"
        parts.append(cause + (f": {top}." if top else "."))
        before = [
            c for c in changes if c.relative and c.relative.endswith("before the first failing run")
        ]
        if before:
            parts.append(
                f"Shortly before the failures began: {before[-1].what} ({before[-1].relative})."
            )
    elif category == "flow_not_running" and verdict.facts and verdict.facts.failing:
        facts = verdict.facts
        cause = verdict.cause_before_stop
        pointing = f", pointing to {_CAUSES[cause]}" if cause in _CAUSES else ""
        parts.append(
            f"Before it stopped, {facts.failing} of its last {len(facts.recent)} runs "
            f"failed or were partial{pointing}"
            + (f"; top error: {first_error}." if first_error else ".")
        )
    elif category == "stale_data" and top:
        parts.append(f"{top}.")
    if evidence.flow.kind_of_status() == "not_started":
        parts.append(
            "Next: activate it when it is ready (activate_flow plans it), then verify "
            "its first run."
        )
    elif category != "healthy":
        parts.append(f"Next: {FIXES[category]}.")
    if (
        evidence.flow.kind_of_status() == "running"
        and category == "healthy"
        and not verdict.signals
    ):
        parts.append("No errors, refused credentials or staleness found.")
    # Every part is built from sanitised pieces; sanitising the whole again would read
    # "credential: 5009" as a secret.
    return _cap(" ".join(parts), MAX_SUMMARY_CHARS)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
            runs += f"; latest run started {_ago(facts.last_run_age)} ago"
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
    clusters = error_clusters(evidence.failed_logs)
    history = evidence.history
    facts = run_facts(history, now) if history is not None else None
    onset = _onset(facts)
    changes = changes_around(evidence.flow, evidence.audit, evidence.audit_call, onset=onset,
                             now=now, window=HISTORY_WINDOW,
                             transform_audits=evidence.transform_audits)  # fmt: skip
    verdict = classify(evidence, facts, clusters, changes, onset)
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
    return Diagnosis(
        flow_id=flow.flow_id, name=flow.name, status=flow.status, category=verdict.category,
        confidence=round(verdict.confidence * (0.8 if missing else 1.0), 2),
        summary=_summary(evidence, verdict, change_views,
                         untrusted(clusters[0].example, 200) if clusters else None),
        evidence=_evidence(evidence, verdict),
        next_actions=next_actions(verdict.category, evidence,
                                  failing_before_stop=verdict.cause_before_stop is not None
                                  or bool(verdict.facts and verdict.facts.failing)),
        runs=_runs_view(verdict.facts),
        errors=[template_view(flow, cluster) for cluster in clusters[:MAX_ERRORS]],
        comparison=comparison, changes=change_views,
        credentials=[CredentialCheck(credential_id=p.credential_id, ok=p.ok,
                                     message=untrusted(p.message, 200)) for p in evidence.probes],
        complete=not missing, missing=missing,
    )  # fmt: skip
