"""``watch_flow`` (runbooks toolset): wait for a flow's next runs after a fix and say how they went.

The waiting is ``nexla_mcp.runbooks.watch``; this module validates arguments, relays progress
as MCP progress notifications, and on ``still_failing`` re-diagnoses the flow so the answer
carries the new verdict's category (a fix can turn one failure into another).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.runbooks.diagnose import diagnose_flow
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.runs import RunStatus
from nexla_mcp.runbooks.watch import DEFAULT_POLL_S, WatchStatus, watch_runs
from nexla_mcp.tools._common import Client, FlowId, nexla_tool, progress_of, tool_result
from nexla_mcp.tools._views import CompactModel, bad_arguments, clean, iso

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["WatchReport", "register_watch"]

MAX_TIMEOUT_S = 600
DEFAULT_TIMEOUT_S = 50  # under the 60 s request timeout many clients keep by default
MAX_RUNS = 5
_MAX_LOOKBACK = timedelta(days=7)
_CLOCK_SKEW = timedelta(minutes=1)
_SUMMARY_CHARS = 400


class WatchedRun(CompactModel):
    """One run that started after ``since``."""

    run_id: int
    started_at: str | None = None
    status: RunStatus
    records: int
    errors: int


class WatchReport(CompactModel):
    """How the runs after a fix went."""

    flow_id: int
    status: WatchStatus = Field(
        description="recovered: the new runs succeeded; still_failing: a new run had errors; "
        "no_run_yet: no (or not enough) new runs before the timeout"
    )
    since: str
    runs: list[WatchedRun] = Field(default_factory=list)
    waited_s: float
    category: str | None = Field(None, description="still_failing: the new diagnosis's category")
    diagnosis: str | None = Field(None, description="still_failing: its summary")
    note: str | None = None


def _since(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad_arguments(
            "since must be an ISO 8601 time with a zone, e.g. 2026-01-31T14:05:00Z.",
            "Pass the executed_at of the write receipt, or leave since out to mean now.",
        )
    if not now - _MAX_LOOKBACK <= moment <= now + _CLOCK_SKEW:
        raise bad_arguments(
            "since must lie within the last 7 days and not in the future.",
            "Pass the executed_at of the write receipt, or leave since out to mean now.",
        )
    return moment


def register_watch(server: MCPServer) -> None:
    """Register ``watch_flow``."""

    @nexla_tool(
        server, name="watch_flow", title="Watch flow", read_only=True, destructive=False,
        idempotent=True,
    )  # fmt: skip
    async def watch_flow(
        client: Client,
        ctx: Context,
        flow_id: FlowId,
        since: Annotated[
            str | None,
            Field(
                max_length=40,
                description="ISO time of the fix (receipt's executed_at); default now",
            ),
        ] = None,  # fmt: skip
        runs: Annotated[int, Field(ge=1, le=MAX_RUNS, description="New runs to wait for")] = 1,
        timeout_s: Annotated[
            int, Field(ge=0, le=MAX_TIMEOUT_S, description="Longest wait, seconds")
        ] = DEFAULT_TIMEOUT_S,
    ) -> Annotated[CallToolResult, WatchReport]:
        """After a fix, wait for the flow's next runs (started at or after since) and report
        recovered, still_failing (with the new diagnosis category) or no_run_yet. Read-only;
        sends progress while it waits. Call again to keep waiting.
        """
        now = datetime.now(UTC)
        moment = _since(since, now)

        outcome = await watch_runs(
            client, flow_id, since=moment, runs=runs, timeout_s=timeout_s,
            poll_s=max(0.2, min(DEFAULT_POLL_S, timeout_s / 10)), progress=progress_of(ctx),
        )  # fmt: skip
        report = WatchReport(
            flow_id=flow_id,
            status=outcome.status,
            since=iso(moment) or "",
            runs=[
                WatchedRun(
                    run_id=run.run_id,
                    started_at=iso(run.started_at),
                    status=run.status,
                    records=run.records,
                    errors=run.errors,
                )  # fmt: skip
                for run in outcome.runs
            ],
            waited_s=round(outcome.waited_s, 1),
        )
        if outcome.status == "still_failing":
            diagnosis = await diagnose_flow(
                client, FlowTarget(flow_id=flow_id), now=datetime.now(UTC)
            )
            report.category = diagnosis.category
            report.diagnosis = clean(diagnosis.summary, _SUMMARY_CHARS)
            report.note = "The fix did not hold. Read the diagnosis; diagnose_flow gives the "
            report.note += "evidence and next steps."
        elif outcome.status == "no_run_yet":
            report.note = _no_run_note(outcome.flow_status, runs, len(outcome.runs))
        return tool_result(report, _summary(report))


def _no_run_note(flow_status: str | None, wanted: int, seen: int) -> str:
    if flow_status and flow_status != "ACTIVE":
        return f"The flow is {flow_status}: it will not run until activated (activate_flow)."
    return (
        f"{seen} of {wanted} new runs finished before the timeout; the next scheduled run may "
        "be later. Call watch_flow again with the same since."
    )


def _summary(report: WatchReport) -> str:
    if report.status == "recovered":
        return f"Flow {report.flow_id} recovered: {len(report.runs)} new runs without errors."
    if report.status == "still_failing":
        failing = next(run for run in report.runs if run.errors)
        return (
            f"Flow {report.flow_id} still failing: run {failing.run_id} had {failing.errors} "
            f"errors; now diagnosed as {report.category}."
        )
    return f"Flow {report.flow_id}: no new run finished within {report.waited_s:g} s."
