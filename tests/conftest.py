"""Fixtures every test shares: the async backend, a clean environment, fresh host guards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nexla_mcp.nexla import reset_host_guards


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio."""
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_nexla_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's NEXLA_* variables out of every test."""
    for name in list(os.environ):
        if name.startswith("NEXLA_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def fresh_host_guards() -> Iterator[None]:
    """Retry budgets and circuit breakers are per process, per host; no test inherits another's."""
    reset_host_guards()
    yield
    reset_host_guards()
