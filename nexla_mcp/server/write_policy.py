"""Which flows writes may touch (allow/deny lists) and how fast (a sliding-window limit).

Both are enforced in code, whatever the model was told: the lists narrow the blast radius of a
fooled assistant, the limit stops a bulk run ("pause every flow") after a few changes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["FlowScope", "WriteRateLimiter", "flow_refusal"]


@dataclass(frozen=True)
class FlowScope:
    """The flows a write touches: the flow's origin id and the node id the call named.

    ``origin_id`` is None for a resource outside any flow (a credential).
    """

    origin_id: int | None
    named_ids: frozenset[int] = frozenset()

    @property
    def ids(self) -> frozenset[int]:
        """Every id the allow and deny lists are matched against."""
        return self.named_ids | ({self.origin_id} if self.origin_id is not None else set())


def flow_refusal(scope: FlowScope, allow: Iterable[int], deny: Iterable[int]) -> str | None:
    """Why the lists forbid a write to ``scope``, or None when they permit it.

    A listed flow id matches the flow it names (its origin id, as list_flows shows it) and
    any call that names that node id. Deny wins over allow. With an allow list set, a write
    to something outside every flow is refused: nothing could have allowed it.
    """
    denied = scope.ids & set(deny)
    if denied:
        return f"flow {min(denied)} is on this server's deny list"
    allowed = set(allow)
    if allowed and not scope.ids & allowed:
        if scope.origin_id is None:
            return "writes are limited to listed flows, and this resource belongs to no flow"
        return f"flow {scope.origin_id} is not on this server's allow list"
    return None


class WriteRateLimiter:
    """At most ``limit`` writes in any ``window_s`` seconds, for the whole server.

    ``clock`` returns seconds (monotonic by default); tests move it.
    """

    def __init__(
        self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("the write rate limit needs limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - self.window_s:
            self._recent.popleft()

    def retry_after(self) -> float | None:
        """Seconds until another write is allowed, or None when one is allowed now."""
        with self._lock:
            now = self.clock()
            self._forget_old(now)
            if len(self._recent) < self.limit:
                return None
            return max(0.0, self._recent[0] + self.window_s - now)

    def acquire(self) -> float | None:
        """Count one write now; returns None, or (counting nothing) the seconds to wait."""
        with self._lock:
            now = self.clock()
            self._forget_old(now)
            if len(self._recent) >= self.limit:
                return max(0.0, self._recent[0] + self.window_s - now)
            self._recent.append(now)
            return None
