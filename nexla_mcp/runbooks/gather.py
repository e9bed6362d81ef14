"""Run a runbook's upstream calls in parallel, bounded, under one deadline, keeping what arrived.

A runbook makes its calls in a few dependent rounds (the flow first, then its runs, probes and
audit trail together, then the logs of the runs that matter). ``Gatherer`` runs each round with
at most ``concurrency`` calls in flight and stops the whole runbook at its deadline: calls still
running are cancelled, calls not yet started are skipped, and both are listed as missing, so a
slow Nexla yields a partial answer that says what it lacks instead of no answer.

A ``NexlaError`` from a call is a result; any other exception is a bug and propagates. A
``CredentialError`` is the external system's answer to a probe, so it never counts as missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from nexla_mcp.errors import CredentialError, NexlaError
from nexla_mcp.nexla import gather_bounded

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_DEADLINE_S", "CallRecord", "Gatherer"]

# At most this many upstream calls of one runbook in flight at once (see the performance notes,
# reliability-security-performance.md §C3).
DEFAULT_CONCURRENCY = 6
DEFAULT_DEADLINE_S = 45.0


@dataclass(frozen=True)
class CallRecord:
    """What became of one labelled call: ``ok``, ``failed`` (with the error) or ``missing``."""

    call: str
    outcome: str
    error: NexlaError | None = None


@dataclass
class Gatherer:
    """Labelled calls, ``concurrency`` at a time, all under one deadline (see module docstring)."""

    deadline_s: float = DEFAULT_DEADLINE_S
    concurrency: int = DEFAULT_CONCURRENCY
    records: list[CallRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.deadline_s <= 0 or self.concurrency < 1:
            raise ValueError("deadline_s must be positive and concurrency at least 1")
        self._deadline = anyio.current_time() + self.deadline_s
        self._limiter = anyio.CapacityLimiter(self.concurrency)

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        return anyio.current_time() >= self._deadline

    def time_left(self) -> float:
        """Seconds until the deadline (negative once it passed)."""
        return self._deadline - anyio.current_time()

    async def run(
        self, calls: Mapping[str, Callable[[], Awaitable[Any]]]
    ) -> dict[str, Any | NexlaError]:
        """Run the calls of one round; return label -> result or ``NexlaError``.

        Labels missing from the answer did not finish before the deadline.
        """
        results: dict[str, Any] = {}

        async def one(label: str, call: Callable[[], Awaitable[Any]]) -> None:
            async with self._limiter:
                try:
                    results[label] = await call()
                except NexlaError as error:
                    results[label] = error

        pending = {label: (lambda label=label, call=call: one(label, call))
                   for label, call in calls.items()}  # fmt: skip
        with anyio.CancelScope(deadline=self._deadline):
            outcomes = await gather_bounded(pending.values(), limit=len(pending) or 1)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
        for label in calls:
            if label not in results:
                self.records.append(CallRecord(label, "missing"))
            elif isinstance(results[label], NexlaError):
                self.records.append(CallRecord(label, "failed", results[label]))
            else:
                self.records.append(CallRecord(label, "ok"))
        return results

    def skip(self, *labels: str) -> None:
        """Record calls a round would have made had the deadline not passed."""
        self.records.extend(CallRecord(label, "missing") for label in labels)

    def missing(self) -> list[str]:
        """Calls without a usable answer: ``"<call> (deadline)"`` or ``"<call> (<error>)"``."""
        found = []
        for record in self.records:
            if record.outcome == "missing":
                found.append(f"{record.call} (deadline)")
            elif record.error is not None and not isinstance(record.error, CredentialError):
                found.append(f"{record.call} ({type(record.error).__name__})")
        return found
