"""``org_health``: scan every flow of an org and rank its problems, cheap signals first.

A 10,000-flow org cannot afford a diagnosis per flow, so the scan narrows down in three steps:

1. **List** every flow twice, page by page, ``concurrency`` pages at a time:
   ``GET /flows?include_run_metrics=1`` gives each flow that ever ran its status, tree and the
   numbers of its latest run; ``GET /flows?origin_only=1`` adds the flows that never ran.
2. **Read the org's recent notifications** (Nexla's own alerts: ERROR and WARN in the last
   48 h) and map them to flows through the resource ids of step 1.
3. **Deep-check the suspects** only: active flows whose latest run had errors, whose last run
   is old, or that were alerted on, get one ``flow/metrics?groupby=runId`` call each for
   their recent runs (``concurrency`` at a time). Paused and never-started flows need none.

Each problem gets a severity by its impact and the category its alerts' wording points to
(only alerts from its current failures count; older ones belong to an earlier incident), or
that its runs and status imply. ``critical``: data has not been delivered for a while (three
or more failed runs in a row, or paused by the monitor after failing more than
``LONG_OUTAGE`` ago); ``high``: failing now, intermittently, paused after failing, or
stale (no run for 25 h, or runs that move nothing for longer than the flow's history makes
usual); ``medium``: one failed run after good ones (a possible transient), a deliberate
pause, or alerts on a flow whose runs are clean; ``low``: never activated. A flow whose
latest runs succeed after failures has recovered and is no problem, as ``diagnose_flow`` and
``check_flow_health`` say too. ``diagnose_flow`` gives the full verdict for any one of them.
Problems are ranked by severity, then by how long the flow has been without delivery
(longest first), then by how many of its recent runs failed. Progress is reported as the
scan goes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from nexla_mcp.nexla import FlowNode, FlowsPage, NexlaClient, Notification
from nexla_mcp.runbooks.classify import CAUSES
from nexla_mcp.runbooks.evidence import RunHistory, fetch_runs
from nexla_mcp.runbooks.facts import HIGH_ERROR_RATIO, RunFacts, run_facts
from nexla_mcp.runbooks.flowmap import NOTIFICATION_KINDS
from nexla_mcp.runbooks.gather import Gatherer
from nexla_mcp.runbooks.report import (
    Category,
    NextAction,
    iso,
    tool_action,
    untrusted,
)
from nexla_mcp.runbooks.runs import run_started_at
from nexla_mcp.runbooks.signals import categories_in

__all__ = ["DEFAULT_PROBLEMS", "OrgHealthReport", "Problem", "Progress", "org_health"]

Progress = Callable[[float, float, str], Awaitable[None]]
Severity = Literal["critical", "high", "medium", "low"]
_SEVERITY_RANK: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}

# Problems listed by default: enough to act on (the three worst get next actions), and small
# enough that a 10,000-flow org's answer stays under 2,000 tokens; limit raises it.
DEFAULT_PROBLEMS = 15
PAGE_SIZE = 500
ORG_CONCURRENCY = 8
ORG_DEADLINE_S = 240.0
ALERT_WINDOW = timedelta(hours=48)
MAX_NOTIFICATION_PAGES = 5
NOTIFICATION_PAGE_SIZE = 1000
DEEP_WINDOW = timedelta(days=2)
DEEP_RUNS = 10
# Before reading a flow's runs its schedule is unknown; a day plus margin flags a daily flow
# only once it really missed a run.
SUSPECT_AGE = timedelta(hours=25)
LONG_OUTAGE = timedelta(hours=6)
ALERT_LEAD = timedelta(minutes=15)
_KIND_TO_TYPE = {kind: resource_type for resource_type, kind in NOTIFICATION_KINDS.items()}
LISTING_SHARE = 40.0  # progress: listing and alerts take 0..40, deep checks 40..100


class Problem(BaseModel):
    """One flow with a problem, and why it is ranked where it is."""

    flow_id: int
    name: str | None = None
    status: str
    severity: Severity
    category: Category = Field(description="Likely category from alerts, runs and status")
    reason: str = Field(description="e.g. '3 of the last 9 runs failed or partial'")
    last_run_at: str | None = None
    failing_since: str | None = None
    # Rank flows with equal severity; the reason already states them, so a report does not
    # repeat them as fields (every problem row is paid for in tokens).
    _failed_runs: int = PrivateAttr(default=0)
    _outage_h: float = PrivateAttr(default=0.0)


class OrgHealthReport(BaseModel):
    """Every flow scanned; the problems found, worst first."""

    flows_scanned: int
    flows_with_problems: int
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_category: dict[str, int] = Field(default_factory=dict)
    problems: list[Problem] = Field(default_factory=list)
    truncated: bool = Field(description="More problems than listed: raise limit to see them")
    deep_checked: int = Field(description="Flows whose recent runs were read")
    complete: bool = Field(description="False when some pages or checks gave no answer")
    missing: list[str] = Field(default_factory=list)
    next_actions: list[NextAction] = Field(default_factory=list)


@dataclass
class _Flow:
    origin: FlowNode
    latest_errors: int | None = None
    latest_run_id: int | None = None
    latest_records: int | None = None
    alerts: list[Notification] = field(default_factory=list)
    facts: RunFacts | None = None

    @property
    def status(self) -> str:
        return (self.origin.status or "UNKNOWN").upper()


async def _noop(done: float, total: float, message: str) -> None:
    return None


async def _list_all(
    client: NexlaClient, gather: Gatherer, label: str, filters: dict[str, Any],
    on_page: Callable[[int], Awaitable[None]],
) -> list[FlowsPage]:  # fmt: skip
    """Every page of one listing: the first page tells how many there are; the rest in parallel."""

    async def page(number: int) -> FlowsPage:
        # Ordered by id, not by latest run (the default with run metrics): runs start while
        # the scan reads, and a run-ordered listing would shift flows between pages.
        result = await client.list_flows(
            page=number,
            per_page=PAGE_SIZE,
            flows_only=True,
            sort_by="id",
            sort_order="asc",
            **filters,
        )
        await on_page(math.ceil((result.total or len(result.flows)) / PAGE_SIZE) or 1)
        return result

    first = (await gather.run({f"{label}&page=1": lambda: page(1)})).get(f"{label}&page=1")
    if not isinstance(first, FlowsPage):
        return []
    pages = max(1, math.ceil((first.total or len(first.flows)) / PAGE_SIZE))
    rest = await gather.run(
        {f"{label}&page={n}": (lambda n=n: page(n)) for n in range(2, pages + 1)}
    )
    return [first, *(p for p in rest.values() if isinstance(p, FlowsPage))]


async def _alerts(client: NexlaClient, gather: Gatherer, since: datetime) -> list[Notification]:
    found: list[Notification] = []
    for number in range(1, MAX_NOTIFICATION_PAGES + 1):
        label = f"GET /notifications?from=…&page={number}"
        reply = (await gather.run({label: lambda number=number: client.list_notifications(
            from_ts=since, page=number, per_page=NOTIFICATION_PAGE_SIZE)})).get(label)  # fmt: skip
        if reply is None or isinstance(reply, Exception):
            break
        found.extend(
            n for n in reply.items if (n.level or "").upper() in ("ERROR", "WARN", "WARNING")
        )
        if len(reply.items) < NOTIFICATION_PAGE_SIZE:
            break
    return found


def _is_suspect(flow: _Flow, now: datetime) -> bool:
    """An active flow worth reading the runs of: errors last run, an old last run, or alerts."""
    started = run_started_at(flow.latest_run_id) if flow.latest_run_id else None
    if started is not None and flow.latest_errors is None:
        return True  # it ran, but the run-metrics listing did not say how: look
    return (
        bool(flow.latest_errors)
        or bool(flow.alerts)
        or (started is not None and now - started > SUSPECT_AGE)
        or (started is not None and flow.latest_records == 0)  # it ran and moved nothing
    )


def _alert_category(flow: _Flow, since: datetime | None = None) -> Category | None:
    """What the flow's alerts (from ``since`` on, when given) point to."""
    votes: Counter[Category] = Counter()
    for note in flow.alerts:
        if since is not None and note.created_at is not None and note.created_at < since:
            continue
        votes.update(categories_in(note.message or ""))
    causes = [(c, n) for c, n in votes.most_common() if c in CAUSES]
    if causes:
        return causes[0][0]
    return votes.most_common(1)[0][0] if votes else None


def _hours(delta: timedelta | None) -> float:
    return delta.total_seconds() / 3600 if delta is not None else 0.0


def _problem(flow: _Flow, now: datetime) -> Problem | None:
    """The flow's problem, or None when it has none (rules in the module docstring)."""
    origin, facts, status = flow.origin, flow.facts, flow.status
    hinted = _alert_category(flow)
    base: dict[str, Any] = {
        "flow_id": origin.id,
        "name": untrusted(origin.name, 80),
        "status": status,
    }
    last = flow.latest_run_id or origin.last_run_id
    last_at = run_started_at(last) if last else None
    base["last_run_at"] = iso(last_at)
    if status in ("INIT", "DRAFT"):
        return Problem(**base, severity="low", category="flow_not_running",
                       reason=f"never activated (status {status})")  # fmt: skip
    if status == "PAUSED":
        if not flow.latest_errors:
            return Problem(**base, severity="medium", category="flow_not_running", reason="paused")
        down = now - last_at if last_at else None
        long = down is not None and down >= LONG_OUTAGE
        reason = "paused after its latest run failed"
        if down is not None:
            reason += f", {_hours(down):.0f} h without a run"
        problem = Problem(**base, severity="critical" if long else "high",
                          category="flow_not_running", reason=reason)  # fmt: skip
        problem._outage_h = _hours(down)
        return problem
    if facts is None:
        if status != "ACTIVE":
            return Problem(**base, severity="medium", category=hinted or "unknown",
                           reason=f"status {status}")  # fmt: skip
        if flow.latest_errors:  # a suspect whose runs could not be read: never call it fine
            return Problem(**base, severity="high", category=hinted or "unknown",
                           reason=f"latest run had {flow.latest_errors} error(s); its recent "
                           "runs could not be read")  # fmt: skip
        return None
    streak, state = facts.streak, facts.state
    if state.phase in ("failing", "intermittent"):
        group = state.primary
        onset = group.first.started_at if group else None
        if streak.failing_since is not None:
            base["failing_since"] = iso(streak.failing_since.started_at)
        current = _alert_category(flow, onset - ALERT_LEAD if onset else None)
        latest = streak.latest
        outright = latest is not None and latest.status == "failed"
        in_a_row = streak.consecutive_failures
        severity: Severity
        if state.phase == "intermittent":
            severity = "high"
        elif in_a_row >= 3 and (outright or facts.ratio > HIGH_ERROR_RATIO):
            severity = "critical"
        elif in_a_row == 1 and facts.ratio <= HIGH_ERROR_RATIO:
            severity = "medium"  # one failed run after good ones: possibly a transient
        else:
            severity = "high"
        category = current if current in CAUSES else (
            "high_error_rate" if facts.failing < len(facts.recent) or not outright else "unknown"
        )  # fmt: skip
        reason = f"{facts.failing} of the last {len(facts.recent)} runs failed or partial"
        if state.phase == "intermittent":
            reason += ", intermittently; the latest succeeded"
        elif severity == "medium":
            reason += "; the latest failed after good runs (possibly transient)"
        problem = Problem(**base, severity=severity, category=category, reason=reason)
        problem._failed_runs = facts.failing
        since = streak.failing_since.started_at if streak.failing_since else None
        problem._outage_h = _hours(now - since) if since else 0.0
        return problem
    if facts.stale:
        age = facts.last_run_age
        reason = (
            f"no run for {_hours(age):.0f} h"
            if facts.too_old
            else f"its last {facts.empty_runs} runs moved no records"
        )
        problem = Problem(**base, severity="high", category="stale_data", reason=reason)
        problem._outage_h = _hours(now - facts.idle_since) if facts.idle_since else _hours(age)
        return problem
    if state.phase in ("recovering", "recovered"):
        return None  # its latest runs succeed: the failures are behind it
    if hinted is not None:
        # Nexla alerted but the runs read fine: a transient, or a failure still to come.
        return Problem(**base, severity="medium", category=hinted,
                       reason=f"{len(flow.alerts)} alert(s) in the last 48 h, though its recent "
                       "runs succeeded")  # fmt: skip
    return None


def _rank_key(problem: Problem) -> tuple[int, float, int, int]:
    # The longer a flow has gone without delivering, the more it matters.
    return (_SEVERITY_RANK[problem.severity], -problem._outage_h, -problem._failed_runs,
            problem.flow_id)  # fmt: skip


async def org_health(
    client: NexlaClient,
    *,
    now: datetime,
    limit: int = DEFAULT_PROBLEMS,
    progress: Progress | None = None,
    deadline_s: float = ORG_DEADLINE_S,
    concurrency: int = ORG_CONCURRENCY,
) -> OrgHealthReport:
    """Scan every flow and rank the problems (see the module docstring)."""
    report_progress = progress or _noop
    gather = Gatherer(deadline_s=deadline_s, concurrency=concurrency)
    listed = 0

    async def on_page(pages: int) -> None:
        # Both listings have about the same number of pages.
        nonlocal listed
        listed += 1
        done = LISTING_SHARE * min(1.0, listed / (2 * pages))
        await report_progress(done, 100, f"listed {listed} of about {2 * pages} pages of flows")

    with_runs = await _list_all(client, gather, "GET /flows?include_run_metrics=1",
                                {"include_run_metrics": 1}, on_page)  # fmt: skip
    origins = await _list_all(client, gather, "GET /flows?origin_only=1", {"origin_only": 1},
                              on_page)  # fmt: skip
    flows: dict[int, _Flow] = {}
    owner: dict[tuple[str, int], int] = {}
    for page in with_runs:
        latest = {m.get("origin_node_id"): m for m in (page.model_extra or {}).get("metrics", [])
                  if isinstance(m, dict)}  # fmt: skip
        for origin in page.flows:
            metric = latest.get(origin.id, {})
            flows[origin.id] = _Flow(origin, metric.get("errors"), metric.get("run_id") or None,
                                     metric.get("records"))  # fmt: skip
            for node in origin.iter_nodes():
                if node.resource is not None:
                    owner[node.resource] = origin.id
    for page in origins:
        for origin in page.flows:
            flows.setdefault(origin.id, _Flow(origin, latest_run_id=origin.last_run_id))
    for note in await _alerts(client, gather, now - ALERT_WINDOW):
        resource_type = _KIND_TO_TYPE.get((note.resource_type or "").upper())
        flow_id = owner.get((resource_type, note.resource_id)) if resource_type else None  # type: ignore[arg-type]
        if flow_id is not None:
            flows[flow_id].alerts.append(note)
    await report_progress(LISTING_SHARE, 100, f"listed {len(flows)} flows")

    suspects = [
        flow for flow in flows.values() if flow.status == "ACTIVE" and _is_suspect(flow, now)
    ]
    checked = 0

    async def deep(flow: _Flow) -> RunHistory:
        nonlocal checked
        anchor = flow.origin.resource
        assert anchor is not None
        history = await fetch_runs(client, anchor, now, window=DEEP_WINDOW, max_runs=DEEP_RUNS)
        checked += 1
        if checked % max(1, len(suspects) // 20) == 0 or checked == len(suspects):
            share = LISTING_SHARE + (100 - LISTING_SHARE) * checked / len(suspects)
            await report_progress(share, 100, f"checked {checked} of {len(suspects)} suspect flows")
        return history

    calls = {f"GET /flows/{f.origin.id} runs": (lambda f=f: deep(f))
             for f in suspects if f.origin.resource is not None}  # fmt: skip
    results = await gather.run(calls) if calls and not gather.expired else {}
    if calls and gather.expired and not results:
        gather.skip(*calls)
    for flow in suspects:
        history = results.get(f"GET /flows/{flow.origin.id} runs")
        if isinstance(history, RunHistory):
            flow.facts = run_facts(history, now)
    await report_progress(100, 100, "scan complete")

    problems = sorted(
        (p for f in flows.values() if (p := _problem(f, now)) is not None), key=_rank_key
    )
    missing = gather.missing()
    return OrgHealthReport(
        flows_scanned=len(flows), flows_with_problems=len(problems),
        by_severity=dict(Counter(p.severity for p in problems)),
        by_category=dict(Counter(p.category for p in problems).most_common()),
        problems=problems[:limit], truncated=len(problems) > limit,
        deep_checked=sum(f.facts is not None for f in suspects),
        complete=not missing, missing=missing[:10],
        next_actions=[tool_action("diagnose_flow", f"full verdict for the #{rank} problem",
                                  flow_id=p.flow_id) for rank, p in enumerate(problems[:3], 1)],
    )  # fmt: skip
