"""The one-paragraph summary of a diagnosis: the flow as it is now, the cause, what else is
in play, what is missing, and the next step, in that order.

Every piece is built from sanitised parts (labels, ``untrusted`` text, ISO times), so the
whole is not sanitised again (that would read "credential: 5009" as a secret). "Shortly
before" only ever means within ``SHORTLY`` of the first failing run, and it says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nexla_mcp.runbooks.changes import Change
from nexla_mcp.runbooks.classify import SHORTLY, Cause, Verdict
from nexla_mcp.runbooks.evidence import HISTORY_WINDOW, FlowEvidence
from nexla_mcp.runbooks.report import Category, iso, untrusted

__all__ = ["CAUSE_TEXT", "ago", "cause_text", "summary"]

MAX_SUMMARY_CHARS = 1200
CAUSE_TEXT: dict[Category, str] = {
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
_WHOLE_RUNS = "intermittent whole-run failures (runs fail outright, others succeed)"
_OUTRIGHT = "runs failing outright for a reason the runbook does not recognise"
_BLIND = "no cause the runbook can name without the runs"
FIXES: dict[Category, str] = {
    "credential_expired": "rotate the credential (rotate_credential prompt), then watch the "
    "next run",
    "permission_denied": "grant the credential's principal access to what the flow reads or "
    "writes, then watch the next run",
    "transform_error": "test the transform on sample records, fix and update it, then watch "
    "the next run",
    "schema_mismatch": "migrate the schema through a child nexset (migrate_schema prompt), "
    "then watch the next run",
    "rate_limited": "lower the request rate or run less often, and let retries back off",
    "network_timeout": "check connectivity to the upstream host and consider a longer timeout",
    "resource_conflict": "make writes idempotent (upsert on the key) or remove the duplicates "
    "at the destination",
    "high_error_rate": "inspect the rejected records and validate the inputs",
    "stale_data": "check the source's schedule and whether the upstream system still "
    "delivers new data",
    "unknown": "read the failing run's logs to find the cause",
}


def ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return (
        f"{round(hours * 60)} min"
        if hours < 2
        else f"{hours:.0f} h"
        if hours < 72
        else (f"{hours / 24:.0f} days")
    )


def cause_text(cause: Cause | None, category: Category, verdict: Verdict | None = None) -> str:
    """What the category means here; failures of whole runs are never called record-level."""
    facts = verdict.facts if verdict is not None else None
    runs = cause.runs if cause is not None and cause.runs is not None else None
    if runs is None and facts is not None:
        runs = facts.state.primary
    if verdict is not None and facts is None and category == "unknown":
        return _BLIND
    if category in ("high_error_rate", "unknown") and runs is not None and runs.outright:
        intermittent = facts is not None and facts.state.stretches >= 2
        return _WHOLE_RUNS if category == "high_error_rate" or intermittent else _OUTRIGHT
    return CAUSE_TEXT.get(category, category.replace("_", " "))


def _where(evidence: FlowEvidence, cause: Cause | None) -> str:
    return f" on {evidence.flow.label(cause.resource)}" if cause and cause.resource else ""


def _head(evidence: FlowEvidence) -> str:
    flow = evidence.flow
    return f"Flow {flow.flow_id}" + (f" '{flow.name}'" if flow.name else "")


def _state(evidence: FlowEvidence, verdict: Verdict, pause: Change | None) -> str:
    flow, facts, head = evidence.flow, verdict.facts, _head(evidence)
    kind = flow.kind_of_status()
    if kind == "not_started":
        return f"{head} was never activated (status {flow.status})"
    if kind == "paused":
        when = f" since {iso(pause.at)}" + (f" ({pause.by})" if pause.by else "") if pause else ""
        return f"{head} is PAUSED{when}"
    if facts is None:
        return f"{head} is {flow.status}; its runs could not be read"
    if not facts.recent:
        return f"{head} is {flow.status} but has no runs in the last {HISTORY_WINDOW.days} days"
    state, n = facts.state, len(facts.recent)
    if state.phase == "failing":
        since, in_a_row = facts.streak.failing_since, facts.streak.consecutive_failures
        text = f"{head}: {facts.failing} of its last {n} runs failed or were partial"
        if since is not None and in_a_row > 1:
            return text + f"; failing since {iso(since.started_at)} ({in_a_row} in a row)"
        return text + "; the latest run failed"
    if state.phase == "intermittent":
        return (f"{head}: {facts.failing} of its last {n} runs failed, intermittently "
                f"({state.stretches} separate stretches); the latest run succeeded")  # fmt: skip
    if facts.too_old and facts.last_run_age is not None:
        usual = f", though it usually runs every {ago(facts.interval)}" if facts.interval else ""
        return f"{head}: no run for {ago(facts.last_run_age)}{usual}"
    if facts.idle_since is not None:
        usual = f" (every {ago(facts.interval)})" if facts.interval else ""
        return (f"{head}: its last {facts.empty_runs} runs{usual} moved no records, since "
                f"{iso(facts.idle_since)}, though earlier runs did")  # fmt: skip
    age = f"{ago(facts.last_run_age)} ago" if facts.last_run_age else "at an unknown time"
    usual = f" (usually every {ago(facts.interval)})" if facts.interval else ""
    if state.phase in ("recovering", "recovered") and state.primary is not None:
        after = f"{len(state.primary.runs)} failing run(s)"
        return (f"{head}: its last {state.successes_since} run(s) succeeded, after {after}; "
                f"the latest started {age}{usual}")  # fmt: skip
    empty = sum(run.status == "empty" for run in facts.recent)
    moved = f" ({empty} moved no records, not enough to call it stale)" if empty else ""
    return f"{head}: its last {n} runs succeeded{moved}; the latest started {age}{usual}"


def _recovery(evidence: FlowEvidence, verdict: Verdict) -> str:
    facts, cause = verdict.facts, verdict.primary
    assert facts is not None
    state = facts.state
    group = state.primary
    failed = (
        f"{len(group.runs)} failing run(s) from {iso(group.first.started_at)}"
        if group
        else ("failing runs")
    )
    was = f" ({cause_text(cause, cause.category)}{_where(evidence, cause)})" if cause else ""
    if verdict.recovery == "recovered":
        text = (f"{_head(evidence)} has recovered: its last {state.successes_since} runs "
                f"succeeded, since {iso(state.recovered_at)}, after {failed}{was}")  # fmt: skip
    else:
        text = (f"{_head(evidence)} is recovering: {state.successes_since} run(s) succeeded "
                f"since {iso(state.recovered_at)} after {failed}{was}")  # fmt: skip
    if cause is not None and cause.fixed_by is not None:
        text += f"; fixed by {cause.fixed_by.what} at {iso(cause.fixed_by.at)}"
    elif cause is not None and cause.persists is False:
        text += "; the credential passes its probe again"
    elif verdict.recovery == "recovering":
        text += "; no change that addresses it was found, so it may come back"
    return text + "."


def _others(evidence: FlowEvidence, verdict: Verdict) -> list[str]:
    parts = []
    primary = verdict.primary
    when = (
        "when the flow runs again" if primary is not None and primary.persists is False
        else "once the main cause is fixed"
    )  # fmt: skip
    for other in verdict.others:
        runs = other.runs
        span = f" from {iso(runs.first.started_at)} to {iso(runs.last.started_at)} " \
               f"({len(runs.runs)} runs)" if runs else ""  # fmt: skip
        still = (
            f"; nothing has fixed it since, so it will fail again {when}"
            if other.persists
            else "; fixed since"
            if other.persists is False
            else ""
        )
        parts.append(f"Also: {cause_text(other, other.category)}{_where(evidence, other)}"
                     f"{span}{still}.")  # fmt: skip
    shown = {s.call for s in verdict.signals if s.source == "probe"}
    users = evidence.flow.credential_users()
    for probe in evidence.probes:
        if not probe.ok and probe.call not in shown:
            used = users.get(probe.credential_id, [])
            where = f" (used by {evidence.flow.label(used[0])})" if used else ""
            parts.append(f"Also: {evidence.flow.credential_label(probe.credential_id)}{where} "
                         "fails its probe; no failed run shows it yet.")  # fmt: skip
    return parts


def _change_sentence(
    changes: list[Change], onset: datetime | None, elsewhere: set[Category]
) -> str | None:
    """The change nearest before ``onset``, unless it points to another cause (``elsewhere``)."""
    if onset is None:
        return None
    before = [c for c in changes if c.at <= onset and onset - c.at <= timedelta(hours=24)
              and not c.points_to() & elsewhere]  # fmt: skip
    if not before:
        return None
    change = before[-1]
    minutes = round((onset - change.at).total_seconds() / 60)
    distance = f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    if onset - change.at <= SHORTLY:
        window = round(SHORTLY.total_seconds() / 60)
        return (f"Shortly before the failures began (within {window} min): {change.what} "
                f"({distance} before the first failing run).")  # fmt: skip
    return f"Earlier change: {change.what} ({distance} before the first failing run)."


def _next(evidence: FlowEvidence, verdict: Verdict) -> str | None:
    category, cause = verdict.category, verdict.primary
    if evidence.flow.kind_of_status() == "not_started":
        return (
            "Next: activate it when it is ready (activate_flow plans it), then watch its first run."
        )
    if category == "flow_not_running":
        lasting = [c for c in (cause, *verdict.others) if c is not None and c.persists]
        if lasting:
            fixes = "; ".join(FIXES[c.category].removesuffix(", then watch the next run")
                              for c in lasting)  # fmt: skip
            return (f"Next: fix the cause first ({fixes}); activate the flow only once that is "
                    "done, then watch its next run.")  # fmt: skip
        return "Next: activate the flow if the stop was not deliberate, then watch its next run."
    if verdict.recovery is not None:
        return "Next: watch the next runs (get_run_metrics)."
    if category == "healthy":
        return None
    fix = FIXES.get(category, FIXES["unknown"])
    if cause_text(cause, category, verdict) == _WHOLE_RUNS:
        fix = "read the failing runs' logs to see why whole runs fail upstream, and whether it " \
              "passes by itself"  # fmt: skip
    return f"Next: {fix}."


def summary(evidence: FlowEvidence, verdict: Verdict, changes: list[Change],
            onset: datetime | None, missing: list[str]) -> str:  # fmt: skip
    pause = next((c for c in reversed(changes) if c.paused), None)
    category, cause = verdict.category, verdict.primary
    if verdict.recovery is not None:
        parts = [_recovery(evidence, verdict)]
    else:
        parts = [_state(evidence, verdict, pause) + "."]
    if category in CAUSE_TEXT:
        top = verdict.signals[0].finding if verdict.signals else None
        where = _where(evidence, cause) or (
            f" on {evidence.flow.label(verdict.resource)}" if verdict.resource else ""
        )
        text = f"The evidence points to {cause_text(cause, category, verdict)}{where}"
        if verdict.others and cause is not None and cause.runs is not None:
            text += f" (since {iso(cause.runs.first.started_at)}, {len(cause.runs.runs)} runs)"
        parts.append(text + (f": {top}." if top else "."))
        elsewhere = {other.category for other in verdict.others} - {category}
        # Only a cause seen in failing runs has an onset to place changes against.
        has_onset = cause is not None and cause.runs is not None
        change = _change_sentence(changes, onset, elsewhere) if has_onset else None
        if change:
            parts.append(change)
    elif category == "flow_not_running" and verdict.facts and verdict.facts.failing:
        facts = verdict.facts
        pointing = f", pointing to {CAUSE_TEXT[cause.category]}" if cause else ""
        still = (
            "; that cause is still there" if cause and cause.persists
            else "; it has been fixed since" if cause and cause.persists is False else ""
        )  # fmt: skip
        top = cause.clusters[0].example if cause and cause.clusters else None
        parts.append(f"Before it stopped, {facts.failing} of its last {len(facts.recent)} runs "
                     f"failed or were partial{pointing}{still}"
                     + (f"; top error: {untrusted(top, 200)}." if top else "."))  # fmt: skip
    parts.extend(_others(evidence, verdict))
    if missing:
        parts.append(f"Not read: {'; '.join(missing[:3])}; the verdict may miss what they "
                     "would show.")  # fmt: skip
    if evidence.failed_logs is not None and not evidence.failed_logs.complete:
        parts.append("The failing run's logs were not read to the end before the deadline.")
    step = _next(evidence, verdict)
    if step:
        parts.append(step)
    if category == "healthy" and verdict.recovery is None and not verdict.signals and not missing:
        parts.append("No errors, refused credentials or staleness found.")
    text = " ".join(parts)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"
