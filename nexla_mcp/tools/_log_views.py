"""What ``get_flow_logs`` returns: error templates, raw lines, and the counts that say how much
was read, matched and shown; plus the shorter forms a tight token budget falls back to."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nexla_mcp.nexla import LogEntry
from nexla_mcp.runbooks.clustering import LogCluster
from nexla_mcp.tools._budget import LeftOut, Tokens, left_out, shorten
from nexla_mcp.tools._views import CompactModel, clean, iso

__all__ = [
    "ClusterView",
    "FlowLogs",
    "LineView",
    "SHORT_CHARS",
    "RunSelection",
    "Severity",
    "cluster_view",
    "line_view",
    "logs_left_out",
    "logs_summary",
    "short_cluster",
    "short_line",
]

LINE_CHARS = 300
SHORT_CHARS = 120

Severity = Literal["ERROR", "WARNING", "INFO"]
RunSelection = Literal["requested", "latest", "latest_with_errors", "time_window", "no_runs"]


class ClusterView(CompactModel):
    """Lines that share a template: the variable parts are masked as <n>, <str>, <path>…"""

    template: str
    severity: str
    count: int
    first_seen: str | None = None
    last_seen: str | None = None
    example: str = Field(description="The first such line, sanitised and capped")
    resources: list[str] = Field(default_factory=list, description="Where it was logged")
    runs: int | None = Field(None, description="Distinct runs it appeared in")


class LineView(CompactModel):
    """One raw log line."""

    at: str
    severity: str
    resource: str | None = Field(None, description="SOURCE, DATASET or SINK and its id")
    run_id: int | None = None
    message: str


class FlowLogs(CompactModel):
    """A run's (or a time window's) log lines: templates first, then a page of raw lines."""

    flow_id: int
    run_id: int | None = None
    run_selection: RunSelection = Field(
        description="requested (by run_id, or the run of the cursor's first page); latest; "
        "latest_with_errors (the newest recent run with errors); time_window; no_runs"
    )
    latest_run_id: int | None = Field(
        None, description="The newest run, when a different one was read"
    )
    from_time: str | None = None
    to_time: str | None = None
    min_severity: Severity
    clusters: list[ClusterView] = Field(default_factory=list)
    clusters_total: int
    lines: list[LineView] = Field(default_factory=list)
    returned: int = Field(description="Raw lines in this result")
    available: int = Field(description="Lines read that match severity and search")
    fetched: int = Field(description="Lines read from Nexla (all severities)")
    upstream_total: int | None = Field(None, description="Lines Nexla has for this query")
    complete: bool = Field(description="Every line Nexla has for this query was read")
    truncated: bool = Field(description="More matching lines exist than are shown")
    next_cursor: str | None = None
    left_out: LeftOut = None
    tokens: Tokens = None


def _label(resource_type: str | None, resource_id: int | None) -> str | None:
    if not resource_type or resource_id is None:
        return None
    return f"{resource_type.upper()} {resource_id}"


def cluster_view(cluster: LogCluster) -> ClusterView:
    return ClusterView(
        template=cluster.template,
        severity=cluster.severity,
        count=cluster.count,
        first_seen=iso(cluster.first_seen),
        last_seen=iso(cluster.last_seen),
        example=cluster.example,
        resources=[f"{kind} {rid}" for kind, rid in cluster.resources],
        runs=cluster.run_count or None,
    )


def line_view(entry: LogEntry) -> LineView:
    return LineView(
        at=iso(entry.timestamp) or "",
        severity=(entry.severity or "INFO").upper(),
        resource=_label(entry.resource_type, entry.resource_id),
        run_id=entry.run_id,
        message=clean(entry.message, LINE_CHARS) or "",
    )


def logs_summary(view: FlowLogs) -> str:
    if view.run_selection == "no_runs":
        return f"Flow {view.flow_id} has no runs to read logs from."
    what = f"run {view.run_id}" if view.run_id else f"{view.from_time}..{view.to_time}"
    why = {"latest_with_errors": " (newest run with errors)", "latest": " (latest run)"}.get(
        view.run_selection, ""
    )
    head = f"Flow {view.flow_id}, {what}{why}: {view.available} {view.min_severity}+ lines"
    if view.clusters:
        head += f" in {view.clusters_total} templates (top one x{view.clusters[0].count})"
    tail = f"; showing {view.returned} raw lines"
    if not view.complete:
        tail += f"; read {view.fetched} of {view.upstream_total} lines"
    if view.truncated:
        tail += "; more with next_cursor"
    return head + tail + "."


def short_cluster(cluster: ClusterView) -> ClusterView:
    return cluster.model_copy(
        update={
            "template": shorten(cluster.template, SHORT_CHARS),
            "example": shorten(cluster.example, SHORT_CHARS),
        }
    )


def short_line(line: LineView) -> LineView:
    return line.model_copy(update={"message": shorten(line.message, SHORT_CHARS)})


def logs_left_out(clusters: int, lines: int, short: bool, budget: int | None) -> str | None:
    what = [f"{lines} raw lines (next_cursor resumes at them)"] if lines else []
    what += [f"the {clusters} rarest templates"] if clusters else []
    what += [f"templates, examples and lines cut to {SHORT_CHARS} characters"] if short else []
    return left_out(budget, what)
