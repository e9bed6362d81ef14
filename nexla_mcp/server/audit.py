"""The write audit log: one JSON line per plan, approval, decline, refusal, execution and check.

Each record carries ``prev_hash`` (the previous record's ``hash``; 64 zeros for the first) and
its own ``hash``, the SHA-256 of the record's canonical JSON without ``hash``. Editing,
inserting, deleting or reordering a line breaks the chain at that line, which
``verify_audit_log`` (and ``nexla-mcp audit verify``) reports. Cutting lines off the end
cannot be detected from the file alone: ship the log off the host if that matters.

Arguments and states are redacted before they are written; plan tokens appear only as a
digest. The file is opened for each record (append, then fsync), so several server instances
must not share one file: give each replica its own path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nexla_mcp.redaction import redact_value
from nexla_mcp.server.guard import canonical_json

__all__ = [
    "GENESIS_HASH",
    "AuditError",
    "AuditLog",
    "ChainCheck",
    "audit_main",
    "default_audit_path",
    "verify_audit_log",
]

GENESIS_HASH = "0" * 64
_TAIL_BYTES = 1 << 20


class AuditError(Exception):
    """The audit log could not be written; the write it was recording must not go ahead."""


def default_audit_path() -> Path:
    """Where the audit log goes when ``NEXLA_MCP_AUDIT_LOG`` is unset."""
    return Path.home() / ".local" / "state" / "nexla-mcp" / "audit.jsonl"


def _record_hash(record: Mapping[str, Any]) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends hash-chained records to ``path``, continuing the chain already in the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last_hash: str | None = None

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one record (``ts``, ``event``, the redacted ``fields``) and return it.

        Raises:
            AuditError: the file cannot be read or written.
        """
        with self._lock:
            try:
                previous = self._last_hash or self._tail_hash()
                record: dict[str, Any] = {"ts": _now_iso(), "event": event}
                record.update(redact_value({k: v for k, v in fields.items() if v is not None}))
                record["prev_hash"] = previous
                record["hash"] = _record_hash(record)
                self._write_line(canonical_json(record))
            except OSError as error:
                raise AuditError(f"cannot write the audit log: {error.strerror}") from error
            self._last_hash = record["hash"]
            return record

    def _write_line(self, line: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _tail_hash(self) -> str:
        """The hash of the file's last record (the chain continues across restarts)."""
        if not self.path.exists():
            return GENESIS_HASH
        with self.path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            lines = [line for line in handle.read().splitlines() if line.strip()]
        if not lines:
            return GENESIS_HASH
        try:
            last = json.loads(lines[-1])
            return str(last["hash"])
        except (ValueError, KeyError, TypeError):
            # A damaged tail: chain on from its raw bytes so verification flags that line.
            return hashlib.sha256(lines[-1]).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """The result of checking a log: how many records were sound and the first bad line."""

    records: int
    bad_line: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when every line is intact and chained to the one before."""
        return self.bad_line is None


def verify_audit_log(path: Path) -> ChainCheck:
    """Check every line's hash and link; stop at the first broken one (1-based line number).

    Raises:
        OSError: the file cannot be read.
    """
    previous = GENESIS_HASH
    count = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                return ChainCheck(count, number, "empty line")
            try:
                record = json.loads(raw)
            except ValueError:
                return ChainCheck(count, number, "not JSON")
            if not isinstance(record, dict) or "hash" not in record:
                return ChainCheck(count, number, "not an audit record")
            if record.get("prev_hash") != previous:
                return ChainCheck(count, number, "prev_hash does not match the line before")
            if record["hash"] != _record_hash(record):
                return ChainCheck(count, number, "content does not match its hash (edited)")
            previous = record["hash"]
            count += 1
    return ChainCheck(count)


def audit_main(argv: list[str], default_path: str | None = None) -> int:
    """``nexla-mcp audit verify [PATH]``: exit 0 if the chain is intact, 1 if not, 2 on error."""
    parser = argparse.ArgumentParser(
        prog="nexla-mcp audit", description="Check the write audit log's hash chain."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify the hash chain of an audit log")
    verify.add_argument(
        "path",
        nargs="?",
        help=f"audit log (default: NEXLA_MCP_AUDIT_LOG or {default_audit_path()})",
    )
    args = parser.parse_args(argv)
    path = Path(args.path or default_path or default_audit_path())
    try:
        check = verify_audit_log(path)
    except OSError as error:
        print(f"nexla-mcp audit: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2
    if check.ok:
        print(f"{path}: {check.records} records, chain intact")
        return 0
    print(f"{path}: line {check.bad_line}: {check.problem}", file=sys.stderr)
    return 1
