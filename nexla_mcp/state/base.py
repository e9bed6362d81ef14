"""The state store's contract: what replicas share, whichever database keeps it.

Four kinds of state, each enforced by the database rather than by process memory:

- **used plan nonces**: a nonce is spent by inserting it under a unique key, so of any number
  of concurrent confirmations (in one process or across replicas) exactly one succeeds;
- **write-rate windows**: the write times per key (the server, a principal), counted and
  appended in one serialised transaction;
- **the audit chain**: rows numbered by ``seq`` with the chain head (last hash, count and its
  MAC) in a separate row, updated in the same transaction as each append, so a deleted,
  edited or cut-off row no longer matches the head;
- **writes whose outcome is unknown** (a send that timed out or lost its connection), by
  tool and arguments, so a later plan of the same change on any replica, or after a restart,
  settles them, and only one of them audits the settlement;
- **the operations journal**: each rotation or migration and its steps
  (``nexla_mcp.state.journal``), where taking over an interrupted operation is a
  compare-and-set on its owner, so two replicas resuming it at once cannot both own it.

The store knows nothing of hashing: ``append_audit`` hands the caller the sequence number and
previous hash under the transaction's lock, and stores the strings the caller sealed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nexla_mcp.state.journal import OperationRecord, OperationStatus, StepRecord

__all__ = [
    "AuditHead",
    "AuditRow",
    "OpenWrite",
    "RateKey",
    "Sealed",
    "StateError",
    "StateStore",
    "rate_wait",
]

SCHEMA_VERSION = 1
"""Moves only when older code could not work with the schema; tables that older code does not
know (the journal's) are added without moving it, so replicas can be upgraded one at a time."""


class StateError(Exception):
    """The state store cannot be reached, created or written."""


@dataclass(frozen=True)
class RateKey:
    """One write-rate window: at most ``limit`` writes per ``window_s`` seconds under ``name``."""

    name: str
    limit: int
    window_s: float


@dataclass(frozen=True)
class AuditRow:
    """One stored audit record: its position, its hash and its canonical JSON."""

    seq: int
    hash: str
    record: str


@dataclass(frozen=True)
class AuditHead:
    """The chain head, kept apart from the rows: how many there are and the last one's hash."""

    count: int
    hash: str
    mac: str


@dataclass(frozen=True)
class Sealed:
    """What the caller made of a record once it knew its place: the row and the new head."""

    hash: str
    record: str
    head_mac: str


@dataclass(frozen=True)
class OpenWrite:
    """A confirmed write whose outcome is unknown: its plan's digest, why, and since when
    (seconds since the epoch: replicas compare it)."""

    plan_digest: str
    cause: str
    since: float


Seal = Callable[[int, str], Sealed]
"""``seal(seq, prev_hash)``: the record at position ``seq`` (1-based), chained to ``prev_hash``."""


def rate_wait(times: Sequence[float], key: RateKey, now: float) -> float | None:
    """Seconds until ``key`` allows another write, given its write ``times`` inside the window."""
    if len(times) < key.limit:
        return None
    return max(0.0, min(times) + key.window_s - now)


class StateStore(ABC):
    """Shared state for one server (or many replicas); every method is safe to call concurrently.

    ``open`` and ``close`` nest: a store opened by several lifespans closes with the last.
    Every other method opens the store first if needed.
    """

    engine: str
    """``sqlite`` or ``postgresql``."""
    location: str
    """Where the state lives, for messages (a path, or the URL without its password)."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and create or migrate the schema.

        Raises:
            StateError: the database cannot be reached or its schema is newer than this code.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release this opener's hold; the connection closes with the last one."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StateError`` unless the store answers a query now."""

    @abstractmethod
    async def spend_nonce(self, nonce: str, expires_at: int, now: float) -> bool:
        """Mark ``nonce`` used (until ``expires_at``); False when it already was."""

    @abstractmethod
    async def nonce_spent(self, nonce: str) -> bool:
        """True when ``nonce`` was used before."""

    @abstractmethod
    async def take_write_slot(self, keys: Sequence[RateKey], now: float) -> float | None:
        """Count one write under every key now, or none and return the longest wait (s)."""

    @abstractmethod
    async def write_wait(self, keys: Sequence[RateKey], now: float) -> float | None:
        """Seconds until every key allows a write, or None when all allow one now."""

    @abstractmethod
    async def append_audit(self, seal: Seal) -> AuditRow:
        """Append the record ``seal`` makes for the next position, and move the head, atomically."""

    @abstractmethod
    async def audit_rows(self, after_seq: int = 0, limit: int = 1000) -> list[AuditRow]:
        """Up to ``limit`` rows with ``seq > after_seq``, in order."""

    @abstractmethod
    async def audit_head(self) -> AuditHead | None:
        """The stored chain head, or None before the first record."""

    # --- writes whose outcome is unknown ------------------------------------------------------

    @abstractmethod
    async def remember_open_write(self, key: str, write: OpenWrite, forget_before: float) -> None:
        """Keep ``write`` under ``key`` (replacing the one there) and forget every open write
        remembered before ``forget_before``."""

    @abstractmethod
    async def open_write(self, key: str, since: float) -> OpenWrite | None:
        """The write under ``key`` if it was remembered at ``since`` or later."""

    @abstractmethod
    async def settle_open_write(self, key: str) -> bool:
        """Forget the write under ``key``; True only for the caller that removed it."""

    # --- the operations journal --------------------------------------------------------------

    @abstractmethod
    async def add_operations(self, records: Sequence[OperationRecord]) -> int:
        """Insert each operation with its steps, in one transaction, unless its id is already
        there (nothing is overwritten); how many were new."""

    @abstractmethod
    async def claim_operation(self, operation_id: str, owner: str, seen: str, now: float) -> bool:
        """Make ``owner`` the operation's owner if its owner is still ``seen``; False when
        someone else took it first (or there is no such operation)."""

    @abstractmethod
    async def set_operation_status(
        self, operation_id: str, status: OperationStatus, note: str | None, now: float
    ) -> None:
        """Move the operation to ``status`` (and ``note``, when given)."""

    @abstractmethod
    async def put_operation_step(self, operation_id: str, step: StepRecord, now: float) -> None:
        """Insert or replace one step of the operation."""

    @abstractmethod
    async def operation(self, operation_id: str) -> OperationRecord | None:
        """The operation with its steps in order, or None."""

    @abstractmethod
    async def recent_operations(self, limit: int) -> list[OperationRecord]:
        """The ``limit`` newest operations, without their steps."""
