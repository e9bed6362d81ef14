"""Allow/deny lists of flow ids and the sliding-window write limit."""

from __future__ import annotations

import pytest

from nexla_mcp.server.write_policy import FlowScope, WriteRateLimiter, flow_refusal


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


def test_the_limit_refuses_writes_beyond_it_until_the_window_moves_on() -> None:
    """Three writes pass, the fourth waits for the first to leave the window."""
    clock = Clock()
    limiter = WriteRateLimiter(3, 60, clock=clock)
    assert [limiter.acquire() for _ in range(3)] == [None, None, None]
    clock.now += 10
    assert limiter.retry_after() == pytest.approx(50)
    assert limiter.acquire() == pytest.approx(50)
    clock.now += 50
    assert limiter.retry_after() is None
    assert limiter.acquire() is None


def test_a_refused_write_is_not_counted() -> None:
    """Hammering a full limiter does not push its reopening further out."""
    clock = Clock()
    limiter = WriteRateLimiter(1, 60, clock=clock)
    assert limiter.acquire() is None
    for _ in range(20):
        assert limiter.acquire() is not None
    clock.now += 60
    assert limiter.acquire() is None


def test_a_limiter_needs_a_positive_limit_and_window() -> None:
    """Misconfiguration fails at construction."""
    with pytest.raises(ValueError):
        WriteRateLimiter(0, 60)
    with pytest.raises(ValueError):
        WriteRateLimiter(1, 0)
