"""The ``flows`` toolset: ``list_flows`` (which flows are broken) and ``get_flow`` (one flow).

Both judge a flow by its recent runs: one ``flow/metrics?groupby=runId`` call per flow returns
every resource's records and errors per run, from which ``runbooks.runs`` derives each run's
status and the flow's health. ``list_flows`` makes those calls only for the rows it examines,
at most ``HEALTH_CONCURRENCY`` at a time, and examines at most ``MAX_EXAMINED`` flows per call:
in a 10,000-flow org, ``has_recent_errors=true`` costs one list call per 100 flows plus one
metrics call per examined flow, and the cursor resumes where the budget ran out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.nexla import FlowNode
from nexla_mcp.nexla.models.base import new_list
from nexla_mcp.runbooks.runs import RunStatus
from nexla_mcp.tools._budget import LeftOut, MaxTokens, Tokens, fit, left_out, shorten
from nexla_mcp.tools._common import (
    DEFAULT_LIMIT,
    Client,
    Cursor,
    Detail,
    Limit,
    OptionalFlowId,
    OptionalResourceId,
    OptionalResourceType,
    nexla_tool,
    tool_result,
)
from nexla_mcp.tools._flow_runs import Health, RecentRuns, summaries
from nexla_mcp.tools._flow_views import FlowDetail, flow_detail, flow_summary, load_flow
from nexla_mcp.tools._paging import decode_cursor, encode_cursor, scan
from nexla_mcp.tools._views import NAME_CHARS, CompactModel, clean

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.settings import Settings

__all__ = ["FlowList", "FlowRow", "register"]

MAX_EXAMINED = 200


class FlowRow(CompactModel):
    """One flow in a list."""

    flow_id: int
    name: str | None = None
    status: str | None = None
    source_type: str | None = None
    health: Health | None = None
    last_run_at: str | None = None
    last_run_status: RunStatus | None = None
    # Left out when 0 (most flows, most of the time): each list row costs tokens.
    recent_errors: int | None = None
    failed_runs: int | None = None


class FlowList(CompactModel):
    """A page of flows, newest first, with paging and scan metadata."""

    flows: list[FlowRow] = Field(default_factory=new_list)
    total: int | None = Field(None, description="Flows matching the filters, when known exactly")
    truncated: bool = Field(
        description="More matching flows may exist: call again with next_cursor"
    )
    next_cursor: str | None = None
    examined: int = Field(description="Flows examined by this call")
    unchecked: int | None = Field(None, description="Flows whose recent runs could not be read")
    left_out: LeftOut = None
    tokens: Tokens = None


# --- list_flows ----------------------------------------------------------------------------


def _row(origin: FlowNode, source_types: dict[int, str], runs: RecentRuns | None) -> FlowRow:
    row = FlowRow(
        flow_id=origin.id,
        name=clean(origin.name, NAME_CHARS),
        status=origin.status,
        source_type=source_types.get(origin.data_source_id or -1),
        health="unknown" if runs is None else runs.health,
    )
    if runs is not None:
        row.last_run_at, row.last_run_status = runs.last_run_at, runs.last_run_status
        row.recent_errors, row.failed_runs = runs.recent_errors or None, runs.failed_runs or None
    return row


def _short_row(row: FlowRow) -> FlowRow:
    """A row for a tight budget: the name cut short and no last run time (get_flow has both)."""
    return row.model_copy(update={"name": shorten(row.name), "last_run_at": None})


def _left_out(rows: int, short: bool, budget: int | None) -> str | None:
    what = [f"{rows} more matching flows (next_cursor resumes at them)"] if rows else []
    what += ["names shortened and last_run_at dropped (get_flow has them)"] if short else []
    return left_out(budget, what)


def _list_summary(result: FlowList, has_recent_errors: bool | None) -> str:
    if not result.flows:
        what = "No flows match" if result.next_cursor is None else "No matching flows yet"
        more = "; call again with next_cursor to keep looking" if result.next_cursor else ""
        return f"{what} ({result.examined} examined){more}."
    counts: dict[str, int] = {}
    for row in result.flows:
        counts[row.health or "unknown"] = counts.get(row.health or "unknown", 0) + 1
    by_health = ", ".join(f"{count} {health}" for health, count in sorted(counts.items()))
    qualifier = {True: " with recent errors", False: " without recent errors"}.get(
        has_recent_errors, ""
    )
    total = f" of {result.total}" if result.total is not None else ""
    more = "; more with next_cursor" if result.truncated else ""
    return f"{len(result.flows)}{total} flows{qualifier} ({by_health}){more}."


# --- registration --------------------------------------------------------------------------


def register(server: MCPServer, settings: Settings) -> None:
    """Register ``list_flows`` and ``get_flow``."""

    @nexla_tool(
        server,
        name="list_flows",
        title="List flows",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def list_flows(
        client: Client,
        status: Annotated[
            Literal["ACTIVE", "PAUSED", "INIT"] | None,
            Field(description="Only this status"),
        ] = None,
        name_contains: Annotated[
            str | None,
            Field(min_length=1, max_length=100, description="Part of the name, any case"),
        ] = None,
        source_type: Annotated[
            str | None,
            Field(min_length=1, max_length=50, description="Source connector, e.g. s3"),
        ] = None,
        has_recent_errors: Annotated[
            bool | None,
            Field(description="true: only flows with errors in recent runs; false: without"),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        max_tokens: MaxTokens = None,
    ) -> Annotated[CallToolResult, FlowList]:
        """List flows with their last run and health: failing (latest run failed),
        degraded (some recent runs had errors), stale (no run for 24 h), paused, idle (no
        runs) or ok. Recent runs: up to 10 within 24 h of the latest; recent_errors and
        failed_runs are left out when 0.

        Start here to find broken flows (has_recent_errors=true). One call examines at
        most 200 flows; next_cursor continues. Then get_flow, get_run_metrics and
        get_flow_logs.
        """
        filters = {
            "status": status,
            "name_contains": name_contains,
            "source_type": source_type,
            "has_recent_errors": has_recent_errors,
        }
        offset, _ = decode_cursor("list_flows", filters, cursor)
        source_types: dict[int, str] = {}
        health: dict[int, RecentRuns | None] = {}
        needle = name_contains.casefold() if name_contains else None
        wanted_type = source_type.casefold() if source_type else None

        async def fetch(page: int, per_page: int) -> tuple[list[FlowNode], int | None]:
            document = await client.list_flows(
                page=page, per_page=per_page, flows_only=False, status=status
            )
            for source in document.data_sources:
                if source.source_type:
                    source_types[source.id] = source.source_type
            return document.flows, document.total

        def matches(origin: FlowNode) -> bool:
            if status and (origin.status or "").upper() != status:
                return False
            if needle and needle not in (origin.name or "").casefold():
                return False
            found = source_types.get(origin.data_source_id or -1, "")
            return not wanted_type or found.casefold() == wanted_type

        def keep(origin: FlowNode) -> bool:
            if not matches(origin):
                return False
            if has_recent_errors is None:
                return True
            runs = health.get(origin.id)
            return runs is not None and bool(runs.recent_errors) == has_recent_errors

        async def decide(batch: list[FlowNode]) -> list[bool]:
            if has_recent_errors is not None:
                candidates = [origin for origin in batch if matches(origin)]
                for origin, runs in zip(
                    candidates, await summaries(client, candidates), strict=True
                ):
                    health[origin.id] = runs
            return [keep(origin) for origin in batch]

        filtered_here = bool(name_contains or source_type or has_recent_errors is not None)
        found = await scan(
            fetch, offset=offset, limit=limit, decide=decide, max_examined=MAX_EXAMINED
        )
        missing = [origin for origin in found.items if origin.id not in health]
        for origin, runs in zip(missing, await summaries(client, missing), strict=True):
            health[origin.id] = runs
        unchecked = sum(runs is None for runs in health.values())
        rows = [_row(origin, source_types, health[origin.id]) for origin in found.items]
        # Only status is filtered by Nexla; with no other filter its count is the answer.
        total = found.total if filtered_here else found.upstream_total

        def page(shown: int, tokens: int, short: bool) -> CallToolResult:
            resume = found.resume_at[shown - 1] if shown else offset
            cut = shown < len(rows)
            next_offset = resume if cut else found.next_offset
            result = FlowList(
                flows=[_short_row(row) if short else row for row in rows[:shown]],
                total=total,
                truncated=next_offset is not None,
                next_cursor=(
                    encode_cursor("list_flows", filters, next_offset)
                    if next_offset is not None
                    else None
                ),
                examined=found.examined,
                unchecked=unchecked or None,
                left_out=_left_out(len(rows) - shown, short, max_tokens),
                tokens=tokens or None,
            )
            return tool_result(result, _list_summary(result, has_recent_errors))

        return fit(
            [lambda n, t: page(n, t, False), lambda n, t: page(n, t, True)], len(rows), max_tokens
        )

    @nexla_tool(
        server,
        name="get_flow",
        title="Get flow",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def get_flow(
        client: Client,
        flow_id: OptionalFlowId = None,
        resource_type: OptionalResourceType = None,
        resource_id: OptionalResourceId = None,
        detail: Detail = "summary",
    ) -> Annotated[CallToolResult, FlowDetail]:
        """Get one flow: source, nexsets and destinations with statuses, connectors and credential
        ids, and how its recent runs went (health, failing since when).

        Name it by flow_id, or by resource_type + resource_id of any of its resources (not both).
        detail=full adds descriptions, connector configs (secrets redacted) and runtime statuses.
        Next: get_run_metrics or get_flow_logs where it fails, probe_credential.
        """
        document, origin = await load_flow(
            client, flow_id, resource_type, resource_id, operation="get_flow"
        )
        flow = flow_detail(document, origin, detail)
        (flow.runs,) = await summaries(client, [origin])
        if flow.runs is None:
            flow.runs = RecentRuns(health="unknown")
        return tool_result(flow, flow_summary(flow))
