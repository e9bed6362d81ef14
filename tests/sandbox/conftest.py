"""Fixtures for the sandbox tests: a movable clock, a fresh app or seeded store, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.scenarios import build_seed
from nexla_mcp.sandbox.store import Store

# 2025-03-04T10:00:00Z, a fixed "now" so every run is reproducible.
START = 1_741_082_400.0
NOW_MS = int(START * 1000)
BASE_URL = "http://sandbox.test"
HOUR = 3600.0


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    return create_app(clock=clock)


@pytest.fixture
def store() -> Store:
    """The seeded org at START, built straight into a store (no app, no HTTP)."""
    seeded = Store(NOW_MS)
    build_seed(seeded)
    return seeded


async def login(client: httpx.AsyncClient, key: str = DEFAULT_SERVICE_KEY) -> str:
    reply = await client.post("/token", headers={"Authorization": f"Basic {key}"})
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


@pytest.fixture
async def anonymous(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials, for auth and control-API tests."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        yield client


async def authorize(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Log in and make the client send the fresh Bearer token and the SDK's Accept header."""
    token = await login(client)
    client.headers.update(
        {"Authorization": f"Bearer {token}", "Accept": "application/vnd.nexla.api.v1+json"}
    )
    return client


@pytest.fixture
async def api(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client holding a valid Bearer token."""
    return await authorize(anonymous)


async def scenarios(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    reply = await client.get("/_sandbox/scenarios")
    assert reply.status_code == 200
    return reply.json()["scenarios"]


async def scenario(client: httpx.AsyncClient, kind: str) -> dict[str, Any]:
    return next(row for row in await scenarios(client) if row["kind"] == kind)
