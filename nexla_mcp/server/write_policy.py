"""Which flows writes may touch (allow/deny lists) and how fast (a sliding-window limit).

Both are enforced in code, whatever the model was told: the lists narrow the blast radius of a
fooled assistant, the limit stops a bulk run ("pause every flow") after a few changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nexla_mcp.state import RateKey, StateStore

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
    """At most ``limit`` writes in any ``window_s`` seconds for the whole server (all replicas
    sharing the state store), and at most ``per_principal`` for any one signed-in principal.

    The windows live in the state store, so the limit holds across processes. ``clock``
    returns epoch seconds (wall time: replicas must agree on it); tests move it.
    """

    def __init__(
        self, store: StateStore, limit: int, window_s: float, *,
        per_principal: int | None = None, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        if limit < 1 or window_s <= 0 or (per_principal is not None and per_principal < 1):
            raise ValueError("the write rate limit needs limit >= 1 and window_s > 0")
        self.store = store
        self.limit = limit
        self.window_s = window_s
        self.per_principal = per_principal
        self.clock = clock

    def _keys(self, principal: str | None) -> list[RateKey]:
        keys = [RateKey("server", self.limit, self.window_s)]
        if principal is not None and self.per_principal is not None:
            keys.append(RateKey(f"principal:{principal}", self.per_principal, self.window_s))
        return keys

    def describe(self, principal: str | None) -> str:
        """The limits that apply to ``principal``, in words."""
        text = f"This server allows {self.limit} writes per {self.window_s:g} s"
        if principal is not None and self.per_principal is not None:
            text += f", {self.per_principal} per user"
        return text

    async def retry_after(self, principal: str | None = None) -> float | None:
        """Seconds until another write is allowed, or None when one is allowed now."""
        return await self.store.write_wait(self._keys(principal), self.clock())

    async def acquire(self, principal: str | None = None) -> float | None:
        """Count one write now; returns None, or (counting nothing) the seconds to wait."""
        return await self.store.take_write_slot(self._keys(principal), self.clock())
