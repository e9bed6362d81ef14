"""Allow/deny lists of flow ids and the sliding-window write limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexla_mcp.server.write_policy import FlowScope, WriteRateLimiter, flow_refusal
from nexla_mcp.state.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("scope", "allow", "deny", "refused"),
    [
        pytest.param(FlowScope(9001), (), (), False, id="no-lists"),
        pytest.param(FlowScope(9001), (9001,), (), False, id="origin-allowed"),
        pytest.param(FlowScope(9001, frozenset({9003})), (9003,), (), False, id="node-allowed"),
        pytest.param(FlowScope(9005), (9001,), (), True, id="not-on-allow-list"),
        pytest.param(FlowScope(9001), (), (9001,), True, id="origin-denied"),
        pytest.param(FlowScope(9001, frozenset({9003})), (), (9003,), True, id="node-denied"),
        pytest.param(FlowScope(9001), (9001,), (9001,), True, id="deny-wins"),
        pytest.param(FlowScope(None), (), (9001,), False, id="no-flow-no-allow-list"),
        pytest.param(FlowScope(None), (9001,), (), True, id="no-flow-with-allow-list"),
    ],
)
def test_flow_lists_decide_which_writes_may_go_ahead(
    scope: FlowScope, allow: tuple[int, ...], deny: tuple[int, ...], refused: bool
) -> None:
    """Deny wins; an allow list admits only what it names, so nothing outside a flow."""
    assert (flow_refusal(scope, allow, deny) is not None) is refused


class Clock:
    """Seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(state_dir: Path, clock: Clock, limit: int, **options: object) -> WriteRateLimiter:
    return WriteRateLimiter(SQLiteStore(state_dir), limit, 60, clock=clock, **options)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_limit_refuses_writes_beyond_it_until_the_window_moves_on(
    tmp_path: Path,
) -> None:
    """Three writes pass, the fourth waits for the first to leave the window."""
    clock = Clock()
    three = limiter(tmp_path, clock, 3)
    assert [await three.acquire() for _ in range(3)] == [None, None, None]
    clock.now += 10
    assert await three.retry_after() == pytest.approx(50)
    assert await three.acquire() == pytest.approx(50)
    clock.now += 50
    assert await three.retry_after() is None
    assert await three.acquire() is None


@pytest.mark.anyio
async def test_a_refused_write_is_not_counted(tmp_path: Path) -> None:
    """Hammering a full limiter does not push its reopening further out."""
    clock = Clock()
    one = limiter(tmp_path, clock, 1)
    assert await one.acquire() is None
    for _ in range(20):
        assert await one.acquire() is not None
    clock.now += 60
    assert await one.acquire() is None


@pytest.mark.anyio
async def test_limiters_sharing_a_state_directory_share_the_limit(tmp_path: Path) -> None:
    """Two servers (two store connections) on one directory: three writes in all, not each."""
    clock = Clock()
    replicas = [limiter(tmp_path, clock, 3), limiter(tmp_path, clock, 3)]
    waits = [await replicas[n % 2].acquire() for n in range(6)]
    assert waits[:3] == [None, None, None]
    assert all(wait is not None for wait in waits[3:])


@pytest.mark.anyio
async def test_a_principal_has_a_limit_of_its_own_inside_the_server_s(tmp_path: Path) -> None:
    """With two writes per user and six per server: A is stopped at two while B goes on, and
    the server's limit still stops B."""
    clock = Clock()
    both = limiter(tmp_path, clock, 6, per_principal=2)
    assert [await both.acquire("a") for _ in range(3)][2] is not None
    assert [await both.acquire("b") for _ in range(2)] == [None, None]
    assert await both.acquire(None) is None  # no principal: only the server's window
    assert await both.acquire("c") is None
    assert await both.acquire("c") is not None  # the server's six are used up
    assert "2 per user" in both.describe("a") and "per user" not in both.describe(None)


def test_a_limiter_needs_a_positive_limit_and_window(tmp_path: Path) -> None:
    """Misconfiguration fails at construction."""
    store = SQLiteStore(tmp_path)
    for limit, window, per_user in ((0, 60, None), (1, 0, None), (1, 60, 0)):
        with pytest.raises(ValueError):
            WriteRateLimiter(store, limit, window, per_principal=per_user)
