"""Shared state: used plan nonces, write-rate windows, the audit chain, writes whose outcome
is unknown and the operations journal (no MCP imports).

``store_for(state_dir, state_url)`` picks the engine: SQLite in the state directory by
default (nothing to start; processes on one machine sharing the directory share the state),
PostgreSQL when ``NEXLA_MCP_STATE_URL`` is a ``postgresql://`` URL (replicas on many
machines). Building a store does no I/O; it connects and creates its schema when opened.

The operations journal (credential rotations, schema migrations: ``state.journal`` has its
records) lives here with the rest, so an operation started on one replica can be resumed or
rolled back on another, and only one of them can take it over (``claim_operation``).
"""

from __future__ import annotations

from pathlib import Path

from nexla_mcp.state.base import (
    AuditHead,
    AuditRow,
    OpenWrite,
    RateKey,
    Sealed,
    StateError,
    StateStore,
)

__all__ = [
    "AuditHead",
    "AuditRow",
    "OpenWrite",
    "RateKey",
    "Sealed",
    "StateError",
    "StateStore",
    "default_state_dir",
    "store_for",
]


def default_state_dir() -> Path:
    """Where state lives when ``NEXLA_MCP_STATE_DIR`` is unset."""
    return Path.home() / ".local" / "state" / "nexla-mcp"


def store_for(state_dir: Path, state_url: str | None = None) -> StateStore:
    """The store for these settings (not yet opened)."""
    if state_url:
        from nexla_mcp.state.postgres import PostgresStore

        return PostgresStore(state_url)
    from nexla_mcp.state.sqlite import SQLiteStore

    return SQLiteStore(state_dir)
