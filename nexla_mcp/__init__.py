"""nexla-mcp: an MCP server for Nexla data flows.

Public names are imported on first use, so ``import nexla_mcp`` (and the CLI's start-up) does
not pay for the MCP SDK or the HTTP client until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nexla_mcp.server.app import build_server
    from nexla_mcp.settings import Settings

__all__ = [
    "Settings",
    "build_server",
]

_LAZY_EXPORTS = {
    "Settings": "nexla_mcp.settings",
    "build_server": "nexla_mcp.server.app",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("nexla-mcp")
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
