"""The shared engine: PostgreSQL through psycopg 3 (async), for replicas behind a balancer.

``psycopg`` is imported when the store opens, never at import time, so a stdio server on the
SQLite default does not load it. Statements that read and then change shared rows (a rate
window, the audit head) first take a transaction-scoped advisory lock on their key, so two
replicas serialise on it; the lock is released by the commit. Tables carry a ``nexla_mcp_``
prefix because the database may be shared with other applications.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresStore", "redacted_url"]

_POOL_SIZE = 10
_CONNECT_TIMEOUT_S = 10.0
# Advisory lock keys (any stable 64-bit numbers): one for migrations, one for the audit head.
_MIGRATION_LOCK = 0x6E65786C61_01
_AUDIT_LOCK = 0x6E65786C61_02

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS nexla_mcp_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS nexla_mcp_nonces "
    "(nonce TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS nexla_mcp_nonces_expiry ON nexla_mcp_nonces (expires_at)",
    "CREATE TABLE IF NOT EXISTS nexla_mcp_write_slots "
    "(key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS nexla_mcp_write_slots_key_at ON nexla_mcp_write_slots (key, at)",
    "CREATE TABLE IF NOT EXISTS nexla_mcp_audit_records "
    "(seq BIGINT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS nexla_mcp_audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "count BIGINT NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL)",
)
_JOURNAL = statements(prefix="nexla_mcp_", placeholder="%s", real="DOUBLE PRECISION")
_OPEN_WRITES = open_writes_statements(
    prefix="nexla_mcp_", placeholder="%s", real="DOUBLE PRECISION"
)
_T = TypeVar("_T")


def redacted_url(url: str) -> str:
    """``url`` with any password replaced, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresStore(StateStore):
    """State in the PostgreSQL database at ``url`` (``postgresql://…``), shared by replicas."""

    engine = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: float = _CONNECT_TIMEOUT_S) -> None:
        """``connect_timeout_s``: how long opening keeps retrying a server that refuses."""
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.location = redacted_url(url)
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opens = 0

    async def open(self) -> None:
        self._opens += 1
        await self._ready()

    async def _ready(self) -> AsyncConnectionPool[Any]:
        if self._pool is not None:
            return self._pool
        try:
            import psycopg
            from psycopg_pool import AsyncConnectionPool
        except ImportError as error:
            raise StateError(
                "NEXLA_MCP_STATE_URL needs psycopg: pip install 'nexla-mcp[postgres]'"
            ) from error
        pool = AsyncConnectionPool(
            self.url, min_size=1, max_size=_POOL_SIZE, open=False,
            kwargs={"autocommit": True}, timeout=self.connect_timeout_s,
        )  # fmt: skip
        try:
            await pool.open(wait=True, timeout=self.connect_timeout_s)
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                for statement in (*_SCHEMA, _OPEN_WRITES.schema, *_JOURNAL.schema):
                    await conn.execute(statement)
                await self._check_schema(conn)
        except (psycopg.Error, OSError) as error:
            await pool.close()
            raise StateError(f"cannot open the state store {self.location}: {error}") from error
        except BaseException:
            await pool.close()
            raise
        if self._pool is not None:  # another task got there first while this one waited
            await pool.close()
            return self._pool
        self._pool = pool
        return pool

    async def _check_schema(self, conn: AsyncConnection[Any]) -> None:
        cursor = await conn.execute("SELECT value FROM nexla_mcp_meta WHERE key = 'schema'")
        row = await cursor.fetchone()
        if row is None:
            await conn.execute(
                "INSERT INTO nexla_mcp_meta VALUES ('schema', %s)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StateError(
                f"the state store {self.location} has schema {row[0]}, newer than this "
                f"server's {SCHEMA_VERSION}: upgrade nexla-mcp"
            )

    async def close(self) -> None:
        self._opens = max(0, self._opens - 1)
        if self._opens == 0 and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        pool = await self._ready()
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall() if cursor.description else []
        except psycopg.Error as error:
            raise StateError(f"state store {self.location}: {error}") from error

    async def _transaction(self, work: Callable[[AsyncConnection[Any]], Awaitable[_T]]) -> _T:
        """``work(conn)`` in one transaction (committed when it returns, rolled back if not)."""
        import psycopg

        pool = await self._ready()
        try:
            async with pool.connection() as conn, conn.transaction():
                return await work(conn)
        except psycopg.Error as error:
            raise StateError(f"state store {self.location}: {error}") from error

    async def ping(self) -> None:
        await self._query("SELECT 1")

    # --- nonces ------------------------------------------------------------------------------

    async def spend_nonce(self, nonce: str, expires_at: int, now: float) -> bool:
        rows = await self._query(
            "WITH gone AS (DELETE FROM nexla_mcp_nonces WHERE expires_at < %s) "
            "INSERT INTO nexla_mcp_nonces VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (now, nonce, expires_at),
        )
        return bool(rows)

    async def nonce_spent(self, nonce: str) -> bool:
        return bool(await self._query("SELECT 1 FROM nexla_mcp_nonces WHERE nonce = %s", (nonce,)))

    # --- write-rate windows ------------------------------------------------------------------

    async def _rate(self, keys: Sequence[RateKey], now: float, *, take: bool) -> float | None:
        import psycopg

        pool = await self._ready()
        try:
            async with pool.connection() as conn, conn.transaction():
                waits = []
                for key in sorted(keys, key=lambda k: k.name):  # one lock order: no deadlock
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key.name,))
                    await conn.execute(
                        "DELETE FROM nexla_mcp_write_slots WHERE key = %s AND at <= %s",
                        (key.name, now - key.window_s),
                    )
                    cursor = await conn.execute(
                        "SELECT at FROM nexla_mcp_write_slots WHERE key = %s", (key.name,)
                    )
                    wait = rate_wait([row[0] for row in await cursor.fetchall()], key, now)
                    if wait is not None:
                        waits.append(wait)
                if waits:
                    return max(waits)
                if take:
                    async with conn.cursor() as cursor:
                        await cursor.executemany(
                            "INSERT INTO nexla_mcp_write_slots VALUES (%s, %s)",
                            [(key.name, now) for key in keys],
                        )
                return None
        except psycopg.Error as error:
            raise StateError(f"state store {self.location}: {error}") from error

    async def take_write_slot(self, keys: Sequence[RateKey], now: float) -> float | None:
        return await self._rate(keys, now, take=True)

    async def write_wait(self, keys: Sequence[RateKey], now: float) -> float | None:
        return await self._rate(keys, now, take=False)

    # --- the audit chain ---------------------------------------------------------------------

    async def append_audit(self, seal: Seal) -> AuditRow:
        import psycopg

        pool = await self._ready()
        try:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_AUDIT_LOCK,))
                cursor = await conn.execute(
                    "SELECT count, hash FROM nexla_mcp_audit_head WHERE id = 1"
                )
                head = await cursor.fetchone()
                seq, previous = (head[0] + 1, head[1]) if head else (1, "")
                sealed = seal(seq, previous)
                await conn.execute(
                    "INSERT INTO nexla_mcp_audit_records VALUES (%s, %s, %s)",
                    (seq, sealed.hash, sealed.record),
                )
                await conn.execute(
                    "INSERT INTO nexla_mcp_audit_head VALUES (1, %s, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET count = excluded.count, hash = excluded.hash, "
                    "mac = excluded.mac",
                    (seq, sealed.hash, sealed.head_mac),
                )
                return AuditRow(seq, sealed.hash, sealed.record)
        except psycopg.Error as error:
            raise StateError(f"state store {self.location}: {error}") from error

    async def audit_rows(self, after_seq: int = 0, limit: int = 1000) -> list[AuditRow]:
        rows = await self._query(
            "SELECT seq, hash, record FROM nexla_mcp_audit_records WHERE seq > %s ORDER BY seq "
            "LIMIT %s",
            (after_seq, limit),
        )
        return [AuditRow(*row) for row in rows]

    async def audit_head(self) -> AuditHead | None:
        rows = await self._query("SELECT count, hash, mac FROM nexla_mcp_audit_head WHERE id = 1")
        return AuditHead(*rows[0]) if rows else None

    # --- writes whose outcome is unknown ------------------------------------------------------

    async def remember_open_write(self, key: str, write: OpenWrite, forget_before: float) -> None:
        async def remember(conn: AsyncConnection[Any]) -> None:
            await conn.execute(_OPEN_WRITES.forget, (forget_before,))
            await conn.execute(
                _OPEN_WRITES.remember, (key, write.plan_digest, write.cause, write.since)
            )

        await self._transaction(remember)

    async def open_write(self, key: str, since: float) -> OpenWrite | None:
        rows = await self._query(_OPEN_WRITES.get, (key, since))
        return OpenWrite(*rows[0]) if rows else None

    async def settle_open_write(self, key: str) -> bool:
        rows = await self._query(_OPEN_WRITES.settle + " RETURNING key", (key,))
        return bool(rows)

    # --- the operations journal --------------------------------------------------------------

    async def add_operations(self, records: Sequence[OperationRecord]) -> int:
        async def add(conn: AsyncConnection[Any]) -> int:
            added = 0
            for record in records:
                cursor = await conn.execute(_JOURNAL.insert, operation_row(record))
                if cursor.rowcount != 1:
                    continue
                added += 1
                for step in record.steps:
                    await conn.execute(
                        _JOURNAL.put_step, step_row(record.id, step, record.updated_at)
                    )
            return added

        return await self._transaction(add)

    async def claim_operation(self, operation_id: str, owner: str, seen: str, now: float) -> bool:
        # Under READ COMMITTED a second UPDATE of the row waits for the first to commit, then
        # re-checks ``owner = seen`` against the new row: it no longer matches.
        rows = await self._query(_JOURNAL.claim + " RETURNING id", (owner, now, operation_id, seen))
        return bool(rows)

    async def set_operation_status(
        self, operation_id: str, status: OperationStatus, note: str | None, now: float
    ) -> None:
        await self._query(_JOURNAL.set_status, (status, note, now, operation_id))

    async def put_operation_step(self, operation_id: str, step: StepRecord, now: float) -> None:
        async def put(conn: AsyncConnection[Any]) -> None:
            await conn.execute(_JOURNAL.put_step, step_row(operation_id, step, now))
            await conn.execute(_JOURNAL.touch, (now, operation_id))

        await self._transaction(put)

    async def operation(self, operation_id: str) -> OperationRecord | None:
        async def read(conn: AsyncConnection[Any]) -> OperationRecord | None:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor = await conn.execute(_JOURNAL.get, (operation_id,))
            row = await cursor.fetchone()
            if row is None:
                return None
            record = operation_of(row)
            cursor = await conn.execute(_JOURNAL.steps, (operation_id,))
            record.steps = [step_of(step) for step in await cursor.fetchall()]
            return record

        return await self._transaction(read)

    async def recent_operations(self, limit: int) -> list[OperationRecord]:
        return [operation_of(row) for row in await self._query(_JOURNAL.recent, (limit,))]
