"""A guarded async paginator for page/per_page list endpoints.

Nexla list endpoints are page-numbered (§3.1): an empty or past-the-end page is ``[]`` and
``X-Total-Count`` carries the total. A paginator that trusts the server can loop forever (a
server that ignores ``page`` returns the same page every time) or pull a 10,000-flow org into
one tool call, so this one stops on the first of:

- an empty page, a short page (fewer than ``per_page`` items) or ``total`` reached — the end;
- a page whose item keys equal the previous page's — the server is repeating itself;
- ``max_pages`` pages or ``max_items`` items — the caller's budget.

Afterwards ``truncated`` says whether items may remain, ``stop_reason`` why it stopped and
``next_page`` where to resume.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = ["PageResult", "Paginator", "StopReason"]

T = TypeVar("T")
StopReason = Literal[
    "not_started",
    "empty_page",
    "short_page",
    "total_reached",
    "repeated_page",
    "max_pages",
    "max_items",
]


@dataclass(frozen=True)
class PageResult(Generic[T]):
    """What a page fetcher returns: the page's items and the total when the server says."""

    items: Sequence[T]
    total: int | None = None


class Paginator(Generic[T]):
    """Iterate items across pages with loop and size guards; see the module docstring."""

    def __init__(
        self,
        fetch_page: Callable[[int, int], Awaitable[PageResult[T]]],
        *,
        per_page: int = 100,
        max_pages: int = 10,
        max_items: int | None = 500,
        key: Callable[[T], Hashable] = lambda item: getattr(item, "id", id(item)),
        first_page: int = 1,
    ) -> None:
        if per_page < 1 or max_pages < 1 or (max_items is not None and max_items < 1):
            raise ValueError("per_page, max_pages and max_items must be at least 1")
        self._fetch_page = fetch_page
        self.per_page = per_page
        self.max_pages = max_pages
        self.max_items = max_items
        self._key = key
        self._first_page = first_page
        self.pages_fetched = 0
        self.items_yielded = 0
        self.total: int | None = None
        self.truncated = False
        self.stop_reason: StopReason = "not_started"
        self.next_page: int | None = None

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def collect(self) -> list[T]:
        """All items the guards allow, as a list."""
        return [item async for item in self]

    async def _iterate(self) -> AsyncIterator[T]:
        previous_keys: list[Hashable] | None = None
        page_number = self._first_page
        while True:
            result = await self._fetch_page(page_number, self.per_page)
            self.pages_fetched += 1
            if result.total is not None:
                self.total = result.total
            items = list(result.items)
            keys = [self._key(item) for item in items]
            if not items:
                self._stop("empty_page", truncated=False)
                return
            if keys == previous_keys:
                self._stop("repeated_page", truncated=True, next_page=page_number)
                return
            previous_keys = keys
            for item in items:
                if self.max_items is not None and self.items_yielded >= self.max_items:
                    # Items of this page are left over, so resume on this very page.
                    self._stop("max_items", truncated=True, next_page=page_number)
                    return
                self.items_yielded += 1
                yield item
            if len(items) < self.per_page:
                self._stop("short_page", truncated=False)
                return
            skipped = (self._first_page - 1) * self.per_page
            if self.total is not None and skipped + self.items_yielded >= self.total:
                self._stop("total_reached", truncated=False)
                return
            if self.max_items is not None and self.items_yielded >= self.max_items:
                self._stop("max_items", truncated=True, next_page=page_number + 1)
                return
            if self.pages_fetched >= self.max_pages:
                self._stop("max_pages", truncated=True, next_page=page_number + 1)
                return
            page_number += 1

    def _stop(self, reason: StopReason, *, truncated: bool, next_page: int | None = None) -> None:
        self.stop_reason = reason
        self.truncated = truncated
        self.next_page = next_page if truncated else None
