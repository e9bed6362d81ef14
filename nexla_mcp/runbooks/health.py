"""``check_flow_health``: the reference health check for one flow, in two parallel rounds.

Status, whether the runs fail now (the latest run, or intermittently), the age of the last
run and whether runs still move records (against the flow's own schedule and history), and
whether each of the flow's credentials still passes its probe; any of them out of bounds is
an issue, and so is a check that could not be made. The run facts are the ones
``diagnose_flow`` and ``org_health`` judge from, so the three agree: a flow whose latest runs
succeed after failures is healthy, ``recovering`` or ``recovered`` since ``recovered_at``.
It reads the flow, then its runs and probes its credentials at the same time: 2 + credentials
calls (more when every run read moved nothing and it pages back to find records).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.evidence import (
    MAX_PROBES,
    ProbeOutcome,
    RunHistory,
    fetch_runs,
    metrics_call,
    probe_calls,
)
from nexla_mcp.runbooks.facts import HIGH_ERROR_RATIO, RunFacts, run_facts
from nexla_mcp.runbooks.flowmap import FlowTarget, fetch_flow
from nexla_mcp.runbooks.gather import DEFAULT_DEADLINE_S, Gatherer
from nexla_mcp.runbooks.report import iso, untrusted
from nexla_mcp.runbooks.runs import FlowHealth, RunStatus, flow_health

__all__ = ["CredentialHealth", "FlowHealthReport", "check_flow_health"]


class CredentialHealth(BaseModel):
    """One credential of the flow and its probe result."""

    credential_id: int
    used_by: list[str] = Field(default_factory=list)
    ok: bool
    message: str | None = None


class FlowHealthReport(BaseModel):
    """The health of one flow: the reference checks and the issues they found."""

    flow_id: int
    name: str | None = None
    status: str
    healthy: bool = Field(description="True when no check found an issue")
    state: FlowHealth | None = Field(
        None, description="failing, degraded, stale, paused, idle or ok (from status and runs)"
    )
    last_run_at: str | None = None
    last_run_age_hours: float | None = None
    last_run_status: RunStatus | None = None
    runs_considered: int = 0
    failed_runs: int = Field(0, description="Failed or partial among the runs considered")
    error_rate: float | None = Field(None, description="failed_runs / runs_considered")
    recovery: str | None = Field(None, description="recovering or recovered (since recovered_at)")
    recovered_at: str | None = None
    credentials: list[CredentialHealth] = Field(default_factory=list)
    issues: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="Calls that gave no answer")


def _run_issues(report: FlowHealthReport, facts: RunFacts) -> list[str]:
    issues = []
    phase = facts.state.phase
    if phase == "failing":
        issues.append(f"Latest run {report.last_run_status}")
    if phase in ("failing", "intermittent") and facts.ratio > HIGH_ERROR_RATIO:
        how = "intermittently " if phase == "intermittent" else ""
        issues.append(
            f"High error rate: {report.failed_runs} of the last {report.runs_considered} runs "
            f"({facts.ratio:.0%}) {how}failed or were partial"
        )
    if report.status == "ACTIVE" and facts.too_old and facts.last_run_age is not None:
        hours = facts.stale_after.total_seconds() / 3600
        issues.append(f"No run in the last {hours:.0f} h")
    if report.status == "ACTIVE" and facts.idle_since is not None:
        issues.append(f"Runs moved no records since {iso(facts.idle_since)} "
                      f"({facts.empty_runs} runs)")  # fmt: skip
    if report.status == "ACTIVE" and not facts.recent:
        issues.append("No runs in the last 7 days")
    return issues


async def check_flow_health(
    client: NexlaClient,
    target: FlowTarget,
    *,
    now: datetime,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> FlowHealthReport:
    """Check one flow's health (see the module docstring).

    Raises:
        NexlaError: the flow itself could not be read.
    """
    gather = Gatherer(deadline_s=deadline_s)
    flow = await fetch_flow(client, target)
    calls = dict(probe_calls(client, flow))
    anchor = flow.anchor
    if anchor is not None:
        calls[metrics_call(anchor)] = lambda: fetch_runs(client, anchor, now)
    results = await gather.run(calls)
    history = next((r for r in results.values() if isinstance(r, RunHistory)), None)
    users = flow.credential_users()
    credentials = [
        CredentialHealth(
            credential_id=probe.credential_id,
            ok=probe.ok,
            message=untrusted(probe.message, 200),
            used_by=[flow.label(key) for key in users.get(probe.credential_id, [])],
        )  # fmt: skip
        for probe in results.values()
        if isinstance(probe, ProbeOutcome)
    ]
    report = FlowHealthReport(flow_id=flow.flow_id, name=flow.name, status=flow.status,
                              healthy=False, credentials=credentials,
                              missing=gather.missing())  # fmt: skip
    issues = [] if flow.status == "ACTIVE" else [f"Flow is {flow.status}, so it does not run"]
    if history is not None:
        facts = run_facts(history, now)
        latest = facts.streak.latest
        report.state = flow_health(
            flow.status, facts.recent, now=now, stale_after=facts.stale_after
        )
        report.runs_considered, report.failed_runs = len(facts.recent), facts.failing
        report.error_rate = round(facts.ratio, 2) if facts.recent else None
        if latest is not None:
            report.last_run_at, report.last_run_status = iso(latest.started_at), latest.status
        if facts.last_run_age is not None:
            report.last_run_age_hours = round(facts.last_run_age.total_seconds() / 3600, 1)
        if facts.state.phase in ("recovering", "recovered"):
            report.recovery = facts.state.phase
            report.recovered_at = iso(facts.state.recovered_at)
            if report.state == "degraded":
                report.state = "ok"  # the failures are behind it
        if facts.idle_since is not None and report.state == "ok":
            report.state = "stale"
        issues += _run_issues(report, facts)
    else:
        issues.append("Its runs could not be read")
    issues.extend(
        f"Credential {credential.credential_id} fails its probe"
        for credential in report.credentials
        if not credential.ok
    )
    probed = {credential.credential_id for credential in report.credentials}
    if any(credential_id not in probed for credential_id in list(users)[:MAX_PROBES]):
        issues.append("Not every credential could be probed")
    report.issues = issues
    report.healthy = not issues
    return report
