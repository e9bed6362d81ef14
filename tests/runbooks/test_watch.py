"""watch_runs on a sandbox whose clock is a variable: waiting moves the clock, never sleeps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from nexla_mcp.errors import NotFoundError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.watch import watch_runs
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from tests.runbooks.sandbox_org import API_URL

pytestmark = pytest.mark.anyio


class SimClock:
    """Simulated time shared by the sandbox and the watcher; ``sleep`` advances it."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def app(clock: SimClock) -> Any:
    return create_app(clock=clock)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[NexlaClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        async with NexlaClient(
            api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http
        ) as nexla:
            yield nexla


async def _control(app: Any, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        reply = await http.request(method, f"{API_URL}/_sandbox/{path}", json=body)
        reply.raise_for_status()
        return reply.json()


async def _flow(app: Any, kind: str) -> int:
    scenarios = (await _control(app, "GET", "scenarios"))["scenarios"]
    return next(row["flow_id"] for row in scenarios if row["kind"] == kind)


async def test_a_healthy_flow_recovers_at_its_next_scheduled_run(
    app: Any, client: NexlaClient, clock: SimClock
) -> None:
    flow_id, since = await _flow(app, "healthy"), clock.moment()
    outcome = await watch_runs(
        client, flow_id, since=since, timeout_s=4 * 3600, poll_s=600, sleep=clock.sleep,
        clock=clock,
    )  # fmt: skip
    assert outcome.status == "recovered"
    assert len(outcome.runs) == 1 and outcome.runs[0].errors == 0
    assert outcome.runs[0].run_id >= since.timestamp() * 1000
    assert 0 < outcome.waited_s <= 3 * 3600  # the seeded flows run at most every 2 h


async def test_a_broken_flow_is_still_failing_at_its_next_run(
    app: Any, client: NexlaClient, clock: SimClock
) -> None:
    flow_id = await _flow(app, "transform_error")
    outcome = await watch_runs(
        client, flow_id, since=clock.moment(), timeout_s=4 * 3600, poll_s=600,
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert outcome.status == "still_failing"
    assert outcome.failing_run is not None and outcome.failing_run.errors > 0


async def test_a_run_started_now_is_seen_without_waiting(
    app: Any, client: NexlaClient, clock: SimClock
) -> None:
    flow_id, since = await _flow(app, "transform_error"), clock.moment()
    await _control(app, "POST", "runs", {"flow_id": flow_id, "outcome": "success"})
    outcome = await watch_runs(
        client, flow_id, since=since, timeout_s=60, sleep=clock.sleep, clock=clock
    )
    assert outcome.status == "recovered" and clock.slept == [] and outcome.polls == 1


async def test_no_run_before_the_timeout_is_no_run_yet_with_progress(
    app: Any, client: NexlaClient, clock: SimClock
) -> None:
    flow_id = await _flow(app, "healthy")
    seen: list[tuple[float, float, str]] = []

    async def progress(done: float, total: float, message: str) -> None:
        seen.append((done, total, message))

    outcome = await watch_runs(
        client, flow_id, since=clock.moment(), timeout_s=120, poll_s=30, sleep=clock.sleep,
        clock=clock, progress=progress,
    )  # fmt: skip
    assert outcome.status == "no_run_yet" and outcome.runs == []
    assert outcome.waited_s == 120 and sum(clock.slept) == 120
    assert [done for done, _, _ in seen] == [0, 30, 60, 90]
    assert all(total == 120 and "0 of 1 new runs" in message for _, total, message in seen)


async def test_a_paused_flow_never_runs_and_says_so(
    app: Any, client: NexlaClient, clock: SimClock
) -> None:
    flow_id = await _flow(app, "paused")
    outcome = await watch_runs(
        client, flow_id, since=clock.moment(), timeout_s=3600, poll_s=900, sleep=clock.sleep,
        clock=clock,
    )  # fmt: skip
    assert outcome.status == "no_run_yet" and outcome.flow_status == "PAUSED"


async def test_waiting_for_two_runs_needs_both_to_succeed(
    app: Any, client: NexlaClient, clock: SimClock
) -> None:
    flow_id, since = await _flow(app, "healthy"), clock.moment()
    outcome = await watch_runs(
        client, flow_id, since=since, runs=2, timeout_s=8 * 3600, poll_s=600,
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert outcome.status == "recovered" and len(outcome.runs) == 2
    assert outcome.runs[0].run_id < outcome.runs[1].run_id


async def test_an_unknown_flow_fails_before_waiting(client: NexlaClient, clock: SimClock) -> None:
    with pytest.raises(NotFoundError):
        await watch_runs(client, 99999999, since=clock.moment(), timeout_s=60, sleep=clock.sleep)
    assert clock.slept == []
