"""The client against the sandbox's own faults (token expiry, 429, 5xx, drops, latency) and the
end-to-end proof that no secret leaks into errors, logs, models or reprs."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from nexla_mcp.errors import (
    AmbiguousWriteError,
    CircuitOpenError,
    CredentialError,
    NetworkError,
    NexlaError,
    RateLimitError,
    RetryBudgetExhaustedError,
    ServerError,
    UpstreamTimeoutError,
)
from nexla_mcp.nexla import NexlaClient, RetryPolicy
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, PLANTED_SECRETS, create_app

from .conftest import FakeTime

pytestmark = pytest.mark.anyio

SANDBOX_URL = "http://sandbox.test"
HEALTHY_FLOW = 9001
INCIDENT_FLOWS = {
    "credential_expired": 9015,
    "permission_denied": 9018,
    "rate_limited": 9029,
    "network_timeout": 9032,
}


class SandboxClock:
    """The sandbox's wall clock, movable by tests (token expiry is judged on it)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sandbox_clock() -> SandboxClock:
    return SandboxClock()


@pytest.fixture
def app(sandbox_clock: SandboxClock) -> Starlette:
    return create_app(clock=sandbox_clock)


@pytest.fixture
async def control(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client for the sandbox's /_sandbox control API."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL
    ) as http:
        yield http


def sandbox_client(app: Starlette, fake_time: FakeTime, **kwargs: Any) -> NexlaClient:
    kwargs.setdefault("sleep", fake_time.sleep)
    return NexlaClient(
        api_url=SANDBOX_URL,
        service_key=DEFAULT_SERVICE_KEY,
        transport=httpx.ASGITransport(app=app),
        clock=fake_time.clock,
        rng=random.Random(1),
        **kwargs,
    )


async def set_faults(control: httpx.AsyncClient, **faults: Any) -> None:
    reply = await control.post("/_sandbox/faults", json=faults)
    assert reply.status_code == 200, reply.text


async def test_token_expiry_mid_session_renews_once_for_many_concurrent_calls(
    app: Starlette, control: httpx.AsyncClient, sandbox_clock: SandboxClock, fake_time: FakeTime
) -> None:
    """With tokens capped at 60 s and the sandbox clock moved past it, 10 calls share 1 renewal."""
    async with sandbox_client(app, fake_time) as client:
        await client.get_flow(HEALTHY_FLOW)
        await set_faults(control, token_ttl_s=60)
        sandbox_clock.now += 61
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(client.get_flow, HEALTHY_FLOW)
        assert client.token_renewals == 2


async def test_sandbox_rate_limit_is_retried_after_retry_after_then_reported(
    app: Starlette, control: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A permanent 429 with Retry-After: 1 sleeps 1 s twice, then raises with retry_after."""
    await set_faults(control, rate_limit_rate=1.0, retry_after_s=1, paths=["/flows"])
    async with sandbox_client(app, fake_time) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.get_flow(HEALTHY_FLOW)
    assert fake_time.sleeps == [1.0, 1.0]
    assert caught.value.retry_after == 1.0


async def test_sandbox_5xx_burst_is_retried_then_surfaces_status(
    app: Starlette, control: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A 502 burst on every attempt ends in ServerError(502) after three attempts."""
    await set_faults(control, error_rate=1.0, error_status=502, paths=["/flows"])
    async with sandbox_client(app, fake_time) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_flows()
    assert caught.value.status_code == 502 and len(fake_time.sleeps) == 2


async def test_sandbox_dropped_connections_retry_reads_and_flag_writes_ambiguous(
    app: Starlette, control: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """Drops are retried on GET; a dropped PUT is reported as ambiguous and not retried."""
    await set_faults(control, drop_rate=1.0, paths=["/flows"])
    async with sandbox_client(app, fake_time) as client:
        with pytest.raises(NetworkError) as read_error:
            await client.get_flow(HEALTHY_FLOW)
        assert not isinstance(read_error.value, AmbiguousWriteError)
        assert len(fake_time.sleeps) == 2
        with pytest.raises(AmbiguousWriteError) as write_error:
            await client.pause_flow(HEALTHY_FLOW, all=True)
        assert write_error.value.outcome_unknown
        assert len(fake_time.sleeps) == 2, "the write was not retried"


async def test_sandbox_latency_beyond_the_deadline_times_out(
    app: Starlette, control: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """A 2 s injected latency under a 0.2 s deadline raises UpstreamTimeoutError promptly."""
    await set_faults(control, latency_ms=2000, paths=["/flows"])
    started = time.monotonic()
    async with sandbox_client(app, fake_time, policy=RetryPolicy(deadline_s=0.2)) as client:
        with pytest.raises(UpstreamTimeoutError):
            await client.get_flow(HEALTHY_FLOW)
    assert time.monotonic() - started < 1.5


async def test_no_secret_reaches_errors_logs_models_or_reprs(
    app: Starlette,
    control: httpx.AsyncClient,
    fake_time: FakeTime,
    sandbox_clock: SandboxClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Service key, session tokens and every planted secret stay out of everything we emit."""

    async def sleep(seconds: float) -> None:  # waiting for tasks moves both clocks
        sandbox_clock.now += seconds
        await fake_time.sleep(seconds)

    outputs: list[str] = []
    errors: list[NexlaError] = []
    week_ago = datetime.now(UTC) - timedelta(days=7)
    with caplog.at_level(logging.DEBUG):
        async with sandbox_client(app, fake_time, sleep=sleep) as client:
            for flow_id in INCIDENT_FLOWS.values():
                document = await client.get_flow(flow_id)
                source_id = document.resource_ids()["data_sources"][0]
                run_id = document.flows[0].last_run_id
                assert run_id is not None
                logs = await client.get_flow_logs(
                    "data_sources", source_id, run_id=run_id, from_ts=week_ago
                )
                outputs += [document.model_dump_json(), logs.model_dump_json()]
                outputs.append(json.dumps(await client.get_run_status(flow_id)))
                outputs.append(
                    (
                        await client.get_flow_logs_by_flow(flow_id, from_ts=week_ago)
                    ).model_dump_json()
                )
                credential_id = document.data_sources[0].credential_id
                assert credential_id is not None
                try:
                    outputs.append((await client.probe_credential(credential_id)).model_dump_json())
                except CredentialError as exc:
                    errors.append(exc)
                task = await client.create_async_task(
                    "CallProbe", {"type": "DataCredentials", "id": credential_id}
                )
                done = await client.wait_for_async_task(task.id, timeout=60, poll_interval=0.5)
                outputs.append(done.model_dump_json())
                outputs.append((await client.get_async_task_result(task.id)).model_dump_json())
            outputs.append((await client.list_notifications()).model_dump_json())
            outputs.append((await client.list_credentials(expand=True)).model_dump_json())
            raw = json.dumps(await client._json("GET", "/flows/9015/run_status/latest"))
            assert any(secret in raw for secret in PLANTED_SECRETS), "the sandbox does plant them"
            await set_faults(control, error_rate=1.0, error_status=500, paths=["/flows"])
            for call in (client.get_flow(HEALTHY_FLOW), client.pause_flow(HEALTHY_FLOW)):
                with pytest.raises(NexlaError) as caught:
                    await call
                errors.append(caught.value)
            session_token = client._transport.tokens.current_token
            outputs.append(repr(client))
    assert errors, "the scenario produced errors to inspect"
    for error in errors:
        outputs += [str(error), repr(error), json.dumps(error.get_error_summary(), default=str)]
    outputs.append(caplog.text)
    haystack = "\n".join(outputs)
    assert session_token and session_token not in haystack
    for secret in (DEFAULT_SERVICE_KEY, *PLANTED_SECRETS):
        assert secret not in haystack, f"leaked: {secret[:6]}…"


def counted_client(app: Starlette, fake_time: FakeTime, sent: list[str]) -> NexlaClient:
    """A client on the sandbox that records the path of every request it sends."""

    async def record(request: httpx.Request) -> None:
        sent.append(request.url.path)

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             event_hooks={"request": [record]})  # fmt: skip
    return NexlaClient(
        api_url=SANDBOX_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http,
        sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1),
    )  # fmt: skip


async def test_a_429_storm_is_met_with_fewer_attempts_not_three_times_the_load(
    app: Starlette, control: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """The sandbox throttles every flow read: 30 calls send 50 requests (the budget pays 20
    throttled retries, then each call makes one attempt), not 90."""
    await set_faults(control, rate_limit_rate=1.0, retry_after_s=0, paths=["/flows"])
    sent: list[str] = []
    async with counted_client(app, fake_time, sent) as client:
        for _ in range(30):
            with pytest.raises((RateLimitError, RetryBudgetExhaustedError)):
                await client.get_flow(HEALTHY_FLOW)
    assert len([path for path in sent if path.startswith("/flows")]) == 50


async def test_one_failing_flow_path_leaves_the_other_endpoints_working(
    app: Starlette, control: httpx.AsyncClient, fake_time: FakeTime
) -> None:
    """503s on one flow's path open the breaker of GET /flows/{id}; listing flows, listing
    sources and probing a credential still reach the sandbox and answer."""
    scenarios = (await control.get("/_sandbox/scenarios")).json()["scenarios"]
    healthy = next(row for row in scenarios if row["flow_id"] == HEALTHY_FLOW)
    await set_faults(control, error_rate=1.0, error_status=503, paths=[f"/flows/{HEALTHY_FLOW}"])
    sent: list[str] = []
    async with counted_client(app, fake_time, sent) as client:
        with pytest.raises(ServerError):
            await client.get_flow(HEALTHY_FLOW)
        with pytest.raises(CircuitOpenError):
            await client.get_flow(HEALTHY_FLOW)
        failed = len(sent)
        assert (await client.list_flows()).flows
        assert (await client.list_sources(per_page=1)).items
        probe = await client.probe_credential(healthy["data_credentials_id"])
    credential = healthy["data_credentials_id"]
    assert [path for path in sent[failed:] if not path.startswith("/token")] == [
        "/flows",
        "/data_sources",
        f"/data_credentials/{credential}/probe",
    ]
    assert probe.ok
