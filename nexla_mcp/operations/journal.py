"""The operations journal: one durable record per multi-step write, and the steps it has done.

A rotation or a migration writes each step here *before* it sends the request (``started``)
and again after (``done``), so a process killed between the two leaves a record that says
exactly which request may or may not have reached Nexla. ``resume_operation`` reads it back.

``Journal`` is the interface the runner needs; ``SqliteJournal`` is the embedded default (one
SQLite file under the state directory, stdlib ``sqlite3`` run in a worker thread so the event
loop never blocks on disk). A shared store (PostgreSQL) only has to implement ``Journal``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio.to_thread

from nexla_mcp.errors import NexlaError

__all__ = [
    "JOURNAL_FILE",
    "Journal",
    "JournalError",
    "MemoryJournal",
    "OperationRecord",
    "OperationStatus",
    "SqliteJournal",
    "StepRecord",
    "StepStatus",
    "is_interrupted",
    "this_process",
]

JOURNAL_FILE = "operations.sqlite3"

OperationStatus = Literal["running", "completed", "rolled_back", "failed", "rolling_back"]
StepStatus = Literal["started", "done", "undoing", "undone", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    arguments TEXT NOT NULL,
    plan TEXT NOT NULL,
    owner TEXT NOT NULL,
    note TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    operation_id TEXT NOT NULL REFERENCES operations(id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    undo TEXT,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
"""


class JournalError(NexlaError):
    """The journal file cannot be read or written; no operation starts without its record."""

    default_hint = (
        "The server's operator must make NEXLA_MCP_STATE_DIR writable; get_operation shows "
        "how far any operation got."
    )


def this_process() -> str:
    """``host:pid:nonce``: who runs an operation (the nonce tells a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_NONCE}"


_NONCE = uuid.uuid4().hex[:8]


@dataclass
class StepRecord:
    """One step: the request it makes (``action``), the request that undoes it, and how far
    it got. ``result`` keeps what a later step or the undo needs (e.g. a created id)."""

    seq: int
    name: str
    action: dict[str, Any]
    undo: dict[str, Any] | None
    status: StepStatus
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class OperationRecord:
    """An operation as the journal holds it."""

    id: str
    kind: str
    status: OperationStatus
    arguments: dict[str, Any]
    plan: dict[str, Any]
    owner: str
    created_at: float
    updated_at: float
    note: str | None = None
    steps: list[StepRecord] = field(default_factory=list)


class Journal(Protocol):
    """What the operation runner needs from a durable store."""

    async def create(
        self, kind: str, arguments: dict[str, Any], plan: dict[str, Any]
    ) -> OperationRecord:
        """Open a new ``running`` operation owned by this process."""
        ...

    async def claim(self, operation_id: str) -> None:
        """Make this process the operation's owner (resuming it)."""
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


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class SqliteJournal:
    """``Journal`` in one SQLite file, created on first use with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.path.touch(mode=0o600, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        if not self._ready:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            self._ready = True
        return connection

    async def _run(self, work: Any, *args: Any) -> Any:
        def call() -> Any:
            with self._lock:
                connection = self._connect()
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    value = work(connection, *args)
                    connection.execute("COMMIT")
                    return value
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                finally:
                    connection.close()

        try:
            return await anyio.to_thread.run_sync(call)
        except (sqlite3.Error, OSError) as error:
            raise JournalError(
                f"The operations journal cannot be used ({type(error).__name__}).",
                operation="operations_journal",
            ) from error

    async def create(
        self, kind: str, arguments: dict[str, Any], plan: dict[str, Any]
    ) -> OperationRecord:
        record = _new_record(kind, arguments, plan)
        now = record.created_at

        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    record.id,
                    kind,
                    "running",
                    _dumps(arguments),
                    _dumps(plan),
                    record.owner,
                    now,
                    now,
                ),
            )

        await self._run(work)
        return record

    async def claim(self, operation_id: str) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE operations SET owner = ?, updated_at = ? WHERE id = ?",
                (this_process(), time.time(), operation_id),
            )

        await self._run(work)

    async def set_status(
        self, operation_id: str, status: OperationStatus, note: str | None = None
    ) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE operations SET status = ?, note = COALESCE(?, note), updated_at = ? "
                "WHERE id = ?",
                (status, note, time.time(), operation_id),
            )

        await self._run(work)

    async def put_step(self, operation_id: str, step: StepRecord) -> None:
        def work(connection: sqlite3.Connection) -> None:
            now = time.time()
            connection.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    operation_id,
                    step.seq,
                    step.name,
                    _dumps(step.action),
                    _dumps(step.undo) if step.undo is not None else None,
                    step.status,
                    _dumps(step.result),
                    step.error,
                    now,
                ),
            )
            connection.execute(
                "UPDATE operations SET updated_at = ? WHERE id = ?", (now, operation_id)
            )

        await self._run(work)

    async def get(self, operation_id: str) -> OperationRecord | None:
        def work(connection: sqlite3.Connection) -> OperationRecord | None:
            row = connection.execute(
                "SELECT * FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
            if row is None:
                return None
            record = _operation(row)
            for step in connection.execute(
                "SELECT seq, name, action, undo, status, result, error FROM steps "
                "WHERE operation_id = ? ORDER BY seq",
                (operation_id,),
            ):
                record.steps.append(
                    StepRecord(
                        seq=step[0],
                        name=step[1],
                        action=json.loads(step[2]),
                        undo=json.loads(step[3]) if step[3] else None,
                        status=step[4],
                        result=json.loads(step[5]) if step[5] else {},
                        error=step[6],
                    )
                )
            return record

        result: OperationRecord | None = await self._run(work)
        return result

    async def recent(self, limit: int) -> list[OperationRecord]:
        def work(connection: sqlite3.Connection) -> list[OperationRecord]:
            rows = connection.execute(
                "SELECT * FROM operations ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
            return [_operation(row) for row in rows]

        result: list[OperationRecord] = await self._run(work)
        return result


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

    async def claim(self, operation_id: str) -> None:
        self._records[operation_id].owner = this_process()

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


def _operation(row: tuple[Any, ...]) -> OperationRecord:
    (op_id, kind, status, arguments, plan, owner, note, created_at, updated_at) = row
    return OperationRecord(
        id=op_id,
        kind=kind,
        status=status,
        arguments=json.loads(arguments),
        plan=json.loads(plan),
        owner=owner,
        created_at=created_at,
        updated_at=updated_at,
        note=note,
    )


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
