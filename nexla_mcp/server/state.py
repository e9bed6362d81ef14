"""What the server lifespan yields: the per-process state every tool call can reach, and the
one state store every toolset of a server shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from nexla_mcp.state import store_for

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.settings import Settings
    from nexla_mcp.state import StateStore

__all__ = ["ServerState", "server_store", "store_of_settings"]


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


def store_of_settings(settings: Settings) -> StateStore:
    """A new (unopened) store for ``settings``: PostgreSQL at ``NEXLA_MCP_STATE_URL``, or
    SQLite in the state directory (a sandbox run's own one unless NEXLA_MCP_STATE_DIR is set,
    so simulated writes and operations never land in the live state)."""
    url = settings.state_url.get_secret_value() if settings.state_url is not None else None
    return store_for(settings.effective_state_dir, url)


_built_elsewhere: WeakKeyDictionary[MCPServer[Any], StateStore] = WeakKeyDictionary()


def server_store(server: MCPServer[Any], settings: Settings) -> StateStore:
    """The server's one state store: the one ``build_server`` made (its lifespan opens and
    closes it), or, for a server built some other way, one made now and kept per server, so
    the write gate and the operations journal always share it."""
    store: StateStore | None = getattr(server, "state_store", None)
    if store is None:
        store = _built_elsewhere.get(server)
        if store is None:
            store = _built_elsewhere[server] = store_of_settings(settings)
    return store
