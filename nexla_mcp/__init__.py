"""nexla-mcp: an MCP server for Nexla data flows.

Public names are imported on first use, so ``import nexla_mcp`` (and the CLI's start-up) does
not pay for the MCP SDK or the HTTP client until they are needed.
"""

import typing

if typing.TYPE_CHECKING:
    from nexla_mcp.errors import NexlaError
    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.server.app import build_server
    from nexla_mcp.settings import Settings

__all__ = [
    "NexlaClient",
    "NexlaError",
    "Settings",
    "build_server",
]

_LAZY_EXPORTS = {
    "NexlaClient": "nexla_mcp.nexla",
    "NexlaError": "nexla_mcp.errors",
    "Settings": "nexla_mcp.settings",
    "build_server": "nexla_mcp.server.app",
}


def __getattr__(name: str) -> object:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError

        from nexla_mcp.versions import installed_version

        found = installed_version("nexla-mcp")
        if found is None:
            raise PackageNotFoundError("nexla-mcp")
        return found
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
