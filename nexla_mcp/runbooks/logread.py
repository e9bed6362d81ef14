"""Read a failing run's error lines however many lines the run has, within the call deadline.

A failing run can log thousands of benign WARN/INFO lines around the one ERROR that matters,
and the ERROR can come last. The first page (``PAGE_SIZE`` lines) is read as it is; when the
run has more lines than that, its error lines are asked for upstream with ``severity=ERROR``
(docs/nexla-api.md §6.11: a server-accepted extra of ``/flow/logs``), page by page. A server
that ignores the filter answers with lines of every severity: then the run is paged through
unfiltered and the error lines kept. Paging stops before the deadline, saying so
(``complete=False``), and never reads more than ``MAX_LINES`` lines.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from nexla_mcp.nexla import LogEntry, LogPage, NexlaClient
from nexla_mcp.runbooks.clustering import severity_rank
from nexla_mcp.runbooks.flowmap import ResourceKey
from nexla_mcp.runbooks.runs import RunTotals

__all__ = ["PAGE_SIZE", "RunLogs", "read_whole_run"]

PAGE_SIZE = 1000
MAX_LINES = 20_000
# Paging stops when less than this is left of the runbook's deadline.
MARGIN_S = 3.0
LOG_LEAD = timedelta(minutes=1)
_ERROR_RANK = severity_rank("ERROR")


class RunLogs:
    """What was read of one run: the first page, every error line found, and how complete."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.total: int | None = None
        self.complete = True
        self.filtered_upstream = False
        self.calls = 0


def _is_error(entry: LogEntry) -> bool:
    return severity_rank(entry.severity) >= _ERROR_RANK


async def read_whole_run(
    client: NexlaClient, anchor: ResourceKey, run: RunTotals, *,
    time_left: Callable[[], float],
) -> RunLogs:  # fmt: skip
    """The run's first page plus its error lines beyond it (see the module docstring)."""
    started = run.started_at
    assert started is not None, "only runs whose id is a time are read"
    found = RunLogs()

    async def page(number: int, severity: str | None) -> LogPage:
        found.calls += 1
        return await client.get_flow_logs(
            anchor[0], anchor[1], run_id=run.run_id, from_ts=started - LOG_LEAD,
            severity=severity, page=number, per_page=PAGE_SIZE,
        )  # fmt: skip

    first = await page(1, None)
    found.entries = list(first.entries)
    found.total = first.meta.total_count
    more = found.total is not None and found.total > len(first.entries)
    if not more:
        return found
    seen = {(entry.timestamp, entry.message) for entry in found.entries}

    def keep(entries: list[LogEntry]) -> None:
        for entry in entries:
            if _is_error(entry) and (entry.timestamp, entry.message) not in seen:
                seen.add((entry.timestamp, entry.message))
                found.entries.append(entry)

    number, severity, read = 1, "ERROR", len(first.entries)
    while read < MAX_LINES:
        if time_left() < MARGIN_S:
            found.complete = False
            break
        reply = await page(number, severity)
        if severity and any(not _is_error(entry) for entry in reply.entries):
            # The filter was ignored: page through everything, the first page already read.
            severity, number = None, 2
            continue
        found.filtered_upstream = severity is not None
        keep(reply.entries)
        read += len(reply.entries)
        total = reply.meta.total_count
        if (
            not reply.entries
            or len(reply.entries) < PAGE_SIZE
            or (total is not None and number * PAGE_SIZE >= total)
        ):
            break
        number += 1
    else:
        found.complete = False
    found.entries.sort(key=lambda entry: entry.timestamp)
    return found
