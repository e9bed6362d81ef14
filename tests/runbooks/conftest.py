"""Runbooks against the sandbox: a seeded (or generated) Nexla org behind a real ``NexlaClient``.

``org`` is the sandbox's control API (scenarios, injected incidents, faults) and ``client`` a
``NexlaClient`` talking to the same app in process, so what the control API sets up is what
the runbooks meet. Nothing of ours is mocked: only the HTTP boundary is in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from tests.runbooks.sandbox_org import API_URL, Org


@pytest.fixture
def sandbox_app() -> Any:
    """A freshly seeded sandbox."""
    return create_app()


@pytest.fixture
async def http(sandbox_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as client:
        yield client


@pytest.fixture
def org(http: httpx.AsyncClient) -> Org:
    return Org(http)


@pytest.fixture
async def client(http: httpx.AsyncClient) -> AsyncIterator[NexlaClient]:
    """A ``NexlaClient`` on the sandbox (service-key login, as in production)."""
    async with NexlaClient(
        api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http
    ) as nexla:
        yield nexla
