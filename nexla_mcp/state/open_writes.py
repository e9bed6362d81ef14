"""The SQL both engines run for writes whose outcome is unknown (no MCP imports).

A write that may or may not have reached Nexla is remembered under the key of its change until
the next plan of that change settles it; entries older than the caller's horizon are forgotten
whenever another is remembered. The statements are written once (``state.dialect``)."""

from __future__ import annotations

from dataclasses import dataclass

from nexla_mcp.state.dialect import for_engine

__all__ = ["OpenWritesSQL", "open_writes_statements"]


@dataclass(frozen=True)
class OpenWritesSQL:
    """The open-write statements for one engine."""

    schema: str
    forget: str
    """Delete the entries remembered before a time."""
    remember: str
    """Insert an entry, or replace the one under the same key."""
    get: str
    """The entry under a key remembered since a time."""
    settle: str
    """Delete the entry under a key."""


def open_writes_statements(prefix: str, placeholder: str, real: str) -> OpenWritesSQL:
    """The statements with the table named ``<prefix>open_writes``."""

    def sql(text: str) -> str:
        return for_engine(text, prefix, placeholder, real)

    return OpenWritesSQL(
        schema=sql(
            "CREATE TABLE IF NOT EXISTS {p}open_writes (key TEXT PRIMARY KEY, "
            "plan_digest TEXT NOT NULL, cause TEXT NOT NULL, since {real} NOT NULL)"
        ),
        forget=sql("DELETE FROM {p}open_writes WHERE since < ?"),
        remember=sql(
            "INSERT INTO {p}open_writes VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "plan_digest = excluded.plan_digest, cause = excluded.cause, since = excluded.since"
        ),
        get=sql(
            "SELECT plan_digest, cause, since FROM {p}open_writes WHERE key = ? AND since >= ?"
        ),
        settle=sql("DELETE FROM {p}open_writes WHERE key = ?"),
    )
