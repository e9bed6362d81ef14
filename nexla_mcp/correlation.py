"""One correlation id per tool call, carried into logs, upstream request headers and the audit
log, so a failing call can be followed end to end.

The id lives in a context variable: the tool wrapper sets it for the duration of a call, and
everything that call does (its Nexla requests, its log lines, its audit records) reads it,
including work spawned in task groups, which copy the context.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

__all__ = [
    "HEADER",
    "CorrelationFilter",
    "JsonFormatter",
    "correlation_id",
    "new_correlation",
]

# Sent on every upstream request of a tool call; Nexla's own X-Request-Id stays its own.
HEADER = "X-Correlation-ID"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nexla_mcp_correlation_id", default=None
)


def correlation_id() -> str | None:
    """The id of the tool call in progress, or None outside one."""
    return _current.get()


@contextmanager
def new_correlation() -> Iterator[str]:
    """Give the enclosed work a fresh id (16 hex characters) and restore the previous after."""
    token = _current.set(secrets.token_hex(8))
    try:
        yield _current.get() or ""
    finally:
        _current.reset(token)


class CorrelationFilter(logging.Filter):
    """Stamps each record with ``correlation_id`` ("-" outside a tool call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _current.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, correlation id, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "correlation_id": getattr(record, "correlation_id", None) or _current.get(),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps({k: v for k, v in entry.items() if v is not None}, ensure_ascii=False)
