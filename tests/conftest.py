"""Fixtures every test shares: the async backend, a clean environment, fresh host guards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nexla_mcp.nexla import reset_host_guards
from tests.postgres_server import fresh_database, postgres_server


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
def private_state_dir(
    clean_nexla_environ: None, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Each test's servers keep their state (nonces, rate windows, audit chain) in a directory
    of its own, never in the developer's ~/.local/state."""
    monkeypatch.setenv("NEXLA_MCP_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def fresh_host_guards() -> Iterator[None]:
    """Retry budgets and circuit breakers are per process, per host; no test inherits another's."""
    reset_host_guards()
    yield
    reset_host_guards()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """One PostgreSQL server for the whole session (see ``tests/postgres_server.py``)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres: str) -> Iterator[str]:
    """A fresh database on the session's server, for one test."""
    with fresh_database(postgres) as url:
        yield url
