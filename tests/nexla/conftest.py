"""Fixtures for the Nexla client tests: fake time, a scriptable fake Nexla HTTP boundary, and a
client on the in-process sandbox."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from nexla_mcp.nexla import NexlaClient, RetryPolicy
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app

API_URL = "http://nexla.test/nexla-api"
SERVICE_KEY = "svc-key-for-tests-0001"
SANDBOX_URL = "http://sandbox.test"

Reply = httpx.Response | Exception | Callable[[httpx.Request], Any]


class FakeTime:
    """An injected clock and sleep: sleeping advances the clock instantly and is recorded."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


class FakeNexla:
    """The HTTP boundary: issues tokens on POST /token and answers other calls from a script.

    Script items are consumed in order: a Response, an exception to raise, or a callable taking
    the request. When the script is empty, ``default`` answers. Bearer tokens are checked unless
    ``check_tokens`` is False; ``revoke_tokens()`` makes current tokens answer 401.
    """

    def __init__(self, script: list[Reply] | None = None, *, expires_in: int = 3600) -> None:
        self.script: list[Reply] = list(script or [])
        self.default: Reply = httpx.Response(200, json={})
        self.expires_in = expires_in
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self.logout_requests: list[httpx.Request] = []
        self.valid_tokens: set[str] = set()
        self.issued = 0
        self.token_replies: list[httpx.Response] = []

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/token/logout"):
            self.logout_requests.append(request)
            return httpx.Response(200)
        if path.endswith("/token"):
            self.token_requests.append(request)
            await anyio.lowlevel.checkpoint()
            if self.token_replies:
                return self.token_replies.pop(0)
            self.issued += 1
            token = f"eyJhbGciOiJIUzI1NiJ9.issued{self.issued}.sig"
            self.valid_tokens.add(token)
            return httpx.Response(
                200,
                json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in},
            )
        self.requests.append(request)
        await anyio.lowlevel.checkpoint()
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(401)
        item = self.script.pop(0) if self.script else self.default
        if isinstance(item, Exception):
            raise item
        if callable(item) and not isinstance(item, httpx.Response):
            result = item(request)
            if hasattr(result, "__await__"):
                result = await result
            return result
        return item


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def client() -> AsyncIterator[NexlaClient]:
    """A client on a freshly seeded sandbox, through httpx.ASGITransport (no sockets)."""
    transport = httpx.ASGITransport(app=create_app())
    async with NexlaClient(
        api_url=SANDBOX_URL, service_key=DEFAULT_SERVICE_KEY, transport=transport
    ) as nexla:
        yield nexla


def make_client(
    nexla: FakeNexla,
    fake_time: FakeTime,
    *,
    policy: RetryPolicy | None = None,
    seed: int = 7,
    **kwargs: Any,
) -> NexlaClient:
    """A client on the fake boundary with injected time and a seeded rng."""
    kwargs.setdefault("service_key", SERVICE_KEY)
    return NexlaClient(
        api_url=kwargs.pop("api_url", API_URL),
        transport=httpx.MockTransport(nexla),
        policy=policy,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        rng=random.Random(seed),
        **kwargs,
    )


def expected_backoffs(seed: int, count: int, policy: RetryPolicy | None = None) -> list[float]:
    """The full-jitter delays a client seeded with ``seed`` draws for its first retries."""
    policy = policy or RetryPolicy()
    rng = random.Random(seed)
    return [policy.backoff(n, rng) for n in range(1, count + 1)]
