"""Did the flow recover? Wait, with a timeout, for its first run after a change and judge it.

The one function the rotation and migration runbooks verify with (``watch_recovery``), so
that it can be swapped for the shared ``watch_flow`` logic in one place.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.runs import flow_run_totals

__all__ = ["Recovery", "watch_recovery"]

Verdict = Literal["recovered", "still_failing", "no_run_yet"]


@dataclass(frozen=True)
class Recovery:
    """The first run of a flow after a change, judged."""

    flow_id: int
    verdict: Verdict
    run_id: int | None = None
    records: int | None = None
    errors: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


async def watch_recovery(
    client: NexlaClient,
    flow_id: int,
    *,
    since_ms: int,
    timeout_s: float,
    poll_s: float = 2.0,
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
) -> Recovery:
    """Poll the flow until a run that started at or after ``since_ms`` has metrics.

    ``recovered``: that run wrote records without errors; ``still_failing``: it had errors;
    ``no_run_yet``: no such run within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    since = datetime.fromtimestamp(since_ms / 1000, UTC) - timedelta(days=1)
    while True:
        document = await client.get_flow(flow_id)
        origin = document.flows[0] if document.flows else None
        anchor = origin.resource if origin is not None else None
        if anchor is not None and (origin.last_run_id or 0) >= since_ms:  # type: ignore[union-attr]
            metrics = await client.get_flow_metrics(
                anchor[0], anchor[1], from_date=since.date(), groupby="runId"
            )
            runs = [run for run in flow_run_totals(metrics.data) if run.run_id >= since_ms]
            if runs:
                first = runs[0]
                verdict: Verdict = "still_failing" if first.errors else "recovered"
                return Recovery(flow_id, verdict, first.run_id, first.records, first.errors)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Recovery(flow_id, "no_run_yet")
        await sleep(min(poll_s, remaining))
