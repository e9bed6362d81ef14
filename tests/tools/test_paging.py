from __future__ import annotations

from collections.abc import Sequence

import pytest

from nexla_mcp.errors import ValidationError
from nexla_mcp.tools._paging import decode_cursor, encode_cursor, scan

pytestmark = pytest.mark.anyio


class Upstream:
    """A page-numbered list of ``size`` integers that counts the pages it served."""

    def __init__(self, size: int, *, report_total: bool = True) -> None:
        self.rows = list(range(size))
        self.report_total = report_total
        self.pages: list[int] = []

    async def fetch(self, page: int, per_page: int) -> tuple[Sequence[int], int | None]:
        self.pages.append(page)
        start = (page - 1) * per_page
        return self.rows[start : start + per_page], len(self.rows) if self.report_total else None


async def keep_even(rows: list[int]) -> list[bool]:
    return [row % 2 == 0 for row in rows]


async def test_unfiltered_scan_returns_a_page_and_where_to_resume() -> None:
    """Ten rows from offset 95 span two upstream pages; the next offset is 105."""
    upstream = Upstream(250)
    found = await scan(upstream.fetch, offset=95, limit=10)
    assert found.items == list(range(95, 105))
    assert found.next_offset == 105 and upstream.pages == [1, 2]
    assert found.upstream_total == 250 and found.total is None


async def test_filtered_scan_from_the_start_to_the_end_knows_the_total() -> None:
    """Reading everything from offset 0 makes the match count exact."""
    found = await scan(Upstream(30).fetch, offset=0, limit=100, decide=keep_even)
    assert found.items == list(range(0, 30, 2))
    assert found.next_offset is None and found.total == 15 and found.examined == 30


async def test_the_examination_budget_bounds_the_work_and_resumes_exactly() -> None:
    """With a budget of 50 rows, a sparse filter stops early; resuming continues from row 50."""

    async def keep_multiples_of_40(rows: list[int]) -> list[bool]:
        return [row % 40 == 0 for row in rows]

    upstream = Upstream(1000)
    first = await scan(
        upstream.fetch, offset=0, limit=5, decide=keep_multiples_of_40, max_examined=50
    )
    assert first.items == [0, 40] and first.examined == 50 and first.next_offset == 50
    second = await scan(
        upstream.fetch, offset=50, limit=5, decide=keep_multiples_of_40, max_examined=50
    )
    assert second.items == [80] and second.next_offset == 100


async def test_decisions_are_made_in_small_chunks() -> None:
    """A page that fills early does not pay for deciding on rows it will not return."""
    decided: list[int] = []

    async def record(rows: list[int]) -> list[bool]:
        decided.extend(rows)
        return [True] * len(rows)

    await scan(Upstream(500).fetch, offset=0, limit=3, decide=record)
    assert len(decided) == 16


async def test_a_short_page_ends_the_scan_even_without_a_total() -> None:
    """Upstreams that send no total still end on a short page."""
    upstream = Upstream(120, report_total=False)
    found = await scan(upstream.fetch, offset=0, limit=500)
    assert len(found.items) == 120 and found.next_offset is None and upstream.pages == [1, 2]


async def test_an_offset_past_the_end_finds_nothing() -> None:
    """Stale cursors past the end return an empty, final page."""
    found = await scan(Upstream(10).fetch, offset=500, limit=5)
    assert found.items == [] and found.next_offset is None


def test_cursors_round_trip_with_their_pin() -> None:
    """A cursor carries its offset and optional pinned value back to the same call."""
    filters = {"status": "ACTIVE", "limit_unused": None}
    cursor = encode_cursor("list_flows", filters, 40, pin=17)
    assert decode_cursor("list_flows", filters, cursor) == (40, 17)
    assert decode_cursor("list_flows", filters, None) == (0, None)


@pytest.mark.parametrize(
    ("tool", "filters"),
    [("list_resources", {"status": "ACTIVE"}), ("list_flows", {"status": "PAUSED"})],
)
def test_cursors_are_bound_to_their_tool_and_filters(tool: str, filters: dict[str, str]) -> None:
    """Replaying a cursor with another tool or other filters is refused."""
    cursor = encode_cursor("list_flows", {"status": "ACTIVE"}, 10)
    with pytest.raises(ValidationError):
        decode_cursor(tool, filters, cursor)


@pytest.mark.parametrize("cursor", ["", "!!!", "eyJvIjotMSwiZiI6IngifQ", "bnVsbA"])
def test_malformed_cursors_are_refused(cursor: str) -> None:
    """Garbage, negative offsets and non-objects are validation errors."""
    with pytest.raises(ValidationError):
        decode_cursor("list_flows", {}, cursor)
