"""Did the flow recover? Wait, with a timeout, for its first run after a change and judge it.

The one function the rotation and migration runbooks verify with (``watch_recovery``): a thin
adapter over the shared waiting logic of ``watch_flow`` (``nexla_mcp.runbooks.watch``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.watch import WatchStatus, watch_runs

__all__ = ["Recovery", "watch_recovery"]

Verdict = WatchStatus


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

    ``recovered``: that run had no errors; ``still_failing``: it had errors; ``no_run_yet``:
    no such run within ``timeout_s``.
    """
    outcome = await watch_runs(
        client, flow_id, since=datetime.fromtimestamp(since_ms / 1000, UTC),
        timeout_s=timeout_s, poll_s=poll_s, sleep=sleep,
    )  # fmt: skip
    if not outcome.runs:
        return Recovery(flow_id, "no_run_yet")
    first = outcome.runs[0]
    return Recovery(flow_id, outcome.status, first.run_id, first.records, first.errors)
