"""Retry policy, backoff, Retry-After parsing, per-host retry budget, per-endpoint breakers.

The figures come from ``docs/reliability-security-performance.md`` §A2: three attempts, full-jitter
exponential backoff capped at 5 s, Retry-After honoured up to 30 s, a 20 s deadline per call, a
token-bucket retry budget per host (500 / 5 / 10 / 1, after botocore) and a breaker that opens
after 5 consecutive 5xx/timeouts and half-opens after 30 s (after pybreaker).

Two departures from those figures. A retry after a 429 costs 25 tokens, not 5: a throttled API
must see fewer attempts, and at 5 a storm of 30 calls never drained the budget (90 attempts
where 30 were refused); at 25 a full budget pays for 20 throttled retries, then each call
makes one attempt until successes refill it. And there is one breaker per endpoint family
(``/flows/{id}``, ``/data_credentials/{id}/probe``, ...) rather than per host: one failing
path (a flow whose document Nexla cannot render) must not take every tool offline.

These are small pure classes with the clock passed in, so tests can drive them without waiting.
Budget and breaker state is process-wide per host (one registry), because the point of both is
to protect a host from *all* of this process's callers, not from one client object.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx

__all__ = [
    "DEFAULT_TIMEOUT",
    "BreakerState",
    "CircuitBreaker",
    "HostGuard",
    "RetryBudget",
    "RetryPolicy",
    "endpoint_family",
    "guard_for_host",
    "parse_retry_after",
    "reset_host_guards",
]

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=15.0, write=10.0, pool=5.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Every reliability knob in one place; the defaults are the §A2 figures."""

    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 5.0
    max_retry_after_s: float = 30.0
    deadline_s: float = 20.0
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    max_response_bytes: int = 5 * 1024 * 1024
    budget_capacity: int = 500
    retry_cost: int = 5
    timeout_retry_cost: int = 10
    throttle_retry_cost: int = 25
    success_refund: int = 1
    breaker_threshold: int = 5
    breaker_reset_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: ``uniform(0, min(base * 2**(n-1), cap))`` before the n-th retry."""
        ceiling = min(self.backoff_base_s * 2 ** (retry_number - 1), self.backoff_cap_s)
        return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), else None.

    Garbage, negative, NaN or infinite values give None so the caller falls back to backoff.
    A date in the past means "now" (0 s).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


class RetryBudget:
    """A token bucket that stops retry storms: retries spend tokens, clean successes refund them.

    When the bucket cannot pay for a retry the caller must fail fast instead of retrying.
    """

    def __init__(self, capacity: int, *, refund: int) -> None:
        self.capacity = capacity
        self._refund = refund
        self._tokens = capacity
        self._lock = threading.Lock()

    @property
    def tokens(self) -> int:
        """Tokens left."""
        return self._tokens

    def try_spend(self, cost: int) -> bool:
        """Take ``cost`` tokens if available; False (and nothing taken) if not."""
        with self._lock:
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def record_success(self, spent_on_this_call: int) -> None:
        """Refund after a success: 1 for a clean call, what was spent for a call that recovered."""
        with self._lock:
            refund = spent_on_this_call if spent_on_this_call else self._refund
            self._tokens = min(self.capacity, self._tokens + refund)


class BreakerState(StrEnum):
    """The three classic breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One endpoint family's breaker: opens after N consecutive failures, then lets one trial
    through after a pause.

    Only 5xx replies, timeouts and connection failures count as failures; a 4xx proves the host is
    up and counts as success.
    """

    def __init__(self, *, threshold: int, reset_s: float) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._lock = threading.Lock()

    def seconds_until_trial(self, now: float) -> float:
        """How long until the breaker lets a trial call through (0 when closed)."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self._opened_at + self.reset_s - now)

    def try_acquire(self, now: float) -> bool:
        """True if an attempt may go out now; False means fail fast without touching the network."""
        with self._lock:
            if self.state is BreakerState.CLOSED:
                return True
            if self.state is BreakerState.OPEN and now - self._opened_at >= self.reset_s:
                self.state = BreakerState.HALF_OPEN
                self._trial_in_flight = False
            if self.state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        """The host answered sensibly: close the breaker and reset the failure count."""
        with self._lock:
            self.state = BreakerState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self, now: float) -> None:
        """A 5xx/timeout/connection failure: count it, and open (or re-open) when due."""
        with self._lock:
            self._failures += 1
            if self.state is BreakerState.HALF_OPEN or self._failures >= self.threshold:
                self.state = BreakerState.OPEN
                self._opened_at = now
                self._trial_in_flight = False

    def release_trial(self) -> None:
        """The trial call ended without a verdict (cancelled, or failed locally): allow another."""
        with self._lock:
            self._trial_in_flight = False


def endpoint_family(path: str) -> str:
    """The endpoint a path belongs to, ids masked: ``/flows/42/pause`` → ``/flows/{id}/pause``."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    return "/" + "/".join("{id}" if part.isdigit() else part for part in segments if part)


@dataclass
class HostGuard:
    """The shared reliability state for one upstream host: one retry budget, and a breaker
    per endpoint family (created on first use)."""

    budget: RetryBudget
    threshold: int
    reset_s: float
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def breaker_for(self, path: str) -> CircuitBreaker:
        """The breaker of ``path``'s endpoint family."""
        family = endpoint_family(path)
        with self._lock:
            breaker = self.breakers.get(family)
            if breaker is None:
                breaker = CircuitBreaker(threshold=self.threshold, reset_s=self.reset_s)
                self.breakers[family] = breaker
            return breaker


_guards: dict[str, HostGuard] = {}
_guards_lock = threading.Lock()


def guard_for_host(host: str, policy: RetryPolicy) -> HostGuard:
    """The process-wide guard for ``host`` (created from ``policy`` on first use)."""
    with _guards_lock:
        guard = _guards.get(host)
        if guard is None:
            guard = HostGuard(
                budget=RetryBudget(policy.budget_capacity, refund=policy.success_refund),
                threshold=policy.breaker_threshold,
                reset_s=policy.breaker_reset_s,
            )
            _guards[host] = guard
        return guard


def reset_host_guards() -> None:
    """Forget all budget and breaker state (tests, and a CLI that switches hosts)."""
    with _guards_lock:
        _guards.clear()
