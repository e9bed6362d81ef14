"""Tests for gather_bounded: order, the concurrency cap, per-item errors, cancellation."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from nexla_mcp.nexla.concurrency import gather_bounded

pytestmark = pytest.mark.anyio


async def test_results_keep_input_order_and_errors_stay_in_their_slot() -> None:
    """Each item's result or exception lands at its own index."""

    async def ok(value: int) -> int:
        await anyio.lowlevel.checkpoint()
        return value

    async def boom() -> int:
        raise KeyError("missing")

    results = await gather_bounded([lambda: ok(1), boom, ok(3)], limit=2)
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], KeyError)


async def test_no_more_than_limit_items_run_at_once() -> None:
    """The in-flight count never exceeds the limit."""
    running = peak = 0

    async def tracked() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        running -= 1

    await gather_bounded([tracked for _ in range(20)], limit=3)
    assert peak == 3


async def test_cancelling_the_caller_cancels_running_items_and_closes_unstarted_ones() -> None:
    """Cancellation propagates: nothing keeps running and no coroutine is left un-awaited."""
    finished = 0

    async def slow() -> None:
        nonlocal finished
        await anyio.sleep(10)
        finished += 1

    with anyio.move_on_after(0.05) as scope:
        await gather_bounded([slow() for _ in range(5)], limit=2)
    assert scope.cancelled_caught
    assert finished == 0


async def test_limit_must_be_positive() -> None:
    """A zero limit is rejected."""
    with pytest.raises(ValueError):
        await gather_bounded([], limit=0)
