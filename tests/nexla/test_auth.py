"""Token lifecycle tests (§A4 rows 17–20): renewal on 401, single flight, proactive renewal."""

from __future__ import annotations

import json
import logging

import anyio
import httpx
import pytest

from nexla_mcp.errors import AuthenticationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.nexla.auth import renewal_margin

from .conftest import API_URL, SERVICE_KEY, FakeNexla, FakeTime, make_client

pytestmark = pytest.mark.anyio

OK = httpx.Response(200, json={"flows": []})


async def test_service_key_is_exchanged_with_the_sdk_headers(fake_time: FakeTime) -> None:
    """POST /token carries Basic <raw key>, the SDK Accept header and no body."""
    nexla = FakeNexla()
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
    token_request = nexla.token_requests[0]
    assert token_request.method == "POST"
    assert token_request.headers["authorization"] == f"Basic {SERVICE_KEY}"
    assert token_request.headers["accept"] == "application/vnd.nexla.api.v1+json"
    assert token_request.content == b""
    call = nexla.requests[0]
    assert call.headers["authorization"].startswith("Bearer eyJ")
    assert call.headers["user-agent"].startswith("nexla-mcp/")


async def test_401_mid_session_renews_once_and_retries_the_call(fake_time: FakeTime) -> None:
    """Row 17: a revoked token gives one renewal and one retry of the original call."""
    nexla = FakeNexla()
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
        nexla.revoke_tokens()
        await client.get_flow(1)
        assert client.token_renewals == 2
    assert len(nexla.token_requests) == 2
    assert len(nexla.requests) == 3


async def test_concurrent_401s_share_one_renewal(fake_time: FakeTime) -> None:
    """Row 18: ten concurrent calls that all meet 401 trigger exactly one token request."""
    nexla = FakeNexla()
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
        nexla.revoke_tokens()
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(client.get_flow, 1)
    assert len(nexla.token_requests) == 2
    assert (
        sum(1 for r in nexla.requests if r.headers["authorization"].endswith("issued1.sig")) == 11
    )


async def test_first_concurrent_calls_share_one_login(fake_time: FakeTime) -> None:
    """Ten calls on a fresh client log in once."""
    nexla = FakeNexla()
    async with make_client(nexla, fake_time) as client:
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(client.get_flow, 1)
    assert len(nexla.token_requests) == 1


async def test_rejected_service_key_fails_without_a_loop_or_a_secret(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 19: a 401 from /token raises AuthenticationError once; no secret in any output."""
    nexla = FakeNexla()
    nexla.token_replies = [httpx.Response(401, json={"message": f"bad key {SERVICE_KEY}"})]
    with caplog.at_level(logging.DEBUG):
        async with make_client(nexla, fake_time) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.get_flow(1)
            error = caught.value
            summary = json.dumps(error.get_error_summary())
            rendered = " ".join([str(error), repr(error), summary, repr(client), caplog.text])
    assert len(nexla.token_requests) == 1
    assert nexla.requests == []
    assert SERVICE_KEY not in rendered
    assert "NEXLA_SERVICE_KEY" in (caught.value.hint or "")


async def test_second_401_after_renewal_is_an_authentication_error(fake_time: FakeTime) -> None:
    """A fresh token that is also refused ends in AuthenticationError after one renewal."""
    nexla = FakeNexla([httpx.Response(401), httpx.Response(401)])
    nexla.valid_tokens = _AcceptAll()
    async with make_client(nexla, fake_time) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_flow(1)
    assert caught.value.status_code == 401
    assert len(nexla.token_requests) == 2
    assert len(nexla.requests) == 2


async def test_token_near_expiry_is_renewed_before_the_call(fake_time: FakeTime) -> None:
    """Row 20: with the clock past expiry minus the margin, the client renews proactively."""
    nexla = FakeNexla(expires_in=100)
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
        fake_time.now += 100 - renewal_margin(100) - 1
        await client.get_flow(1)
        assert len(nexla.token_requests) == 1
        fake_time.now += 2
        await client.get_flow(1)
    assert len(nexla.token_requests) == 2
    assert all(r.headers["authorization"] != "" for r in nexla.requests)
    assert len(nexla.requests) == 3, "no 401 round trip was needed"


def test_renewal_margin_is_a_minute_or_a_fifth_of_the_lifetime() -> None:
    """The margin is min(60 s, 20 % of the lifetime), never the SDK's 3600 s."""
    assert renewal_margin(3600) == 60
    assert renewal_margin(100) == 20


async def test_access_token_mode_never_renews_and_hints_at_the_settings(
    fake_time: FakeTime,
) -> None:
    """A 401 with a direct access token is final and says which settings fix it."""
    nexla = FakeNexla()
    async with make_client(
        nexla, fake_time, service_key=None, access_token="direct-token-1"
    ) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_flow(1)
    assert nexla.token_requests == []
    hint = caught.value.hint or ""
    assert "NEXLA_SERVICE_KEY" in hint and "NEXLA_ACCESS_TOKEN" in hint
    assert nexla.logout_requests == [], "access-token mode does not log out"


@pytest.mark.parametrize(
    "credentials",
    [{}, {"service_key": "a-key-123", "access_token": "a-token-123"}],
    ids=["neither", "both"],
)
def test_exactly_one_credential_is_required(credentials: dict[str, str]) -> None:
    """Neither or both credentials raise AuthenticationError with a hint, before any I/O."""
    with pytest.raises(AuthenticationError) as caught:
        NexlaClient(api_url=API_URL, **credentials)
    assert "NEXLA_SERVICE_KEY" in (caught.value.hint or "")


async def test_close_logs_out_best_effort_and_never_raises(fake_time: FakeTime) -> None:
    """aclose posts /token/logout with the bearer token, and a failing logout is swallowed."""
    nexla = FakeNexla()
    async with make_client(nexla, fake_time) as client:
        await client.get_flow(1)
    assert len(nexla.logout_requests) == 1
    assert nexla.logout_requests[0].headers["authorization"].startswith("Bearer ")

    async def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logout"):
            raise httpx.ConnectError("gone")
        return await nexla(request)

    client = make_client(nexla, fake_time)
    client._http._transport = httpx.MockTransport(broken)
    await client.get_flow(1)
    await client.aclose()
    await client.aclose()


class _AcceptAll(set[str]):
    """A token set that accepts every bearer token, so the script decides the replies."""

    def __contains__(self, item: object) -> bool:
        return True
