"""What a receipt may claim, and the writes whose outcome is still open.

A receipt says only what was observed. A send that got Nexla's answer and a read-back that
shows the intended state is ``applied``; a clean refusal whose read-back shows nothing moved is
``not_applied``. A send whose answer never came (timed out, connection lost, call cancelled,
a 5xx on a write) proves nothing: Nexla may still be working on it, so when the read-back does
not show the change yet the receipt says ``unknown`` and the write is remembered as unsettled,
in the state store. The next plan of the same change, on any replica sharing the store,
reads the state back and settles it (``applied`` when the change has landed since).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexla_mcp.errors import NexlaError
from nexla_mcp.server.guard import digest_of
from nexla_mcp.state import OpenWrite, StateError, StateStore
from nexla_mcp.tools._writes import Observation, WriteStatus

__all__ = ["CANCELLED_READBACK_S", "Steps", "Unsettled", "UnsettledWrites", "unanswered", "verdict"]

logger = logging.getLogger(__name__)

UNSETTLED_TTL_S = 3600.0

# How long a cancelled confirm may keep reading the state back for its audit record.
CANCELLED_READBACK_S = 10.0


@dataclass
class Steps:
    """What one confirmed write has recorded so far, so a cancellation finishes the record."""

    digest: str
    unanswered: str | None = None
    recorded_execution: bool = False
    recorded_verification: bool = False


def unanswered(error: NexlaError) -> str:
    """Why the send of a write got no usable answer, in a few words."""
    cause = error.details.get("cause") or type(error).__name__
    if "Timeout" in str(cause) or "deadline_s" in error.details:
        return "it timed out"
    if error.status_code is not None:
        return f"HTTP {error.status_code} while handling it"
    return f"the connection was lost ({cause})"


def verdict(
    before: Observation, after: Observation | None, cause: str | None
) -> tuple[WriteStatus, str | None]:
    """The receipt's status and note, from the read-back and why the send went unanswered
    (``cause``, None when Nexla answered)."""
    if after is None:
        return "unknown", "Could not read the state back; check it before acting."
    if not after.changes:
        return "applied", None
    if after.fingerprint != before.fingerprint:
        return "unknown", "Only part of the change is visible; check the state."
    if cause is not None:
        return "unknown", (
            f"Nexla gave no usable answer ({cause}) and the change is not visible "
            "yet; it may still be applied. Plan the same change again later: the plan reads "
            "the state back and says whether it landed."
        )
    return "not_applied", "Nexla did not make the change. Nothing was changed."


Unsettled = OpenWrite
"""A confirmed write whose receipt said ``unknown``."""


class UnsettledWrites:
    """Writes with an unknown outcome, by tool and arguments, kept an hour in the server's
    state store: a later plan of the same change settles them on any replica that shares the
    store, and after a restart."""

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    @staticmethod
    def _key(tool: str, arguments: dict[str, Any]) -> str:
        return f"{tool}:{digest_of(arguments)}"

    async def remember(
        self, tool: str, arguments: dict[str, Any], plan_digest: str, cause: str
    ) -> None:
        """Record that the outcome of this write is not known. The receipt that says so is
        what matters: a store that cannot keep it is logged, not raised."""
        now = self._clock()
        try:
            await self._store.remember_open_write(
                self._key(tool, arguments), OpenWrite(plan_digest, cause, now),
                forget_before=now - UNSETTLED_TTL_S,
            )  # fmt: skip
        except StateError as error:
            logger.warning("cannot remember the unknown outcome of a %s write: %s", tool, error)

    async def get(self, tool: str, arguments: dict[str, Any]) -> Unsettled | None:
        """The open write of this change, if any (forgotten once it is an hour old)."""
        return await self._store.open_write(
            self._key(tool, arguments), self._clock() - UNSETTLED_TTL_S
        )

    async def settle(self, tool: str, arguments: dict[str, Any]) -> bool:
        """Forget the write: its outcome is now known. True only for the one caller (of any
        number, on any replica) that settled it."""
        return await self._store.settle_open_write(self._key(tool, arguments))
