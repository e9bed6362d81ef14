"""What the server lifespan yields: the per-process state every tool call can reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.settings import Settings
    from nexla_mcp.state import StateStore

__all__ = ["ServerState"]


@dataclass(frozen=True, slots=True)
class ServerState:
    """The settings the server was built with, the one Nexla client it owns and its state
    store (shared with other replicas)."""

    settings: Settings
    client: NexlaClient
    store: StateStore | None = None
    enabled_tools: dict[str, set[str]] = field(default_factory=dict, compare=False)
    """Tools ``enable_toolset`` added for callers without a session, by scope: ``server`` or
    ``user:<principal id>`` (``nexla_mcp.server.toolset_scopes``)."""
