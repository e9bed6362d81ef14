"""The embedded engine: one SQLite file in the state directory, nothing to start.

The standard library's ``sqlite3`` blocks, so every statement runs in a worker thread (one
connection, one lock: SQLite serialises writers anyway). Transactions that must see and
change the same rows (a nonce, a rate window, the audit head) begin ``IMMEDIATE``: the
database's write lock is taken first, so several server processes sharing the directory
queue behind each other instead of racing; WAL keeps readers out of their way.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from nexla_mcp.state.base import (
    SCHEMA_VERSION,
    AuditHead,
    AuditRow,
    OpenWrite,
    RateKey,
    Seal,
    StateError,
    StateStore,
    rate_wait,
)
from nexla_mcp.state.journal import (
    OperationRecord,
    OperationStatus,
    StepRecord,
    operation_of,
    operation_row,
    statements,
    step_of,
    step_row,
)
from nexla_mcp.state.open_writes import open_writes_statements

__all__ = ["STATE_FILE", "SQLiteStore"]

STATE_FILE = "state.db"
_BUSY_TIMEOUT_MS = 30_000
_T = TypeVar("_T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at)",
    "CREATE TABLE IF NOT EXISTS write_slots (key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS write_slots_key_at ON write_slots (key, at)",
    "CREATE TABLE IF NOT EXISTS audit_records "
    "(seq INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "count INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL)",
)
_JOURNAL = statements(prefix="", placeholder="?", real="REAL")
_OPEN_WRITES = open_writes_statements(prefix="", placeholder="?", real="REAL")


class SQLiteStore(StateStore):
    """State in ``<state_dir>/state.db``; processes sharing the directory share the state."""

    engine = "sqlite"

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE
        self.location = str(self.path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._opens = 0

    # --- plumbing ----------------------------------------------------------------------------

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def call() -> _T:
            with self._lock:
                db = self._db or self._connect()
                try:
                    return work(db)
                except sqlite3.Error as error:
                    raise StateError(f"state store {self.path}: {error}") from error

        return await anyio.to_thread.run_sync(call)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
        except (OSError, sqlite3.Error) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise StateError(f"cannot open the state store {self.path}: {reason}") from error
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            _use_wal(db)
            db.execute("PRAGMA synchronous = FULL")
            with _immediate(db):
                for statement in (*_SCHEMA, _OPEN_WRITES.schema, *_JOURNAL.schema):
                    db.execute(statement)
                row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None:
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) > SCHEMA_VERSION:
                    raise StateError(
                        f"the state store {self.path} has schema {row[0]}, newer than this "
                        f"server's {SCHEMA_VERSION}: upgrade nexla-mcp"
                    )
        except sqlite3.Error as error:
            db.close()
            raise StateError(f"cannot prepare the state store {self.path}: {error}") from error
        self._db = db
        return db

    async def open(self) -> None:
        self._opens += 1
        await self._run(lambda db: None)

    async def close(self) -> None:
        self._opens = max(0, self._opens - 1)
        if self._opens == 0:

            def shut() -> None:
                with self._lock:
                    if self._db is not None:
                        self._db.close()
                        self._db = None

            await anyio.to_thread.run_sync(shut)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT count(*) FROM meta").fetchone())

    # --- nonces ------------------------------------------------------------------------------

    async def spend_nonce(self, nonce: str, expires_at: int, now: float) -> bool:
        def spend(db: sqlite3.Connection) -> bool:
            with _immediate(db):
                db.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))
                cursor = db.execute(
                    "INSERT INTO nonces VALUES (?, ?) ON CONFLICT DO NOTHING", (nonce, expires_at)
                )
                return cursor.rowcount == 1

        return await self._run(spend)

    async def nonce_spent(self, nonce: str) -> bool:
        return await self._run(
            lambda db: (
                db.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)).fetchone() is not None
            )
        )

    # --- write-rate windows ------------------------------------------------------------------

    def _waits(self, db: sqlite3.Connection, keys: Sequence[RateKey], now: float) -> float | None:
        waits = []
        for key in keys:
            db.execute(
                "DELETE FROM write_slots WHERE key = ? AND at <= ?", (key.name, now - key.window_s)
            )
            times = [row[0] for row in db.execute(
                "SELECT at FROM write_slots WHERE key = ?", (key.name,)
            )]  # fmt: skip
            wait = rate_wait(times, key, now)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None

    async def take_write_slot(self, keys: Sequence[RateKey], now: float) -> float | None:
        def take(db: sqlite3.Connection) -> float | None:
            with _immediate(db):
                wait = self._waits(db, keys, now)
                if wait is None:
                    db.executemany(
                        "INSERT INTO write_slots VALUES (?, ?)", [(k.name, now) for k in keys]
                    )
                return wait

        return await self._run(take)

    async def write_wait(self, keys: Sequence[RateKey], now: float) -> float | None:
        def peek(db: sqlite3.Connection) -> float | None:
            with _immediate(db):
                return self._waits(db, keys, now)

        return await self._run(peek)

    # --- the audit chain ---------------------------------------------------------------------

    async def append_audit(self, seal: Seal) -> AuditRow:
        def append(db: sqlite3.Connection) -> AuditRow:
            with _immediate(db):
                head = db.execute("SELECT count, hash FROM audit_head WHERE id = 1").fetchone()
                seq, previous = (head[0] + 1, head[1]) if head else (1, None)
                sealed = seal(seq, previous or "")
                db.execute(
                    "INSERT INTO audit_records VALUES (?, ?, ?)", (seq, sealed.hash, sealed.record)
                )
                db.execute(
                    "INSERT INTO audit_head VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "count = excluded.count, hash = excluded.hash, mac = excluded.mac",
                    (seq, sealed.hash, sealed.head_mac),
                )
                return AuditRow(seq, sealed.hash, sealed.record)

        return await self._run(append)

    async def audit_rows(self, after_seq: int = 0, limit: int = 1000) -> list[AuditRow]:
        return await self._run(
            lambda db: [
                AuditRow(*row)
                for row in db.execute(
                    "SELECT seq, hash, record FROM audit_records WHERE seq > ? ORDER BY seq "
                    "LIMIT ?",
                    (after_seq, limit),
                )
            ]
        )

    async def audit_head(self) -> AuditHead | None:
        row = await self._run(
            lambda db: db.execute("SELECT count, hash, mac FROM audit_head WHERE id = 1").fetchone()
        )
        return AuditHead(*row) if row else None

    # --- writes whose outcome is unknown ------------------------------------------------------

    async def remember_open_write(self, key: str, write: OpenWrite, forget_before: float) -> None:
        def remember(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(_OPEN_WRITES.forget, (forget_before,))
                db.execute(
                    _OPEN_WRITES.remember, (key, write.plan_digest, write.cause, write.since)
                )

        await self._run(remember)

    async def open_write(self, key: str, since: float) -> OpenWrite | None:
        row = await self._run(lambda db: db.execute(_OPEN_WRITES.get, (key, since)).fetchone())
        return OpenWrite(*row) if row else None

    async def settle_open_write(self, key: str) -> bool:
        def settle(db: sqlite3.Connection) -> bool:
            with _immediate(db):
                return db.execute(_OPEN_WRITES.settle, (key,)).rowcount == 1

        return await self._run(settle)

    # --- the operations journal --------------------------------------------------------------

    async def add_operations(self, records: Sequence[OperationRecord]) -> int:
        def add(db: sqlite3.Connection) -> int:
            added = 0
            with _immediate(db):
                for record in records:
                    if db.execute(_JOURNAL.insert, operation_row(record)).rowcount != 1:
                        continue
                    added += 1
                    db.executemany(
                        _JOURNAL.put_step,
                        [step_row(record.id, step, record.updated_at) for step in record.steps],
                    )
            return added

        return await self._run(add)

    async def claim_operation(self, operation_id: str, owner: str, seen: str, now: float) -> bool:
        def claim(db: sqlite3.Connection) -> bool:
            with _immediate(db):
                return db.execute(_JOURNAL.claim, (owner, now, operation_id, seen)).rowcount == 1

        return await self._run(claim)

    async def set_operation_status(
        self, operation_id: str, status: OperationStatus, note: str | None, now: float
    ) -> None:
        def update(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(_JOURNAL.set_status, (status, note, now, operation_id))

        await self._run(update)

    async def put_operation_step(self, operation_id: str, step: StepRecord, now: float) -> None:
        def put(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(_JOURNAL.put_step, step_row(operation_id, step, now))
                db.execute(_JOURNAL.touch, (now, operation_id))

        await self._run(put)

    async def operation(self, operation_id: str) -> OperationRecord | None:
        def read(db: sqlite3.Connection) -> OperationRecord | None:
            with _immediate(db, "DEFERRED"):  # the operation and its steps as of one moment
                row = db.execute(_JOURNAL.get, (operation_id,)).fetchone()
                if row is None:
                    return None
                record = operation_of(row)
                record.steps = [
                    step_of(step) for step in db.execute(_JOURNAL.steps, (operation_id,))
                ]
                return record

        return await self._run(read)

    async def recent_operations(self, limit: int) -> list[OperationRecord]:
        return await self._run(
            lambda db: [operation_of(row) for row in db.execute(_JOURNAL.recent, (limit,))]
        )


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL, waiting (up to the busy timeout) while another connection is
    switching it: SQLite answers "database is locked" at once then, without its busy handler,
    so processes opening a new store together (replicas starting) would fail at random."""
    import time

    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class _immediate:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error): the write lock up front
    (``DEFERRED``: a read transaction, one snapshot without the write lock)."""

    def __init__(self, db: sqlite3.Connection, mode: str = "IMMEDIATE") -> None:
        self.db = db
        self.mode = mode

    def __enter__(self) -> None:
        self.db.execute(f"BEGIN {self.mode}")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
