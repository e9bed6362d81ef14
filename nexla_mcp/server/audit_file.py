"""The audit log as a file: a JSON-lines copy of the chain in the state store.

``NEXLA_MCP_AUDIT_LOG`` names a file that every append brings up to date with the store (and
``nexla-mcp audit export PATH`` writes one on demand), for log shippers and ``tail -f``. The
file is the same records with the same MACs, so ``nexla-mcp audit verify PATH`` checks it.

All of it is blocking file I/O, run in worker threads by the caller, and bounded: only the
tail is read, by seeking back from the end, never more than ``MAX_LINE_BYTES``. Anything but
a regular file (a named pipe, a device, a directory) is refused before the server starts,
because a pipe without a reader would hang every append and ``/dev/zero`` has no last line.
Processes on one machine that share the file take an exclusive ``flock`` to catch it up, so
each record is written once and in order. A line cut short by a crash (no final newline) is
cut off on the next catch-up and written again whole from the store.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
from pathlib import Path

__all__ = [
    "MAX_LINE_BYTES",
    "AuditFileError",
    "MirrorFile",
    "check_audit_path",
]

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20
_CHUNK = 64 << 10


class AuditFileError(ValueError):
    """The audit file cannot be used; the message says why and what to do."""


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def _refuse_special(path: Path, mode: int) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise AuditFileError(
                f"NEXLA_MCP_AUDIT_LOG={path} is {kind}, not a regular file. The audit log is "
                "appended and read back by seeking, which a pipe or device cannot do (it would "
                "hang or grow without bound). Point it at a regular file; a log shipper can "
                "tail that file."
            )
    if not stat.S_ISREG(mode):
        raise AuditFileError(f"NEXLA_MCP_AUDIT_LOG={path} is not a regular file")


def check_audit_path(path: Path) -> None:
    """Refuse a path that exists and is not a regular file (symlinks are followed).

    Raises:
        AuditFileError: it is a pipe, a device, a socket or a directory.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise AuditFileError(f"NEXLA_MCP_AUDIT_LOG={path}: {error.strerror}") from error
    _refuse_special(path, mode)


class MirrorFile:
    """One catch-up of the file under its lock: ``open`` → ``last_seq`` → ``append`` → ``close``.

    Every method blocks; call them from a worker thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        check_audit_path(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_NONBLOCK: if a pipe took the file's place since the check, fail instead of hanging.
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
        self.fd = os.open(path, flags, 0o600)
        try:
            _refuse_special(path, os.fstat(self.fd).st_mode)
            os.set_blocking(self.fd, True)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        """Release the lock and the file."""
        os.close(self.fd)  # closing drops the flock

    def last_seq(self) -> int:
        """The ``seq`` of the last whole record (0 for an empty file), after cutting off a torn
        last line.

        Raises:
            AuditFileError: the last line is not a record of this version, or longer than
                ``MAX_LINE_BYTES``.
        """
        size = os.fstat(self.fd).st_size
        if size == 0:
            return 0
        tail, whole = self._tail(size)
        end = tail.rfind(b"\n")
        if not tail.endswith(b"\n"):
            if end < 0 and not whole:
                raise AuditFileError(
                    f"{self.path}: no line break in its last {len(tail)} bytes; this is not "
                    "an audit log this server wrote"
                )
            torn = len(tail) - end - 1
            os.ftruncate(self.fd, size - torn)
            logger.warning(
                "audit file %s: cut off a torn last line (%d bytes) left by an interrupted "
                "write; the store still holds that record and it is written again",
                self.path, torn,
            )  # fmt: skip
            tail = tail[: end + 1]
        lines = tail.rstrip(b"\n").split(b"\n")
        if not tail.strip():
            return 0
        if len(lines) < 2 and not whole:
            raise AuditFileError(
                f"{self.path}: its last line is longer than {MAX_LINE_BYTES} bytes; this is "
                "not an audit log this server wrote"
            )
        try:
            return int(json.loads(lines[-1])["seq"])
        except (ValueError, KeyError, TypeError) as error:
            raise AuditFileError(
                f"{self.path}: its last line is not an audit record with a sequence number "
                "(a log from an older nexla-mcp?); move it aside and the server writes the "
                "whole chain to a new file"
            ) from error

    def _tail(self, size: int) -> tuple[bytes, bool]:
        """The end of the file, read backwards until it holds the last whole line and any torn
        one after it (two line breaks), capped; and whether it reaches the file's start."""
        start, tail = size, b""
        while start > 0 and tail.count(b"\n") < 2 and len(tail) < 2 * MAX_LINE_BYTES:
            step = min(_CHUNK, start)
            start -= step
            tail = os.pread(self.fd, step, start) + tail
        return tail, start == 0

    def append(self, lines: list[str]) -> None:
        """Append ``lines`` (one record each) and fsync."""
        if lines:
            os.write(self.fd, "".join(line + "\n" for line in lines).encode())
            os.fsync(self.fd)
