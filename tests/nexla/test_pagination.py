"""Tests for the guarded paginator (§A4 rows 21, 22)."""

from __future__ import annotations

import pytest

from nexla_mcp.nexla.pagination import PageResult, Paginator

pytestmark = pytest.mark.anyio


def pages_of(total: int, *, ignore_page: bool = False, report_total: bool = True):
    """A fetcher over ints 1..total; ``ignore_page`` mimics a server that always sends page 1."""
    calls: list[int] = []

    async def fetch(page: int, per_page: int) -> PageResult[int]:
        calls.append(page)
        start = 0 if ignore_page else (page - 1) * per_page
        items = list(range(start + 1, min(start + per_page, total) + 1))
        return PageResult(items=items, total=total if report_total else None)

    return fetch, calls


async def test_short_last_page_ends_iteration_without_truncation() -> None:
    """All items are yielded and the short final page ends the walk."""
    fetch, calls = pages_of(25, report_total=False)
    paginator = Paginator(fetch, per_page=10, key=lambda i: i)
    assert await paginator.collect() == list(range(1, 26))
    assert (paginator.stop_reason, paginator.truncated, calls) == ("short_page", False, [1, 2, 3])


async def test_total_reached_stops_before_fetching_an_empty_page() -> None:
    """When X-Total-Count is met exactly at a page boundary, no extra request is made."""
    fetch, calls = pages_of(20)
    paginator = Paginator(fetch, per_page=10, key=lambda i: i)
    assert len(await paginator.collect()) == 20
    assert (paginator.stop_reason, calls) == ("total_reached", [1, 2])


async def test_empty_page_ends_iteration() -> None:
    """An empty first page yields nothing and is not truncation."""
    fetch, _ = pages_of(0, report_total=False)
    paginator = Paginator(fetch, per_page=10)
    assert await paginator.collect() == []
    assert (paginator.stop_reason, paginator.truncated) == ("empty_page", False)


async def test_repeated_page_is_detected_and_reported_as_truncated() -> None:
    """Row 21: a server that ignores ``page`` is caught on the second identical page."""
    fetch, calls = pages_of(1000, ignore_page=True, report_total=False)
    paginator = Paginator(fetch, per_page=10, max_pages=50, key=lambda i: i)
    items = await paginator.collect()
    assert items == list(range(1, 11))
    assert (paginator.stop_reason, paginator.truncated, calls) == ("repeated_page", True, [1, 2])


async def test_max_pages_guard_stops_a_huge_listing_with_a_resume_point() -> None:
    """Row 22: 10,000 pages are not walked; the guard stops and says where to resume."""
    fetch, calls = pages_of(100_000)
    paginator = Paginator(fetch, per_page=10, max_pages=3, max_items=None, key=lambda i: i)
    assert len(await paginator.collect()) == 30
    assert (paginator.stop_reason, paginator.truncated, paginator.next_page) == (
        "max_pages",
        True,
        4,
    )
    assert calls == [1, 2, 3]


async def test_max_items_guard_stops_mid_page() -> None:
    """The item cap stops inside a page and reports truncation."""
    fetch, _ = pages_of(100)
    paginator = Paginator(fetch, per_page=10, max_items=15, key=lambda i: i)
    assert await paginator.collect() == list(range(1, 16))
    assert (paginator.stop_reason, paginator.truncated, paginator.items_yielded) == (
        "max_items",
        True,
        15,
    )


def test_invalid_guards_are_rejected() -> None:
    """Zero or negative sizes are a programming error."""
    with pytest.raises(ValueError):
        Paginator(pages_of(1)[0], per_page=0)


async def test_resuming_on_a_later_page_still_stops_when_the_total_is_reached() -> None:
    """Starting at page 2 of 2, the items before the start count toward X-Total-Count."""
    fetch, calls = pages_of(20)
    paginator = Paginator(fetch, per_page=10, key=lambda i: i, first_page=2)
    assert await paginator.collect() == list(range(11, 21))
    assert (paginator.stop_reason, paginator.truncated, calls) == ("total_reached", False, [2])
