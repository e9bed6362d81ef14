"""The ``metrics`` toolset: records and errors of one resource by day and by run.

``get_run_metrics`` answers "is this run abnormal?": each run carries a status derived from
its counts and a comparison with the median of the runs before it (``runbooks.runs``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.runbooks.runs import (
    DEFAULT_WINDOW,
    RunAssessment,
    RunRow,
    RunStatus,
    aggregate_runs,
    assess_runs,
    streak_of,
)
from nexla_mcp.tools._budget import LeftOut, MaxTokens, Tokens, fit, left_out
from nexla_mcp.tools._common import (
    Client,
    Cursor,
    ResourceId,
    ResourceType,
    nexla_tool,
    tool_result,
)
from nexla_mcp.tools._paging import decode_cursor, encode_cursor
from nexla_mcp.tools._views import CompactModel, bad_arguments, iso, utc_now

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["DailyMetricsView", "RunMetricsView", "register"]

DEFAULT_DAYS = 7
MAX_DAYS = 92
DEFAULT_RUNS = 10
MAX_RUNS = 50
# Rows read per call: enough for a week of half-hourly runs plus the baseline before them.
MAX_RUN_ROWS = 500


class DailyMetricsView(CompactModel):
    """A resource's records and errors per UTC day, columnar: a 92-day answer stays small.

    Days before the first one with data are left out of ``records_per_day`` (a new or idle
    resource would otherwise list a zero per day); later days without data are 0.
    """

    resource_type: str
    resource_id: int
    from_date: date
    to_date: date
    data_from: date | None = Field(None, description="First day with data, if any")
    records_per_day: list[int] = Field(
        default_factory=list, description="One count per UTC day, data_from to to_date"
    )
    errors_per_day: dict[date, int] | None = Field(None, description="Only days with errors")
    records: int = Field(description="Records over the whole range")
    errors: int = Field(description="Errors over the whole range")


class RunRowView(CompactModel):
    """One run with its derived status and how it compares with the runs before it."""

    run_id: int
    started_at: str | None = None
    status: RunStatus
    records: int
    errors: int
    baseline_records: float | None = Field(
        None, description="Median records of up to 7 earlier runs"
    )
    baseline_errors: float | None = None
    records_vs_baseline: float | None = Field(None, description="records / baseline_records")
    flags: list[str] = Field(
        default_factory=list,
        description="records_zero, records_drop (<50% of baseline), records_spike (>3x), "
        "error_spike (>2x baseline errors, or any errors after none)",
    )


class RunMetricsView(CompactModel):
    """A resource's recent runs, newest first, and its current failure streak."""

    resource_type: str
    resource_id: int
    latest_status: RunStatus | None = None
    consecutive_failures: int = Field(description="Failed or partial runs in a row, up to now")
    failing_since: str | None = Field(None, description="Start of the streak's first run (UTC)")
    last_success_at: str | None = None
    runs: list[RunRowView] = Field(default_factory=list)
    total: int = Field(description="Runs matching the filter in the history read")
    truncated: bool
    next_cursor: str | None = None
    left_out: LeftOut = None
    tokens: Tokens = None


def _day_range(from_date: date | None, to_date: date | None) -> tuple[date, date]:
    today = utc_now().date()
    end = to_date or today
    start = from_date or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > today:
        raise bad_arguments(
            f"from_date {start} is in the future (today is {today} UTC).",
            "Pass a from_date up to today.",
        )
    if start > end:
        raise bad_arguments(
            f"from_date {start} is after to_date {end}.", "Pass from_date on or before to_date."
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise bad_arguments(
            f"The range {start}..{end} spans more than {MAX_DAYS} days.",
            f"Ask for at most {MAX_DAYS} days at a time.",
        )
    return start, end


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _run_view(assessment: RunAssessment) -> RunRowView:
    run, baseline = assessment.run, assessment.baseline
    ratio = assessment.records_ratio
    return RunRowView(
        run_id=run.run_id,
        started_at=iso(run.started_at),
        status=assessment.status,
        records=run.records,
        errors=run.errors,
        baseline_records=baseline.median_records if baseline else None,
        baseline_errors=baseline.median_errors if baseline else None,
        records_vs_baseline=round(ratio, 2) if ratio is not None else None,
        flags=list(assessment.flags),
    )


def _short_run(run: RunRowView) -> RunRowView:
    """A run for a tight budget: the baseline medians go, their ratio and the flags stay."""
    return run.model_copy(update={"baseline_records": None, "baseline_errors": None})


def _runs_left_out(runs: int, short: bool, budget: int | None) -> str | None:
    what = [f"{runs} more runs (next_cursor resumes at them)"] if runs else []
    what += ["baseline medians (records_vs_baseline and flags kept)"] if short else []
    return left_out(budget, what)


def _runs_summary(view: RunMetricsView, failed_only: bool) -> str:
    name = f"{view.resource_type} {view.resource_id}"
    if not view.runs:
        kind = "failed runs" if failed_only else "runs"
        return f"No {kind} found for {name}."
    parts = [f"{name}: latest run {view.latest_status}"]
    if view.consecutive_failures:
        parts.append(
            f"{view.consecutive_failures} failing runs in a row since {view.failing_since}"
        )
    flagged = [run for run in view.runs if run.flags]
    if flagged:
        parts.append(f"{len(flagged)} of {len(view.runs)} shown runs abnormal vs baseline")
    more = "; more with next_cursor" if view.truncated else ""
    return "; ".join(parts) + f" ({len(view.runs)} of {view.total} runs shown{more})."


def register(server: MCPServer, settings: Settings) -> None:
    """Register ``get_daily_metrics`` and ``get_run_metrics``."""

    @nexla_tool(
        server,
        name="get_daily_metrics",
        title="Get daily metrics",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def get_daily_metrics(
        client: Client,
        resource_type: ResourceType,
        resource_id: ResourceId,
        from_date: Annotated[
            date | None,
            Field(description="First UTC day (default: 6 days before to_date)"),
        ] = None,
        to_date: Annotated[date | None, Field(description="Last UTC day (default: today)")] = None,
    ) -> Annotated[CallToolResult, DailyMetricsView]:
        """Records and errors per UTC day of a source, nexset or destination (at most 92
        days; default the last 7): trends such as a volume drop or when errors began.
        records_per_day has one count per day from data_from (the first day with data) to
        to_date; errors_per_day only the days with errors. For single runs use
        get_run_metrics.
        """
        start, end = _day_range(from_date, to_date)
        metrics = await client.get_daily_metrics(
            resource_type, resource_id, from_date=start, to_date=end
        )
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        records, errors = dict.fromkeys(days, 0), dict.fromkeys(days, 0)
        for row in metrics.metrics:
            if start <= row.time <= end:
                records[row.time] += row.records
                errors[row.time] += row.errors
        with_data = [day for day in days if records[day] or errors[day]]
        view = DailyMetricsView(
            resource_type=resource_type,
            resource_id=resource_id,
            from_date=start,
            to_date=end,
            data_from=with_data[0] if with_data else None,
            records_per_day=[records[day] for day in days if with_data and day >= with_data[0]],
            errors_per_day={day: n for day, n in errors.items() if n} or None,
            records=sum(records.values()),
            errors=sum(errors.values()),
        )
        with_errors = _days(len(view.errors_per_day or {}))
        without_data = _days(len(days) - sum(bool(records[day]) for day in days))
        summary = (
            f"{resource_type} {resource_id}, {start}..{end}: {view.records} records, "
            f"{view.errors} errors; {with_errors} with errors, {without_data} without data."
        )
        return tool_result(view, summary)

    @nexla_tool(
        server,
        name="get_run_metrics",
        title="Get run metrics",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def get_run_metrics(
        client: Client,
        resource_type: ResourceType,
        resource_id: ResourceId,
        failed_only: Annotated[bool, Field(description="Only failed or partial runs")] = False,
        limit: Annotated[
            int, Field(ge=1, le=MAX_RUNS, description="Runs to return")
        ] = DEFAULT_RUNS,
        cursor: Cursor = None,
        max_tokens: MaxTokens = None,
    ) -> Annotated[CallToolResult, RunMetricsView]:
        """Recent runs of a source, nexset or destination, newest first: status (success,
        partial, failed, empty) and flags such as records_drop or error_spike against the
        median of the 7 runs before.

        Answers "is this run abnormal?" and "failing since when?" (consecutive_failures,
        failing_since). A run_id can go to get_flow_logs.
        """
        filters = {
            "resource_type": resource_type,
            "resource_id": resource_id,
            "failed_only": failed_only,
        }
        offset, _ = decode_cursor("get_run_metrics", filters, cursor)
        summary = await client.get_run_summary(resource_type, resource_id, size=MAX_RUN_ROWS)
        runs = aggregate_runs(
            RunRow(row.run_id, row.records, row.errors, row.size)
            for row in summary.rows
            if row.run_id is not None
        )
        streak = streak_of(runs)
        assessed = assess_runs(runs, window=DEFAULT_WINDOW)
        if failed_only:
            assessed = [a for a in assessed if a.status in ("failed", "partial")]
        rows = [_run_view(a) for a in assessed[offset : offset + limit]]

        def page(shown: int, tokens: int, short: bool) -> CallToolResult:
            end = offset + shown
            more = end < len(assessed)
            view = RunMetricsView(
                resource_type=resource_type,
                resource_id=resource_id,
                latest_status=streak.latest.status if streak.latest else None,
                consecutive_failures=streak.consecutive_failures,
                failing_since=(
                    iso(streak.failing_since.started_at) if streak.failing_since else None
                ),
                last_success_at=(
                    iso(streak.last_success.started_at) if streak.last_success else None
                ),
                runs=[_short_run(run) if short else run for run in rows[:shown]],
                total=len(assessed),
                truncated=more,
                next_cursor=encode_cursor("get_run_metrics", filters, end) if more else None,
                left_out=_runs_left_out(len(rows) - shown, short, max_tokens),
                tokens=tokens or None,
            )
            return tool_result(view, _runs_summary(view, failed_only))

        return fit(
            [lambda n, t: page(n, t, False), lambda n, t: page(n, t, True)], len(rows), max_tokens
        )
