"""Construction of NexlaClient: timeouts, policy, URL checks, ownership of the HTTP pool."""

from __future__ import annotations

import httpx
import pytest

from nexla_mcp.nexla import NexlaClient, RetryPolicy

from .conftest import API_URL, SERVICE_KEY, FakeNexla, FakeTime, make_client

pytestmark = pytest.mark.anyio


def test_float_timeout_is_the_call_deadline_and_caps_each_phase() -> None:
    """timeout=30 sets a 30 s deadline and leaves the shorter §A2 phase timeouts alone."""
    client = NexlaClient(api_url=API_URL, service_key=SERVICE_KEY, timeout=30)
    assert client.policy.deadline_s == 30
    timeout = client._transport._timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (3, 15, 10, 5)
    short = NexlaClient(api_url=API_URL, service_key=SERVICE_KEY, timeout=2)
    assert short.policy.deadline_s == 2 and short._transport._timeout.read == 2


def test_httpx_timeout_sets_the_phases_and_keeps_the_default_deadline() -> None:
    """An httpx.Timeout is used as is; the deadline stays at 20 s."""
    client = NexlaClient(api_url=API_URL, service_key=SERVICE_KEY, timeout=httpx.Timeout(7.0))
    assert client._transport._timeout.read == 7.0
    assert client.policy.deadline_s == 20


@pytest.mark.parametrize(
    "kwargs",
    [{"api_url": "dataops.nexla.io"}, {"timeout": 0}],
    ids=["url-without-scheme", "zero-timeout"],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, object]) -> None:
    """A URL without scheme or a non-positive timeout is a ValueError."""
    options: dict[str, object] = {"api_url": API_URL, "service_key": SERVICE_KEY, **kwargs}
    with pytest.raises(ValueError):
        NexlaClient(**options)  # type: ignore[arg-type]  # deliberately loose test input


def test_retry_policy_rejects_nonsense() -> None:
    """Zero attempts or a non-positive deadline cannot be configured."""
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(deadline_s=0)


async def test_a_passed_http_client_stays_open_after_close(fake_time: FakeTime) -> None:
    """The caller owns an injected httpx.AsyncClient; aclose leaves it usable."""
    nexla = FakeNexla()
    async with httpx.AsyncClient(transport=httpx.MockTransport(nexla)) as http:
        async with NexlaClient(api_url=API_URL, service_key=SERVICE_KEY, http_client=http) as c:
            await c.get_flow(1)
        assert not http.is_closed


async def test_an_owned_http_client_is_closed_with_the_client(fake_time: FakeTime) -> None:
    """Without an injected client, aclose closes the pool it created."""
    client = make_client(FakeNexla(), fake_time)
    await client.aclose()
    assert client._http.is_closed


def test_client_repr_shows_no_secret() -> None:
    """repr(client) names the URL and the auth mode only."""
    client = NexlaClient(api_url=API_URL, service_key=SERVICE_KEY)
    assert SERVICE_KEY not in repr(client)
    assert "service_key" in repr(client)
