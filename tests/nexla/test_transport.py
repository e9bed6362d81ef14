"""Fault-matrix tests for the transport (§A4): retries, Retry-After, budget, breaker, deadlines.

The HTTP boundary is faked with httpx.MockTransport because these faults (exact status
sequences, dropped connections, timeouts mid-request) are what the mock is for.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anyio
import httpx
import pytest

from nexla_mcp.errors import (
    AmbiguousWriteError,
    AuthorizationError,
    CircuitOpenError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    RetryBudgetExhaustedError,
    ServerError,
    UpstreamTimeoutError,
)
from nexla_mcp.nexla import RetryPolicy
from nexla_mcp.nexla.reliability import BreakerState

from .conftest import FakeNexla, FakeTime, expected_backoffs, make_client

pytestmark = pytest.mark.anyio

OK_FLOWS = httpx.Response(200, json={"flows": [{"id": 1, "origin_node_id": 1}]})


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"status": code, "message": f"status {code}"}, headers=headers)


async def test_429_with_retry_after_seconds_sleeps_that_long_then_succeeds(
    fake_time: FakeTime,
) -> None:
    """Row 1: Retry-After: 2 on a GET sleeps 2 s (the injected sleep), retries once, succeeds."""
    nexla = FakeNexla([status(429, **{"Retry-After": "2"}), OK_FLOWS])
    async with make_client(nexla, fake_time) as client:
        document = await client.get_flow(1)
    assert document.flows[0].id == 1
    assert fake_time.sleeps == [2.0]
    assert len(nexla.requests) == 2


async def test_429_with_retry_after_http_date_is_parsed(fake_time: FakeTime) -> None:
    """Row 2: an HTTP-date Retry-After four seconds ahead sleeps about four seconds."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    nexla = FakeNexla([status(429, **{"Retry-After": when}), OK_FLOWS])
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
    assert len(fake_time.sleeps) == 1
    assert 2.5 <= fake_time.sleeps[0] <= 4.0


async def test_429_with_retry_after_over_the_cap_fails_at_once_with_retry_after(
    fake_time: FakeTime,
) -> None:
    """Row 3: Retry-After: 3600 is not slept; RateLimitError carries retry_after=3600."""
    nexla = FakeNexla([status(429, **{"Retry-After": "3600"})])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.get_flow(1)
    assert caught.value.retry_after == 3600
    assert caught.value.get_error_summary()["status_code"] == 429
    assert fake_time.sleeps == []
    assert len(nexla.requests) == 1


async def test_retry_after_beyond_the_remaining_deadline_is_not_slept(fake_time: FakeTime) -> None:
    """A 25 s Retry-After under a 20 s deadline fails now instead of sleeping into the deadline."""
    nexla = FakeNexla([status(429, **{"Retry-After": "25"})])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(RateLimitError):
            await client.get_flow(1)
    assert fake_time.sleeps == []


@pytest.mark.parametrize("value", ["soon", "-5", "nan", ""])
async def test_garbage_or_negative_retry_after_falls_back_to_backoff(
    fake_time: FakeTime, value: str
) -> None:
    """Row 4: an unparseable Retry-After uses the jittered backoff schedule."""
    nexla = FakeNexla([status(429, **{"Retry-After": value}), OK_FLOWS])
    async with make_client(nexla, fake_time, seed=3) as client:
        await client.get_flow(1)
    assert fake_time.sleeps == expected_backoffs(3, 1)


async def test_429_storm_drains_the_budget_then_fails_fast_and_refills(
    fake_time: FakeTime,
) -> None:
    """Row 5: a throttled retry costs 25 of the 500 tokens, so constant 429s drain the budget
    after 10 calls (3 attempts each); then every call makes one attempt and fails fast. In
    all, 30 calls send 50 requests, where a budget that never drains sent 90."""
    nexla = FakeNexla()
    nexla.default = status(429)
    outcomes: list[type[Exception]] = []
    async with make_client(nexla, fake_time) as client:
        for _ in range(30):
            requests_before, sleeps_before = len(nexla.requests), len(fake_time.sleeps)
            with pytest.raises((RateLimitError, RetryBudgetExhaustedError)) as caught:
                await client.get_flow(1)
            outcomes.append(type(caught.value))
            if isinstance(caught.value, RetryBudgetExhaustedError):
                assert len(nexla.requests) - requests_before == 1
                assert len(fake_time.sleeps) == sleeps_before
        assert outcomes == [RateLimitError] * 10 + [RetryBudgetExhaustedError] * 20
        assert len(nexla.requests) == 50
        assert client._transport.guard.budget.tokens == 0

        nexla.default = OK_FLOWS
        for _ in range(25):
            await client.get_flow(1)
        nexla.default = status(429)
        sleeps_before = len(fake_time.sleeps)
        with pytest.raises(RetryBudgetExhaustedError) as caught:
            await client.get_flow(1)
    assert len(fake_time.sleeps) - sleeps_before == 1, "25 refunded tokens paid for one retry"
    assert caught.value.status_code == 429
    assert isinstance(caught.value.original_error, RateLimitError)


async def test_500_then_200_on_get_is_retried_once(fake_time: FakeTime) -> None:
    """Row 6: a GET that meets one 500 is retried and succeeds."""
    nexla = FakeNexla([status(500), OK_FLOWS])
    async with make_client(nexla, fake_time, seed=11) as client:
        await client.get_flow(1)
    assert len(nexla.requests) == 2
    assert fake_time.sleeps == expected_backoffs(11, 1)


async def test_three_gateway_errors_give_three_attempts_on_the_exact_schedule(
    fake_time: FakeTime,
) -> None:
    """Row 7: 502/503/504 on a GET: three attempts, full-jitter sleeps, then ServerError(504)."""
    nexla = FakeNexla([status(502), status(503), status(504)])
    async with make_client(nexla, fake_time, seed=5) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_flow(1)
    assert caught.value.status_code == 504
    assert caught.value.retryable
    assert len(nexla.requests) == 3
    assert fake_time.sleeps == expected_backoffs(5, 2)
    assert all(0 <= s <= cap for s, cap in zip(fake_time.sleeps, [0.5, 1.0], strict=True))


async def test_500_on_pause_is_not_retried_and_marked_outcome_unknown(fake_time: FakeTime) -> None:
    """Row 8: a write that gets a 500 is not retried; the error says to reconcile."""
    nexla = FakeNexla([status(500)])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(ServerError) as caught:
            await client.pause_flow(1)
    assert caught.value.outcome_unknown
    assert len(nexla.requests) == 1
    assert fake_time.sleeps == []


async def test_connect_error_on_a_write_is_retried_because_it_never_reached_the_server(
    fake_time: FakeTime,
) -> None:
    """Row 9: ConnectError means nothing was sent, so retrying a PUT is safe."""
    nexla = FakeNexla([httpx.ConnectError("refused"), OK_FLOWS])
    async with make_client(nexla, fake_time) as client:
        document = await client.pause_flow(1)
    assert document.flows[0].id == 1
    assert [r.method for r in nexla.requests] == ["PUT", "PUT"]


@pytest.mark.parametrize(
    "fault",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("peer closed"), httpx.ReadError("rst")],
    ids=["read-timeout", "protocol-error", "reset"],
)
async def test_write_that_fails_after_sending_is_ambiguous_and_not_retried(
    fake_time: FakeTime, fault: Exception
) -> None:
    """Rows 10/12: a PUT that may have been applied raises AmbiguousWriteError, sent once."""
    nexla = FakeNexla([fault, OK_FLOWS])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(AmbiguousWriteError) as caught:
            await client.activate_flow(1)
    assert caught.value.outcome_unknown and not caught.value.retryable
    assert len(nexla.requests) == 1


async def test_post_that_timed_out_after_sending_is_not_retried(fake_time: FakeTime) -> None:
    """A create whose reply timed out may exist already: AmbiguousWriteError, one request."""
    nexla = FakeNexla([httpx.ReadTimeout("slow"), httpx.Response(200, json={"id": 9})])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(AmbiguousWriteError):
            await client.create_source({"name": "s", "source_type": "s3"})
    assert [r.method for r in nexla.requests] == ["POST"]
    assert fake_time.sleeps == []


async def test_post_is_retried_on_429_with_retry_after_but_not_on_bare_503(
    fake_time: FakeTime,
) -> None:
    """A write is retried only when the server says it did not process it and when to retry."""
    nexla = FakeNexla([status(429, **{"Retry-After": "1"}), httpx.Response(200, json={"id": 3})])
    async with make_client(nexla, fake_time) as client:
        task = await client.create_async_task("CallProbe", {"id": 1})
        assert task.id == 3
        nexla.script = [status(503), httpx.Response(200, json={"id": 4})]
        with pytest.raises(ServerError):
            await client.create_async_task("CallProbe", {"id": 1})
    assert [r.method for r in nexla.requests] == ["POST", "POST", "POST"]


async def test_connect_timeouts_are_retried_then_raise_upstream_timeout(
    fake_time: FakeTime,
) -> None:
    """Row 11: connect timeouts are retried up to 3 attempts and count toward the breaker."""
    nexla = FakeNexla([httpx.ConnectTimeout("t")] * 3)
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(UpstreamTimeoutError) as caught:
            await client.get_flow(1)
        assert isinstance(caught.value, TimeoutError)
        assert client._transport.guard.breaker_for("/flows/1")._failures == 3
    assert len(nexla.requests) == 3


async def test_dropped_connection_on_get_is_retried(fake_time: FakeTime) -> None:
    """Row 12: a connection reset mid-response on a GET is retried."""
    nexla = FakeNexla([httpx.RemoteProtocolError("incomplete chunked read"), OK_FLOWS])
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
    assert len(nexla.requests) == 2


async def test_truncated_json_is_retried_and_its_sample_is_short_and_redacted(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 13: invalid JSON on a GET is retried; the final error keeps ≤200 redacted chars."""
    body = '{"flows": [{"id": 1, "note": "password=hunter2 ' + "x" * 500
    broken = httpx.Response(200, text=body, headers={"content-type": "application/json"})
    nexla = FakeNexla([broken, broken, broken])
    with caplog.at_level(logging.DEBUG, logger="nexla_mcp.nexla"):
        async with make_client(nexla, fake_time) as client:
            with pytest.raises(InvalidResponseError) as caught:
                await client.get_flow(1)
    assert len(nexla.requests) == 3
    sample = caught.value.get_error_summary()["response"]
    assert len(sample) <= 200 and "hunter2" not in sample
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize("code", [200, 502])
async def test_html_error_page_never_surfaces_as_html(fake_time: FakeTime, code: int) -> None:
    """Row 14: an HTML page from a proxy becomes an error with a short, tag-free sample."""
    page = "<html><head><title>Bad Gateway</title></head><body><h1>502</h1>" + "z" * 400
    html = httpx.Response(code, text=page, headers={"content-type": "text/html"})
    nexla = FakeNexla([html, html, html])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_flow(1)
    rendered = json.dumps(caught.value.get_error_summary()) + str(caught.value)
    assert "<html" not in rendered and "<h1>" not in rendered
    assert caught.value.status_code == code


async def test_slow_drip_is_cut_by_the_total_deadline() -> None:
    """Row 15: a reply slower than the call deadline raises UpstreamTimeoutError on time."""

    async def drip(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return OK_FLOWS

    nexla = FakeNexla([drip])
    policy = RetryPolicy(deadline_s=0.2)
    started = time.monotonic()
    async with make_client(nexla, FakeTime(), policy=policy) as client:
        with pytest.raises(UpstreamTimeoutError) as caught:
            await client.get_flow(1)
    assert time.monotonic() - started < 2
    assert caught.value.details["deadline_s"] == 0.2


async def test_deadline_during_a_write_in_flight_is_ambiguous() -> None:
    """A write cut by the deadline while in flight may have been applied: AmbiguousWriteError."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return OK_FLOWS

    nexla = FakeNexla([hang])
    async with make_client(nexla, FakeTime(), policy=RetryPolicy(deadline_s=0.2)) as client:
        with pytest.raises(AmbiguousWriteError):
            await client.pause_flow(1)


async def test_slow_but_valid_reply_within_the_deadline_succeeds(fake_time: FakeTime) -> None:
    """Row 16: latency under the deadline is fine."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.05)
        return OK_FLOWS

    async with make_client(FakeNexla([slow]), fake_time) as client:
        assert (await client.get_flow(1)).flows


async def test_oversized_and_gzip_bomb_responses_are_aborted(fake_time: FakeTime) -> None:
    """Row 23: bodies over 5 MB decoded (even if small on the wire) are refused, not retried."""
    huge = json.dumps({"flows": [], "pad": "x" * (6 * 1024 * 1024)}).encode()
    bomb = httpx.Response(
        200,
        content=gzip.compress(huge),
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )
    nexla = FakeNexla([bomb, httpx.Response(200, content=huge)])
    async with make_client(nexla, fake_time) as client:
        for _ in range(2):
            with pytest.raises(InvalidResponseError) as caught:
                await client.get_flow(1)
            assert caught.value.details["limit_bytes"] == 5 * 1024 * 1024
    assert len(nexla.requests) == 2


async def test_non_utf8_body_is_an_invalid_response_not_a_crash(fake_time: FakeTime) -> None:
    """Row 25: undecodable bytes become InvalidResponseError."""
    bad = httpx.Response(
        200, content=b"\xff\xfe{\x00", headers={"content-type": "application/json"}
    )
    async with make_client(FakeNexla([bad] * 3), fake_time) as client:
        with pytest.raises(InvalidResponseError):
            await client.get_flow(1)


async def test_breaker_opens_after_five_failures_fails_fast_then_half_opens(
    fake_time: FakeTime,
) -> None:
    """Row 26: 5 consecutive 5xx open the breaker; calls then fail without I/O until 30 s pass."""
    nexla = FakeNexla()
    nexla.default = status(503)
    async with make_client(nexla, fake_time) as client:
        breaker = client._transport.guard.breaker_for("/flows/1")
        with pytest.raises(ServerError):
            await client.get_flow(1)
        with pytest.raises(CircuitOpenError):
            await client.get_flow(1)
        assert len(nexla.requests) == 5
        assert breaker.state is BreakerState.OPEN

        started = time.perf_counter()
        with pytest.raises(CircuitOpenError) as caught:
            await client.get_flow(1)
        assert time.perf_counter() - started < 0.005
        assert len(nexla.requests) == 5
        assert caught.value.retryable and 0 < (caught.value.retry_after or 0) <= 30

        fake_time.now += 30
        nexla.default = OK_FLOWS
        await client.get_flow(1)
        assert breaker.state is BreakerState.CLOSED


async def test_one_failing_endpoint_opens_only_its_own_breaker(fake_time: FakeTime) -> None:
    """Five 503s on one flow's path open the breaker of /flows/{id} only: the flow list and a
    credential probe still go out and answer, and the open breaker names the endpoint."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/flows/7"):
            return status(503)
        if request.url.path.endswith("/flows"):
            return httpx.Response(200, json=[])
        return httpx.Response(200, json={"status": "ok", "message": "Ok"})

    nexla = FakeNexla()
    nexla.default = answer
    async with make_client(nexla, fake_time) as client:
        for error in (ServerError, CircuitOpenError):
            with pytest.raises(error) as caught:
                await client.get_flow(7)
        sent = len(nexla.requests)
        assert "/flows/{id}" in caught.value.message
        await client.list_flows()
        assert (await client.probe_credential(3)).ok
    assert len(nexla.requests) == sent + 2


async def test_half_open_trial_failure_reopens_the_breaker(fake_time: FakeTime) -> None:
    """A failed trial call re-opens the breaker for another full pause."""
    nexla = FakeNexla()
    nexla.default = status(503)
    policy = RetryPolicy(max_attempts=1)
    async with make_client(nexla, fake_time, policy=policy) as client:
        for _ in range(5):
            with pytest.raises(ServerError):
                await client.get_flow(1)
        fake_time.now += 30
        with pytest.raises(ServerError):
            await client.get_flow(1)
        with pytest.raises(CircuitOpenError):
            await client.get_flow(1)
    assert len(nexla.requests) == 6


async def test_4xx_does_not_count_toward_the_breaker(fake_time: FakeTime) -> None:
    """404s prove the host is up: they never open the breaker."""
    nexla = FakeNexla()
    nexla.default = status(404)
    async with make_client(nexla, fake_time) as client:
        for _ in range(8):
            with pytest.raises(NotFoundError):
                await client.get_flow(1)
        assert client._transport.guard.breaker_for("/flows/1").state is BreakerState.CLOSED


async def test_cancellation_during_a_retry_sleep_stops_at_once() -> None:
    """Row 27: cancelling the caller interrupts the backoff sleep; no further attempt is made."""
    nexla = FakeNexla([status(503, **{"Retry-After": "10"}), OK_FLOWS])
    client = make_client(nexla, FakeTime())
    client._transport._sleep = anyio.sleep  # a real sleep, so there is something to cancel
    started = time.monotonic()
    async with client:
        with anyio.move_on_after(0.1):
            await client.get_flow(1)
    assert time.monotonic() - started < 2
    assert len(nexla.requests) == 1


@pytest.mark.parametrize(("code", "error"), [(403, AuthorizationError), (404, NotFoundError)])
async def test_403_and_404_are_not_retried(
    fake_time: FakeTime, code: int, error: type[Exception]
) -> None:
    """Row 29: permission and not-found errors fail on the first reply with a hint."""
    nexla = FakeNexla([status(code)])
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(error) as caught:
            await client.get_flow(1)
    assert len(nexla.requests) == 1
    assert caught.value.hint


async def test_redirect_is_not_followed_so_the_token_never_reaches_another_host(
    fake_time: FakeTime,
) -> None:
    """Row 30: a 302 to another host raises; the other host never sees a request."""
    seen_hosts: list[str] = []
    nexla = FakeNexla()

    async def handler(request: httpx.Request) -> httpx.Response:
        seen_hosts.append(request.url.host)
        if request.url.host != "nexla.test":
            return httpx.Response(200, json={"stolen": request.headers.get("authorization")})
        return await nexla(request)

    nexla.default = httpx.Response(302, headers={"Location": "http://evil.test/steal"})
    client = make_client(nexla, fake_time)
    client._http._transport = httpx.MockTransport(handler)
    async with client:
        with pytest.raises(ServerError) as caught:
            await client.get_flow(1)
    assert "evil.test" not in seen_hosts
    assert not caught.value.retryable
    assert "redirect" in caught.value.message


async def test_retries_are_logged_with_attempt_reason_delay_budget_and_breaker(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """Every retry is logged on nexla_mcp.nexla with its structured fields, and no secret."""
    nexla = FakeNexla([status(503), OK_FLOWS])
    with caplog.at_level(logging.WARNING, logger="nexla_mcp.nexla"):
        async with make_client(nexla, fake_time) as client:
            await client.get_flow(1)
    records = [r for r in caplog.records if r.name == "nexla_mcp.nexla"]
    assert len(records) == 1
    record = records[0]
    assert (record.attempt, record.reason, record.breaker) == (1, "ServerError", "closed")
    assert record.delay == fake_time.sleeps[0]
    assert record.budget == 495


async def test_unreachable_host_raises_network_error(fake_time: FakeTime) -> None:
    """Three connect errors give NetworkError (not a timeout) with a connectivity hint."""
    nexla = FakeNexla([httpx.ConnectError("dns")] * 3)
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(NetworkError) as caught:
            await client.get_flow(1)
    assert not isinstance(caught.value, UpstreamTimeoutError)
    assert "NEXLA_API_URL" in (caught.value.hint or "")
