"""The ``logs`` toolset: ``get_flow_logs``, error templates first, raw lines after.

A failing run can log thousands of near-identical lines. The tool reads up to
``MAX_LOG_PAGES`` x ``LOG_PAGE_SIZE`` lines of one run (or one time window), clusters the lines
at or above the requested severity into templates (``runbooks.clustering``) and returns the
templates ahead of a short page of raw lines, saying exactly how many lines exist, how many
were read and how many are shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.nexla import FlowNode, LogEntry, LogPage
from nexla_mcp.runbooks.clustering import LogLine, cluster_log_lines, severity_rank
from nexla_mcp.runbooks.runs import run_started_at
from nexla_mcp.tools._budget import MaxTokens, fit
from nexla_mcp.tools._common import (
    Client,
    Cursor,
    OptionalFlowId,
    OptionalResourceId,
    OptionalResourceType,
    OptionalRunId,
    nexla_tool,
    sanitize_text,
    tool_result,
)
from nexla_mcp.tools._flow_runs import recent_runs
from nexla_mcp.tools._flow_views import load_flow
from nexla_mcp.tools._log_views import (
    FlowLogs,
    RunSelection,
    Severity,
    cluster_view,
    line_view,
    logs_left_out,
    logs_summary,
    short_cluster,
    short_line,
)
from nexla_mcp.tools._paging import decode_cursor, encode_cursor
from nexla_mcp.tools._views import bad_arguments, iso, utc_now

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.settings import Settings

__all__ = ["register"]

LOG_PAGE_SIZE = 500
MAX_LOG_PAGES = 4
MAX_CLUSTERS = 10
DEFAULT_LINES = 10
MAX_LINES = 100
MAX_WINDOW = timedelta(days=7)
# A run's lines start at its run id (epoch ms); read from a little earlier to be safe.
RUN_LEAD = timedelta(minutes=1)


async def _read_all(
    fetch_page: Callable[[int], Awaitable[LogPage]],
) -> tuple[list[LogEntry], int | None]:
    """Up to ``MAX_LOG_PAGES`` pages; the entries and the total Nexla reported."""
    entries: list[LogEntry] = []
    total: int | None = None
    for page in range(1, MAX_LOG_PAGES + 1):
        reply = await fetch_page(page)
        entries.extend(reply.entries)
        total = reply.meta.total_count if reply.meta.total_count is not None else total
        if len(reply.entries) < LOG_PAGE_SIZE or (total is not None and len(entries) >= total):
            break
    return entries, total


async def _choose_run(
    client: NexlaClient, origin: FlowNode
) -> tuple[int | None, RunSelection, int | None]:
    """(run to read, why, latest run id): the newest recent run with errors, else the newest."""
    runs = await recent_runs(client, origin)
    if not runs:
        return None, "no_runs", origin.last_run_id
    latest = runs[-1]
    with_errors = [run for run in runs if run.errors > 0]
    if with_errors and with_errors[-1].run_id != latest.run_id:
        return with_errors[-1].run_id, "latest_with_errors", latest.run_id
    return latest.run_id, "latest", latest.run_id


def _window(
    from_time: datetime | None, to_time: datetime | None
) -> tuple[datetime, datetime] | None:
    if from_time is None and to_time is None:
        return None
    # A time without an offset is taken as UTC, like every time this server shows.
    from_time, to_time = (
        moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
        for moment in (from_time, to_time)
    )
    end = to_time or utc_now()
    start = from_time or end - timedelta(hours=24)
    if start >= end:
        raise bad_arguments(
            "from_time must be before to_time.", "Pass an ISO 8601 from_time earlier than to_time."
        )
    if end - start > MAX_WINDOW:
        raise bad_arguments(
            f"The window {iso(start)}..{iso(end)} is longer than 7 days.",
            "Narrow the window, or pass a run_id from get_run_metrics instead.",
        )
    return start, end


def register(server: MCPServer, settings: Settings) -> None:
    """Register ``get_flow_logs``."""

    @nexla_tool(
        server,
        name="get_flow_logs",
        title="Get flow logs",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def get_flow_logs(
        client: Client,
        flow_id: OptionalFlowId = None,
        resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None,
        run_id: OptionalRunId = None,
        from_time: Annotated[
            datetime | None, Field(description="Window start, instead of a run")
        ] = None,
        to_time: Annotated[datetime | None, Field(description="Window end (default: now)")] = None,
        severity: Annotated[Severity, Field(description="Lowest severity to include")] = "WARNING",
        search: Annotated[
            str | None,
            Field(min_length=2, max_length=100, description="Only lines containing this text"),
        ] = None,
        limit: Annotated[
            int, Field(ge=1, le=MAX_LINES, description="Raw lines to return")
        ] = DEFAULT_LINES,
        cursor: Cursor = None,
        max_tokens: MaxTokens = None,
    ) -> Annotated[CallToolResult, FlowLogs]:
        """Read a flow's logs: error lines clustered into templates (count, first and last
        seen, an example), then a page of raw lines. Use it to learn why a flow fails.

        Name the flow by flow_id, or by resource_type + resource_id. Without run_id or a
        time window it reads the newest recent run with errors (else the latest) and says
        which. Reads up to 2000 lines and says what was left out.
        """
        window = _window(from_time, to_time)
        filters = {
            "flow_id": flow_id,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "run_id": run_id,
            "from_time": iso(from_time),
            "to_time": iso(to_time),
            "severity": severity,
            "search": search,
        }
        offset, pinned_run = decode_cursor("get_flow_logs", filters, cursor)

        _, origin = await load_flow(
            client, flow_id, resource_type, resource_id, operation="get_flow_logs", flows_only=True
        )
        named = (resource_type, resource_id) if resource_type and resource_id else None
        anchor = named or origin.resource
        server_severity = "ERROR" if severity == "ERROR" else None

        chosen, selection, latest = run_id, "requested", None
        if run_id is None and pinned_run is not None:
            chosen = pinned_run
        elif run_id is None and window is None:
            chosen, selection, latest = await _choose_run(client, origin)
        elif run_id is None:
            selection = "time_window"

        entries: list[LogEntry] = []
        total: int | None = 0
        if chosen is not None and anchor is not None:
            started = run_started_at(chosen)
            since = (
                window[0] if window else (started - RUN_LEAD if started else utc_now() - MAX_WINDOW)
            )
            kind, rid = anchor
            assert kind is not None and rid is not None
            entries, total = await _read_all(
                lambda page: client.get_flow_logs(
                    kind,
                    rid,
                    run_id=chosen,
                    from_ts=since,
                    to_ts=window[1] if window else None,
                    severity=server_severity,
                    page=page,
                    per_page=LOG_PAGE_SIZE,
                )
            )
        elif window is not None:
            entries, total = await _read_all(
                lambda page: client.get_flow_logs_by_flow(
                    origin.id,
                    from_ts=window[0],
                    to_ts=window[1],
                    severity=server_severity,
                    page=page,
                    per_page=LOG_PAGE_SIZE,
                )
            )

        floor = severity_rank(severity)
        needle = search.casefold() if search else None
        matching = sorted(
            (
                entry
                for entry in entries
                if severity_rank(entry.severity) >= floor
                and (needle is None or needle in entry.message.casefold())
            ),
            key=lambda entry: entry.timestamp,
        )
        clusters = cluster_log_lines(
            (
                LogLine(
                    entry.message,
                    entry.severity or "INFO",
                    entry.timestamp,
                    entry.run_id,
                    entry.resource_type,
                    entry.resource_id,
                )
                for entry in matching
            ),
            clean=lambda text: sanitize_text(text, max_chars=2000),
        )
        page = matching[offset : offset + limit]
        complete = total is None or len(entries) >= total
        shown_clusters = [cluster_view(cluster) for cluster in clusters[:MAX_CLUSTERS]]
        shown_lines = [line_view(entry) for entry in page]

        def answer(units: int, tokens: int, short: bool) -> CallToolResult:
            # A short budget drops raw lines first, then the rarest templates.
            kept_clusters = shown_clusters[: min(units, len(shown_clusters))]
            kept_lines = shown_lines[: max(0, units - len(shown_clusters))]
            end = offset + len(kept_lines)
            view = FlowLogs(
                flow_id=origin.id,
                run_id=chosen,
                run_selection=selection,
                latest_run_id=latest if latest is not None and latest != chosen else None,
                from_time=iso(window[0]) if window else None,
                to_time=iso(window[1]) if window else None,
                min_severity=severity,
                clusters=[short_cluster(c) if short else c for c in kept_clusters],
                clusters_total=len(clusters),
                lines=[short_line(line) if short else line for line in kept_lines],
                returned=len(kept_lines),
                available=len(matching),
                fetched=len(entries),
                upstream_total=total,
                complete=complete,
                truncated=end < len(matching) or not complete,
                next_cursor=(
                    encode_cursor("get_flow_logs", filters, end, pin=chosen)
                    if end < len(matching)
                    else None
                ),
                left_out=logs_left_out(
                    len(shown_clusters) - len(kept_clusters),
                    len(shown_lines) - len(kept_lines),
                    short,
                    max_tokens,
                ),
                tokens=tokens or None,
            )
            return tool_result(view, logs_summary(view))

        units = len(shown_clusters) + len(shown_lines)
        return fit(
            [lambda n, t: answer(n, t, False), lambda n, t: answer(n, t, True)], units, max_tokens
        )
