"""Bounded fan-out: run many calls with at most ``limit`` in flight, one outcome per item."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

import anyio

__all__ = ["gather_bounded"]

T = TypeVar("T")


async def gather_bounded(
    calls: Iterable[Awaitable[T] | Callable[[], Awaitable[T]]], limit: int = 8
) -> list[T | Exception]:
    """Await every call with at most ``limit`` running at once; results in input order.

    Each item is an awaitable or a zero-argument async callable (prefer callables: nothing is
    created until a slot is free). An item that raises an ``Exception`` yields that exception in
    its slot instead of a result, so one failure does not sink the rest. Cancellation is not an
    ``Exception``: cancelling the caller cancels every running item and closes the unstarted ones.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    items = list(calls)
    results: list[Any] = [None] * len(items)
    limiter = anyio.CapacityLimiter(limit)
    started = [False] * len(items)

    async def run(index: int) -> None:
        async with limiter:
            started[index] = True
            item = items[index]
            try:
                awaitable = item() if callable(item) and not inspect.isawaitable(item) else item
                results[index] = await cast(Awaitable[Any], awaitable)
            except Exception as exc:  # collected per item by design; see the docstring
                results[index] = exc

    try:
        async with anyio.create_task_group() as group:
            for index in range(len(items)):
                group.start_soon(run, index)
    finally:
        for index, item in enumerate(items):
            if not started[index] and inspect.iscoroutine(item):
                item.close()  # never awaited because we were cancelled: avoid the warning
    return results
