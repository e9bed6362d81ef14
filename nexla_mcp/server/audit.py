"""The write audit log: one record per plan, approval, decline, refusal, execution and check.

Records live in the state store (``nexla_mcp.state``), one row each, numbered by ``seq``.
Each carries ``prev_hash`` (the previous record's ``hash``; 64 zeros for the first) and its
own ``hash``: an HMAC-SHA256 of the record's canonical JSON under a key derived from
``NEXLA_MCP_SECRET`` (or, when that is unset, a key kept in the state directory), so an edited
record cannot be re-hashed without the secret. The chain head (the count, the last hash and
a MAC over both) is stored apart from the rows and moved in the same transaction, so
deleting, editing, reordering or cutting off rows is detected by ``nexla-mcp audit verify``.

Arguments and states are redacted before they are written; plan tokens appear only as a
digest. Every write to the store and to the optional file copy (``audit_file.py``) runs off
the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from nexla_mcp.correlation import correlation_id
from nexla_mcp.redaction import redact_value
from nexla_mcp.server.audit_file import (
    MAX_LINE_BYTES,
    AuditFileError,
    MirrorFile,
    check_audit_path,
)
from nexla_mcp.server.guard import canonical_json, digest_of
from nexla_mcp.state import AuditHead, AuditRow, Sealed, StateError, StateStore

__all__ = [
    "GENESIS_HASH",
    "MAX_RECORD_CHARS",
    "AuditError",
    "AuditFileError",
    "AuditLog",
    "ChainCheck",
    "ChainKey",
    "verify_audit_file",
    "verify_audit_store",
]

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
MAX_RECORD_CHARS = 256_000
_KEY_LABEL = b"nexla-mcp audit chain v1"
_KEY_FILE = "audit.key"
# Fields that can be large (states, arguments); a record over the cap keeps only their digests.
_BULKY = ("before", "after", "args", "changes")


class AuditError(Exception):
    """The audit log could not be written; the write it was recording must not go ahead."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ChainKey:
    """The HMAC key of the chain, derived from the server secret under its own label.

    Built from a key file (``for_settings`` without a secret), it reads or creates the file on
    first use, so a server whose state directory is unusable still starts (and refuses writes).
    """

    def __init__(self, secret: str | None = None, *, key_file: Path | None = None) -> None:
        self._secret = secret
        self._key_file = key_file
        self._key = b""

    @classmethod
    def for_settings(cls, secret: str | None, state_dir: Path) -> ChainKey:
        """Under ``secret`` when it is configured; else under a random key made once and kept
        (mode 0600) in ``state_dir``, so the chain still verifies after a restart."""
        return cls(secret) if secret else cls(key_file=state_dir / _KEY_FILE)

    def load(self) -> bytes:
        """The key bytes (reading or creating the key file the first time).

        Raises:
            OSError: the key file cannot be read or created.
        """
        if not self._key:
            secret = self._secret if self._secret is not None else self._read_key_file()
            self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        return self._key

    def _read_key_file(self) -> str:
        path = self._key_file
        assert path is not None
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = secrets.token_hex(32)
            try:
                with path.open("x", encoding="utf-8") as handle:
                    path.chmod(0o600)
                    handle.write(key)
            except FileExistsError:  # another process made it first: use theirs
                return path.read_text().strip()
            return key

    @property
    def key_id(self) -> str:
        """A short public name of the key, so verify can tell "another key" from "edited"."""
        return hashlib.sha256(b"key id" + self.load()).hexdigest()[:16]

    def mac(self, record: Mapping[str, Any]) -> str:
        """The ``hash`` of a record: HMAC-SHA256 of its canonical JSON without ``hash``."""
        body = {key: value for key, value in record.items() if key != "hash"}
        return hmac.new(self.load(), canonical_json(body).encode(), hashlib.sha256).hexdigest()

    def head_mac(self, count: int, last_hash: str) -> str:
        """The MAC of the chain head (count and last hash)."""
        message = f"head:{count}:{last_hash}".encode()
        return hmac.new(self.load(), message, hashlib.sha256).hexdigest()


def _capped(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields``, with the largest bulky ones replaced by their digests until the record fits."""
    capped = dict(fields)
    bulky = sorted((k for k in _BULKY if k in capped),
                   key=lambda k: -len(canonical_json(capped[k])))  # fmt: skip
    for key in bulky:
        if len(canonical_json(capped)) <= MAX_RECORD_CHARS:
            break
        capped[key] = {
            "omitted": "too large for the audit record",
            "sha256": digest_of(capped[key]),
        }
    return capped


class AuditLog:
    """Appends keyed, hash-chained records to the store (and keeps ``mirror`` caught up)."""

    def __init__(
        self,
        store: StateStore,
        key: ChainKey,
        mirror: Path | None = None,
        environment: str = "live",
    ) -> None:
        """Raises ``AuditFileError`` when ``mirror`` exists and is not a regular file.

        ``environment="sandbox"`` marks every record, so simulated writes never pass for
        writes to a real org."""
        if mirror is not None:
            check_audit_path(mirror)
        self.environment = environment
        self.store = store
        self.key = key
        self.mirror = mirror
        self._mirror_lock = anyio.Lock()

    async def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one record (``seq``, ``ts``, ``event``, the redacted ``fields``); return it.

        Raises:
            AuditError: the store cannot be written.
        """
        body = _capped(redact_value({k: v for k, v in fields.items() if v is not None}))
        if (call_id := correlation_id()) is not None:
            body = {"correlation_id": call_id, **body}
        if self.environment != "live":
            body = {"environment": self.environment, **body}
        made: dict[str, Any] = {}

        def seal(seq: int, previous: str) -> Sealed:
            record: dict[str, Any] = {"seq": seq, "ts": _now_iso(), "event": event, **body}
            record["key_id"] = self.key.key_id
            record["prev_hash"] = previous or GENESIS_HASH
            record["hash"] = self.key.mac(record)
            made.update(record)
            return Sealed(
                record["hash"], canonical_json(record), self.key.head_mac(seq, record["hash"])
            )

        try:
            await anyio.to_thread.run_sync(self.key.load)
            await self.store.append_audit(seal)
        except (StateError, OSError) as error:
            raise AuditError(f"cannot write the audit log: {error}") from error
        if self.mirror is not None:
            try:
                await self.sync_mirror()
            except (OSError, AuditFileError, StateError) as error:
                # The record is durable in the store; the file catches up on the next append.
                logger.error("audit file %s not updated: %s", self.mirror, error)
        return made

    async def sync_mirror(self) -> int:
        """Bring the file copy up to date with the store; returns the records written.

        Raises:
            OSError, AuditFileError: the file cannot be used.
            StateError: the store cannot be read.
        """
        if self.mirror is None:
            return 0
        path = self.mirror
        written = 0
        async with self._mirror_lock:
            handle = await anyio.to_thread.run_sync(MirrorFile, path)
            try:
                seq = await anyio.to_thread.run_sync(handle.last_seq)
                while rows := await self.store.audit_rows(after_seq=seq):
                    await anyio.to_thread.run_sync(handle.append, [row.record for row in rows])
                    seq, written = rows[-1].seq, written + len(rows)
            finally:
                await anyio.to_thread.run_sync(handle.close)
        return written


@dataclass(frozen=True)
class ChainCheck:
    """The result of checking a chain: how many records were sound and the first bad one."""

    records: int
    bad_line: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when every record is intact, chained to the one before, and (for the store)
        matches the head."""
        return self.bad_line is None and self.problem is None


class _Walker:
    """Checks records one at a time against the key, the sequence and the previous hash."""

    def __init__(self, key: ChainKey) -> None:
        self.key = key
        self.previous = GENESIS_HASH
        self.count = 0

    def problem(self, raw: str | bytes) -> str | None:
        try:
            record = json.loads(raw)
        except ValueError:
            return "not JSON"
        if not isinstance(record, dict) or "hash" not in record or "seq" not in record:
            return "not an audit record"
        if record["seq"] != self.count + 1:
            return (f"sequence number {record['seq']} where {self.count + 1} was expected "
                    "(a record is missing, repeated or out of order)")  # fmt: skip
        if record.get("prev_hash") != self.previous:
            return "prev_hash does not match the record before (deleted or reordered)"
        if record.get("key_id") != self.key.key_id:
            return "written under another key (check NEXLA_MCP_SECRET)"
        if not hmac.compare_digest(str(record["hash"]), self.key.mac(record)):
            return "content does not match its MAC (edited)"
        self.previous = record["hash"]
        self.count += 1
        return None


def verify_audit_file(path: Path, key: ChainKey) -> ChainCheck:
    """Check every line of a file copy; stop at the first broken one (1-based line number).

    A last line without its line break is reported as torn (an interrupted write; a running
    server cuts it off and writes the record again). Cutting whole lines off the end cannot be
    seen in a file alone: verify the store for that.

    Raises:
        OSError, AuditFileError: the file cannot be read, or is not a regular file.
    """
    check_audit_path(path)
    walker = _Walker(key)
    with path.open("rb") as handle:
        # readline with a limit: a file of zeros without a line break is not read whole.
        lines = iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b"")
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                return ChainCheck(walker.count, number, "line too long")
            if not raw.endswith(b"\n"):
                return ChainCheck(walker.count, number, "torn last line (interrupted write)")
            problem = walker.problem(raw) if raw.strip() else "empty line"
            if problem:
                return ChainCheck(walker.count, number, problem)
    return ChainCheck(walker.count)


async def _rows(store: StateStore) -> AsyncIterator[AuditRow]:
    seq = 0
    while rows := await store.audit_rows(after_seq=seq):
        for row in rows:
            yield row
        seq = rows[-1].seq


async def verify_audit_store(store: StateStore, key: ChainKey) -> ChainCheck:
    """Check every row in order, then the rows against the separately stored head.

    ``bad_line`` is the ``seq`` where the chain breaks; a sound chain that disagrees with the
    head (rows cut off the end, or added without moving it) has ``problem`` set only.

    Raises:
        StateError: the store cannot be read.
    """
    walker = _Walker(key)
    async for row in _rows(store):
        problem = walker.problem(row.record)
        if problem is None and (row.seq != walker.count or row.hash != walker.previous):
            problem = "the row's columns do not match its record (edited)"
        if problem:
            return ChainCheck(walker.count, walker.count + 1, problem)
    return _against_head(walker, await store.audit_head())


def _against_head(walker: _Walker, head: AuditHead | None) -> ChainCheck:
    if head is None:
        if walker.count:
            return ChainCheck(walker.count, None, "records exist but the chain head is missing")
        return ChainCheck(0)
    if not hmac.compare_digest(head.mac, walker.key.head_mac(head.count, head.hash)):
        return ChainCheck(walker.count, None, "the chain head does not match its MAC (edited)")
    if head.count != walker.count or head.hash != walker.previous:
        return ChainCheck(
            walker.count, None,
            f"the head records {head.count} records, the chain has {walker.count} "
            "(records cut off the end, or added outside the server)",
        )  # fmt: skip
    return ChainCheck(walker.count)
