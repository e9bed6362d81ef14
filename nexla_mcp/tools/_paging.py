"""Cursors and filtered scans for the list tools.

Nexla lists are page-numbered and filter on exact values only, while the tools offer filters
such as ``name_contains`` or ``has_recent_errors`` that must be applied here. So a list tool
walks the upstream list from an offset, keeps the rows that match, and stops when it has
``limit`` rows or has examined its budget of rows. The cursor it hands back is that offset,
bound to the tool and its filters: a cursor from another call is refused rather than silently
paging through a different list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from nexla_mcp.errors import ValidationError

__all__ = ["ScanResult", "decode_cursor", "encode_cursor", "scan"]

T = TypeVar("T")

UPSTREAM_PAGE_SIZE = 100
# Keep/skip decisions that need a call per row (recent errors) are made this many rows at a
# time, so a page that fills early does not pay for rows it will not return.
DECISION_CHUNK = 16


def _fingerprint(tool: str, filters: dict[str, Any]) -> str:
    canonical = json.dumps([tool, filters], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(tool: str, filters: dict[str, Any], offset: int, pin: int | None = None) -> str:
    """An opaque cursor that resumes ``tool`` with these ``filters`` at ``offset``.

    ``pin`` keeps a value the first call chose for the caller (the run a log page belongs
    to), so later pages read the same thing even if a newer one appeared meanwhile.
    """
    state: dict[str, Any] = {"o": offset, "f": _fingerprint(tool, filters)}
    if pin is not None:
        state["p"] = pin
    payload = json.dumps(state, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(tool: str, filters: dict[str, Any], cursor: str | None) -> tuple[int, int | None]:
    """The (offset, pin) a cursor stands for; (0, None) without a cursor.

    Raises:
        ValidationError: the cursor is malformed or was issued for other arguments.
    """
    if cursor is None:
        return 0, None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, fingerprint, pin = payload["o"], payload["f"], payload.get("p")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        offset, fingerprint, pin = None, None, None
    if (
        not isinstance(offset, int)
        or offset < 0
        or fingerprint != _fingerprint(tool, filters)
        or not (pin is None or isinstance(pin, int))
    ):
        raise ValidationError(
            f"cursor is not a next_cursor that {tool} issued for these arguments",
            operation="validate_arguments",
            hint=f"Call {tool} again without a cursor, or with the same filters as the call "
            "that returned the cursor.",
        )
    return offset, pin


@dataclass
class ScanResult(Generic[T]):
    """Rows kept by a scan and where it stopped.

    ``next_offset`` is None when the upstream list was read to its end. ``total`` is the number
    of matching rows when it is known exactly (the scan started at the beginning and reached
    the end), else None. ``upstream_total`` is the unfiltered count the server reported.
    ``resume_at[i]`` is the offset just past ``items[i]``: where a caller that shows only the
    first ``i + 1`` items resumes.
    """

    items: list[T] = field(default_factory=list)
    resume_at: list[int] = field(default_factory=list)
    next_offset: int | None = None
    examined: int = 0
    upstream_total: int | None = None
    total: int | None = None


Fetch = Callable[[int, int], Awaitable[tuple[Sequence[T], int | None]]]
Decide = Callable[[list[T]], Awaitable[list[bool]]]


async def scan(
    fetch: Fetch[T],
    *,
    offset: int,
    limit: int,
    decide: Decide[T] | None = None,
    max_examined: int = 1000,
    page_size: int = UPSTREAM_PAGE_SIZE,
) -> ScanResult[T]:
    """Collect up to ``limit`` rows that ``decide`` keeps, starting at ``offset``.

    ``fetch(page, per_page)`` returns one upstream page (1-based) and the upstream total.
    ``decide`` gets a batch of rows and says which to keep (all rows are kept without it).
    At most ``max_examined`` rows are examined, so one call's cost stays bounded however
    large the org is; the caller resumes from ``next_offset``.
    """
    result: ScanResult[T] = ScanResult()
    position = offset
    while result.examined < max_examined:
        page_number, skip = divmod(position, page_size)
        rows, upstream_total = await fetch(page_number + 1, page_size)
        result.upstream_total = upstream_total
        page_rows = list(rows)[skip:]
        if not page_rows:
            position = -1
            break
        budget = max_examined - result.examined
        candidates = page_rows[:budget]
        done = False
        step = DECISION_CHUNK if decide else len(candidates)
        for start in range(0, len(candidates), step):
            chunk = candidates[start : start + step]
            keep = await decide(chunk) if decide else [True] * len(chunk)
            for row, kept in zip(chunk, keep, strict=True):
                result.examined += 1
                position += 1
                if kept:
                    result.items.append(row)
                    result.resume_at.append(position)
                    if len(result.items) == limit:
                        done = True
                        break
            if done:
                break
        if done:
            break
        if len(rows) < page_size:
            position = -1  # a short page is the last one
            break
        if upstream_total is not None and position >= upstream_total:
            position = -1
            break
    reached_end = position == -1 or (
        result.upstream_total is not None and position >= result.upstream_total
    )
    result.next_offset = None if reached_end else position
    if reached_end and offset == 0:
        result.total = len(result.items)
    return result
