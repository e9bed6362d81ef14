"""The ``runbooks`` toolset: whole runbooks run on the server, answered in one call.

``diagnose_flow``, ``check_flow_health``, ``track_sla``, ``compare_runs``, ``org_health`` and
``watch_flow`` (in ``_watch``) wrap ``nexla_mcp.runbooks`` (which holds the logic and the
output models). This module only validates arguments, keeps each diagnosis's next actions to
calls this server can actually take (a tool that is registered, or one of its prompts, with
arguments that tool accepts), relays ``org_health`` progress to the client, and writes the
one-line text summary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.runbooks.compare import RunComparisonReport, compare_runs
from nexla_mcp.runbooks.diagnose import Diagnosis, diagnose_flow
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.health import FlowHealthReport, check_flow_health
from nexla_mcp.runbooks.org import DEFAULT_PROBLEMS, OrgHealthReport, org_health
from nexla_mcp.runbooks.report import NextAction
from nexla_mcp.runbooks.sla import SlaReport, SlaTargets, track_sla
from nexla_mcp.tools._budget import LeftOut, Tokens, fit, left_out, shorten
from nexla_mcp.tools._common import (
    MAX_ID,
    MAX_LIMIT,
    Client,
    OptionalFlowId,
    OptionalResourceId,
    OptionalResourceType,
    OptionalRunId,
    listed_tools,
    nexla_tool,
    progress_of,
    tool_result,
)
from nexla_mcp.tools._watch import register_watch

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["OrgHealthAnswer", "callable_actions", "register"]


# The report's head (counts by severity and category, the three next actions) is never cut
# and costs up to about 350 tokens, so a budget starts above it.
OrgMaxTokens = Annotated[
    int | None, Field(ge=500, le=50_000, description="Token budget: problems cut to fit")
]


class OrgHealthAnswer(OrgHealthReport):
    """``org_health``'s report, cut to ``max_tokens`` when one is given."""

    left_out: LeftOut = None
    tokens: Tokens = None


def _org_answer(
    report: OrgHealthReport, shown: int, tokens: int, short: bool, budget: int | None
) -> OrgHealthAnswer:
    """``report`` with its first ``shown`` problems (``short``: without names and last run
    times, which get_flow has)."""
    problems = report.problems[:shown]
    if short:
        problems = [
            p.model_copy(update={"name": shorten(p.name), "last_run_at": None}) for p in problems
        ]
    more = len(report.problems) - shown
    what = [f"{more} more problems (a larger max_tokens lists them)"] if more else []
    what += ["names shortened and last_run_at dropped (get_flow has them)"] if short else []
    return OrgHealthAnswer(
        **{**report.model_dump(exclude={"problems"}), "truncated": report.truncated or more > 0},
        problems=problems,
        left_out=left_out(budget, what),
        tokens=tokens or None,
    )


async def callable_actions(
    server: MCPServer, ctx: Context, actions: list[NextAction]
) -> list[NextAction]:
    """The actions the caller of ``ctx`` can take as given: a tool listed to it or a prompt,
    called with arguments it accepts (no unknown argument, none of its required ones missing)."""
    tools = {tool.name: tool.input_schema for tool in await listed_tools(server, ctx)}
    prompts = {
        prompt.name: {
            "properties": {argument.name: {} for argument in prompt.arguments or []},
            "required": [a.name for a in prompt.arguments or [] if a.required],
        }
        for prompt in await server.list_prompts()
    }
    kept = []
    for action in actions:
        schema = tools.get(action.tool or "") if action.tool else prompts.get(action.prompt or "")
        if schema is None:
            continue
        accepted = set(schema.get("properties", {}))
        if set(action.arguments) <= accepted and set(schema.get("required", [])) <= set(
            action.arguments
        ):
            kept.append(action)
    return kept


def _target(flow_id: int | None, resource_type: str | None, resource_id: int | None) -> FlowTarget:
    return FlowTarget(flow_id=flow_id, resource_type=resource_type, resource_id=resource_id)  # type: ignore[arg-type]


def _now() -> datetime:
    return datetime.now(UTC)


def _steps(actions: list[NextAction]) -> str:
    names = [a.tool or f"{a.prompt} prompt" for a in actions[:3]]
    return f" Next: {', '.join(names)}." if names else ""


def register(server: MCPServer, settings: Settings) -> None:
    """Register the runbook tools."""
    register_watch(server)

    @nexla_tool(
        server, name="diagnose_flow", title="Diagnose flow", read_only=True, destructive=False,
        idempotent=True,
    )  # fmt: skip
    async def diagnose_flow_tool(
        client: Client,
        ctx: Context,
        flow_id: OptionalFlowId = None,
        resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None,
    ) -> Annotated[CallToolResult, Diagnosis]:
        """Why is a flow broken? Runs the troubleshooting runbook in one call: runs, clustered
        errors of the failing vs the last good run, credential probes, audit trail, alerts,
        changes just before the failures. Start here when a flow misbehaves.

        Returns category, confidence, summary, evidence (each with its API call) and
        next_actions (complete tool or prompt calls; writes only plan). Name the flow by
        flow_id or resource_type + resource_id.
        """
        report = await diagnose_flow(client, _target(flow_id, resource_type, resource_id),
                                     now=_now())  # fmt: skip
        report.next_actions = await callable_actions(server, ctx, report.next_actions)
        name = f" '{report.name}'" if report.name else ""
        return tool_result(
            report,
            f"Flow {report.flow_id}{name}: {report.category} (confidence "
            f"{report.confidence:.0%}).{_steps(report.next_actions)}",
        )

    @nexla_tool(
        server, name="check_flow_health", title="Check flow health", read_only=True,
        destructive=False, idempotent=True,
    )  # fmt: skip
    async def check_flow_health_tool(
        client: Client,
        flow_id: OptionalFlowId = None,
        resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None,
    ) -> Annotated[CallToolResult, FlowHealthReport]:
        """Health check of one flow: status, age of the last run, error rate over the last 10
        runs and a probe of every credential it uses; each out-of-bounds check is an issue.

        Identify the flow by flow_id, or by resource_type + resource_id. Use diagnose_flow to
        learn why an unhealthy flow fails.
        """
        report = await check_flow_health(client, _target(flow_id, resource_type, resource_id),
                                         now=_now())  # fmt: skip
        verdict = (
            "healthy"
            if report.healthy
            else f"{len(report.issues)} issue(s): " + "; ".join(report.issues[:3])
        )
        return tool_result(report, f"Flow {report.flow_id} ({report.status}): {verdict}.")

    @nexla_tool(
        server, name="track_sla", title="Track SLA", read_only=True, destructive=False,
        idempotent=True,
    )  # fmt: skip
    async def track_sla_tool(
        client: Client,
        flow_id: OptionalFlowId = None,
        resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None,
        max_latency_s: Annotated[
            int, Field(gt=0, le=86_400, description="Longest run, start to last write")
        ] = 300,
        min_success_rate: Annotated[
            float, Field(ge=0, le=1, description="Share of runs without errors")
        ] = 0.95,
        max_age_hours: Annotated[
            float, Field(gt=0, le=720, description="Hours since the last delivery")
        ] = 24,
        days: Annotated[int, Field(ge=1, le=30, description="Days to look back")] = 7,
    ) -> Annotated[CallToolResult, SlaReport]:
        """Check one flow against SLA targets over a window: success rate of its runs,
        latency of each run (start to its destinations' last write) and age of the newest
        delivered data.

        Returns each check with its observed value, the violating runs (newest first) and
        compliant. Identify the flow by flow_id, or by resource_type + resource_id.
        """
        targets = SlaTargets(max_latency_s=max_latency_s, min_success_rate=min_success_rate,
                             max_age_hours=max_age_hours)  # fmt: skip
        report = await track_sla(client, _target(flow_id, resource_type, resource_id), targets,
                                 days=days, now=_now())  # fmt: skip
        failed = [c.name for c in report.checks if c.ok is False]
        verdict = {True: "meets its SLA", False: f"misses {', '.join(failed)}",
                   None: "has no measurable runs"}[report.compliant]  # fmt: skip
        return tool_result(
            report,
            f"Flow {report.flow_id} {verdict} over {days} days ({report.runs} runs, "
            f"{report.violations_total} violations).",
        )

    @nexla_tool(
        server, name="compare_runs", title="Compare runs", read_only=True, destructive=False,
        idempotent=True,
    )  # fmt: skip
    async def compare_runs_tool(
        client: Client,
        flow_id: OptionalFlowId = None,
        resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None,
        run_id: OptionalRunId = None,
        baseline_run_id: Annotated[
            int | None,
            Field(
                gt=0,
                le=MAX_ID,
                description="Run to compare with",
            ),
        ] = None,
    ) -> Annotated[CallToolResult, RunComparisonReport]:
        """Compare a run of a flow with a baseline run: records, errors, size and duration
        over the whole flow, per resource, and the error templates that are new.

        Defaults: run_id is the latest failing run, baseline_run_id the last successful run
        before it. Identify the flow by flow_id, or by resource_type + resource_id.
        """
        report = await compare_runs(
            client, _target(flow_id, resource_type, resource_id), run_id=run_id,
            baseline_run_id=baseline_run_id, now=_now(),
        )  # fmt: skip
        against = f" vs run {report.baseline.run_id}" if report.baseline else " (no baseline)"
        found = "; ".join(report.differences[:3]) or "no differences beyond noise"
        return tool_result(report, f"Run {report.run.run_id}{against}: {found}.")

    @nexla_tool(
        server, name="org_health", title="Org health", read_only=True, destructive=False,
        idempotent=True,
    )  # fmt: skip
    async def org_health_tool(
        client: Client,
        ctx: Context,
        limit: Annotated[
            int, Field(ge=1, le=MAX_LIMIT, description="Problems to list")
        ] = DEFAULT_PROBLEMS,
        max_tokens: OrgMaxTokens = None,
    ) -> Annotated[CallToolResult, OrgHealthAnswer]:
        """Scan every flow of the org and list its problems, worst first: failing flows,
        degraded or stale ones, paused and never-started ones, each with a severity, a likely
        category and the reason.

        Works on orgs of 10,000+ flows and reports progress while it scans. Follow with
        diagnose_flow on the top problems.
        """

        report = await org_health(client, now=_now(), limit=limit, progress=progress_of(ctx))
        report.next_actions = await callable_actions(server, ctx, report.next_actions)
        worst = ", ".join(f"{n} {s}" for s, n in report.by_severity.items())
        summary = (
            f"Scanned {report.flows_scanned} flows: {report.flows_with_problems} with problems"
            + (f" ({worst})." if worst else ".")
        )

        def answer(shown: int, tokens: int, short: bool) -> CallToolResult:
            return tool_result(_org_answer(report, shown, tokens, short, max_tokens), summary)

        return fit(
            [lambda n, t: answer(n, t, False), lambda n, t: answer(n, t, True)],
            len(report.problems),
            max_tokens,
        )
