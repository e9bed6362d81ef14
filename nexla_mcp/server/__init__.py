"""MCP wiring: ``build_server`` (app.py), the error envelope, transports, text sanitising.

``build_server`` is imported on first use so that importing a light submodule (``text``,
``state``) does not load the MCP SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nexla_mcp.server.app import build_server

__all__ = ["build_server"]


def __getattr__(name: str) -> Any:
    if name == "build_server":
        from nexla_mcp.server.app import build_server

        return build_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
