"""The operations journal: one durable record per multi-step write, and the steps it has done.

A rotation or a migration writes each step here *before* it sends the request (``started``)
and again after (``done``), so a process killed between the two leaves a record that says
exactly which request may or may not have reached Nexla. ``resume_operation`` reads it back.

``Journal`` is the interface the runner needs. ``StoreJournal`` keeps it in the server's state
store (``nexla_mcp.state``: SQLite in the state directory, or PostgreSQL shared by replicas),
so an operation started on one replica is seen, resumed or rolled back on another; taking
one over is a compare-and-set in the database, so only one of them can. ``MemoryJournal``
holds the runs whose record must not outlive them (shadow writes).

The journal used to be a SQLite file of its own, ``operations.sqlite3`` in the state
directory; ``StoreJournal`` imports its operations on first use and renames it
``operations.sqlite3.imported``.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread

from nexla_mcp.errors import NexlaError
from nexla_mcp.state import StateError, StateStore
from nexla_mcp.state.journal import (
    OperationRecord,
    OperationStatus,
    StepRecord,
    StepStatus,
    operation_of,
    step_of,
)

__all__ = [
    "LEGACY_JOURNAL_FILE",
    "Journal",
    "JournalError",
    "MemoryJournal",
    "OperationRecord",
    "OperationStatus",
    "OperationTakenError",
    "StepRecord",
    "StepStatus",
    "StoreJournal",
    "is_interrupted",
    "read_legacy_journal",
    "this_process",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

LEGACY_JOURNAL_FILE = "operations.sqlite3"
"""The journal's own file before it moved into the state store (imported, then renamed)."""


class JournalError(NexlaError):
    """The journal cannot be read or written; no operation starts without its record."""

    default_hint = (
        "The server's operator must make the state store writable (NEXLA_MCP_STATE_DIR, or "
        "the database at NEXLA_MCP_STATE_URL); get_operation shows how far any operation got."
    )


class OperationTakenError(NexlaError):
    """Another server process took the operation over between reading and claiming it."""

    default_hint = "Call get_operation to see who runs it now and how far it got."


def this_process() -> str:
    """``host:pid:nonce``: who runs an operation (the nonce tells a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_NONCE}"


_NONCE = uuid.uuid4().hex[:8]


class Journal(Protocol):
    """What the operation runner needs from a durable store."""

    async def create(
        self, kind: str, arguments: dict[str, Any], plan: dict[str, Any]
    ) -> OperationRecord:
        """Open a new ``running`` operation owned by this process."""
        ...

    async def claim(self, record: OperationRecord) -> None:
        """Make this process the owner of ``record`` (resuming it), if its owner is still the
        one ``record`` names; ``OperationTakenError`` when another process took it first."""
        ...

    async def set_status(
        self, operation_id: str, status: OperationStatus, note: str | None = None
    ) -> None:
        """Move the operation to ``status``."""
        ...

    async def put_step(self, operation_id: str, step: StepRecord) -> None:
        """Insert or replace one step."""
        ...

    async def get(self, operation_id: str) -> OperationRecord | None:
        """The operation with its steps in order, or None."""
        ...

    async def recent(self, limit: int) -> list[OperationRecord]:
        """The newest operations, without their steps."""
        ...


def _new_record(kind: str, arguments: dict[str, Any], plan: dict[str, Any]) -> OperationRecord:
    """A new ``running`` operation owned by this process."""
    now = time.time()
    return OperationRecord(
        id=f"op-{uuid.uuid4().hex[:12]}", kind=kind, status="running", arguments=arguments,
        plan=plan, owner=this_process(), created_at=now, updated_at=now,
    )  # fmt: skip


def _taken(record: OperationRecord) -> OperationTakenError:
    return OperationTakenError(
        f"Operation {record.id} was taken over by another server process first; this one "
        "changed nothing.",
        operation="resume_operation",
        resource_type="operations",
        resource_id=record.id,
    )


class StoreJournal:
    """``Journal`` in a state store. ``legacy`` is an old ``operations.sqlite3`` to import on
    first use (a missing file is fine)."""

    def __init__(self, store: StateStore, legacy: Path | None = None) -> None:
        self.store = store
        self.legacy = legacy
        self._imported = legacy is None
        self._lock = anyio.Lock()

    async def _ready(self) -> StateStore:
        if not self._imported:
            async with self._lock:
                if not self._imported:
                    assert self.legacy is not None
                    await import_legacy_journal(self.store, self.legacy)
                    self._imported = True
        return self.store

    async def _do(self, work: Callable[[StateStore], Awaitable[_T]]) -> _T:
        try:
            return await work(await self._ready())
        except StateError as error:
            raise _journal_error(error) from error

    async def create(
        self, kind: str, arguments: dict[str, Any], plan: dict[str, Any]
    ) -> OperationRecord:
        record = _new_record(kind, arguments, plan)
        await self._do(lambda store: store.add_operations([record]))
        return record

    async def claim(self, record: OperationRecord) -> None:
        owner = this_process()
        claimed = await self._do(
            lambda store: store.claim_operation(record.id, owner, record.owner, time.time())
        )
        if not claimed:
            raise _taken(record)
        record.owner = owner

    async def set_status(
        self, operation_id: str, status: OperationStatus, note: str | None = None
    ) -> None:
        await self._do(
            lambda store: store.set_operation_status(operation_id, status, note, time.time())
        )

    async def put_step(self, operation_id: str, step: StepRecord) -> None:
        await self._do(lambda store: store.put_operation_step(operation_id, step, time.time()))

    async def get(self, operation_id: str) -> OperationRecord | None:
        return await self._do(lambda store: store.operation(operation_id))

    async def recent(self, limit: int) -> list[OperationRecord]:
        return await self._do(lambda store: store.recent_operations(limit))


def _journal_error(error: StateError) -> JournalError:
    # The store's message names the database and its reason (never a password: the URL is
    # redacted); the error type is enough for the model, the log keeps the rest.
    logger.error("operations journal unavailable: %s", error)
    return JournalError(
        f"The operations journal cannot be used ({type(error.__cause__ or error).__name__}).",
        operation="operations_journal",
    )


async def import_legacy_journal(store: StateStore, path: Path) -> int:
    """Copy the operations of an old ``operations.sqlite3`` into ``store`` (ids already there
    are kept as they are), then rename the file ``….imported``; how many were new. A file
    that cannot be read is left where it is, with a warning in the log."""
    if not path.is_file():
        return 0
    try:
        records = await anyio.to_thread.run_sync(read_legacy_journal, path)
    except sqlite3.Error as error:
        logger.warning("cannot import the old operations journal %s: %s", path, error)
        return 0
    added = await store.add_operations(records)
    try:
        path.rename(path.with_name(path.name + ".imported"))
    except FileNotFoundError:
        pass  # another process sharing the directory imported it at the same time
    logger.info("imported %d operation(s) from %s into the state store", added, path)
    return added


def read_legacy_journal(path: Path) -> list[OperationRecord]:
    """Every operation, with its steps, of a journal file of the old format."""
    db = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=10
    )  # never creates it
    try:
        records = [
            operation_of(row)
            for row in db.execute(
                "SELECT id, kind, status, arguments, plan, owner, note, created_at, updated_at "
                "FROM operations"
            )
        ]
        for record in records:
            record.steps = [
                step_of(row)
                for row in db.execute(
                    "SELECT seq, name, action, undo, status, result, error FROM steps "
                    "WHERE operation_id = ? ORDER BY seq",
                    (record.id,),
                )
            ]
        return records
    finally:
        db.close()


class MemoryJournal:
    """``Journal`` in memory, for runs whose record must not outlive them (shadow writes)."""

    def __init__(self) -> None:
        self._records: dict[str, OperationRecord] = {}

    async def create(
        self, kind: str, arguments: dict[str, Any], plan: dict[str, Any]
    ) -> OperationRecord:
        record = _new_record(kind, arguments, plan)
        self._records[record.id] = record
        return record

    async def claim(self, record: OperationRecord) -> None:
        # A shadow resume of a journaled operation: its dry run is kept on a copy, here.
        held = self._records.setdefault(record.id, copy.deepcopy(record))
        if held.owner != record.owner:
            raise _taken(record)
        held.owner = record.owner = this_process()

    async def set_status(
        self, operation_id: str, status: OperationStatus, note: str | None = None
    ) -> None:
        record = self._records[operation_id]
        record.status, record.note = status, note or record.note

    async def put_step(self, operation_id: str, step: StepRecord) -> None:
        record = self._records[operation_id]
        record.steps = [s for s in record.steps if s.seq != step.seq] + [step]

    async def get(self, operation_id: str) -> OperationRecord | None:
        return self._records.get(operation_id)

    async def recent(self, limit: int) -> list[OperationRecord]:
        return sorted(self._records.values(), key=lambda r: -r.created_at)[:limit]


# An owner on another host is presumed alive until its record has been quiet this long.
FOREIGN_OWNER_QUIET_S = 15 * 60
UNFINISHED: frozenset[str] = frozenset({"running", "rolling_back", "failed"})


def is_interrupted(record: OperationRecord, live: set[str], *, now: float | None = None) -> bool:
    """True when nothing is working on an unfinished operation any more (resumable).

    This process knows which of its operations run (``live``); another process on this host
    is asked whether its pid still exists; a process elsewhere is presumed gone once the
    record has been quiet for ``FOREIGN_OWNER_QUIET_S``.
    """
    if record.status not in UNFINISHED:
        return False
    if record.owner == this_process():
        return record.id not in live
    host, _, rest = record.owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        return not _pid_alive(int(pid_text))
    return (now or time.time()) - record.updated_at > FOREIGN_OWNER_QUIET_S


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
