"""The built tool list, cached on disk so a start does not rebuild every tool's schemas.

Building a tool (its pydantic argument model, its input and output JSON schemas, then their
compaction) is most of what this server adds to a start before the first ``tools/list``
answer. What comes out depends only on this package's code, the libraries that derive the
schemas (the MCP SDK, pydantic, Python itself) and the settings, so it is written once per
combination of these, to ``<state dir>/cache/tools-<key>.json``, and read back on the next
start instead of building.

The key is a SHA-256 over the exact bytes of every file of the package, those library
versions and every setting (secrets only as set or unset, never their value): any code change
(a docstring, a field, a type), any upgrade and any other configuration gets a new key, so a
file is never read for a tool list it does not describe. A file that cannot be read, does not
parse, names another key or holds anything but tools is ignored and the tools are built as
without a cache; a file that cannot be written costs nothing but the next start's time. Files
are written whole and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.types import Tool

    from nexla_mcp.settings import Settings

__all__ = ["PACKAGE_DIR", "ToolListCache", "cache_key", "source_digest"]

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Bumped when the file layout below changes, so an old server's file is never misread.
_FORMAT = 1
# Cache files kept per directory: enough for every profile a host switches between.
_KEEP = 16
# Libraries whose code shapes a tool's schemas besides this package.
_LIBRARIES = (
    "mcp",
    "mcp-types",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
)


def source_digest(root: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the relative path and bytes of every file under ``root`` (compiled
    bytecode left out), in a stable order."""
    digest = hashlib.sha256()
    prefix = len(os.path.join(root, ""))  # strings, not Paths: a Path per file costs a start ms
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(name for name in subdirectories if name != "__pycache__")
        for name in sorted(files):
            path = os.path.join(directory, name)
            with open(path, "rb") as file:
                content = file.read()
            relative = path[prefix:].replace(os.sep, "/").encode()
            digest.update(b"%d:%s%d:" % (len(relative), relative, len(content)))
            digest.update(content)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    from nexla_mcp.versions import installed_version

    versions = {"python": sys.version}
    for name in _LIBRARIES:
        versions[name] = installed_version(name) or "absent"
    return versions


def cache_key(settings: Settings, sources: Path = PACKAGE_DIR) -> str:
    """The key of the tool list ``settings`` give with the code under ``sources``."""
    material = {
        "format": _FORMAT,
        "sources": source_digest(sources),
        "libraries": _library_versions(),
        # SecretStr fields dump as a mask: a secret counts as set or unset, its value never
        # reaches the key (nor could a cache file reveal it).
        "settings": settings.model_dump(mode="json"),
    }
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


class ToolListCache:
    """One server's cached tool list: ``load`` the tools by name, ``save`` a built list."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.key = key
        self.path = directory / f"tools-{key[:32]}.json"

    @classmethod
    def for_settings(
        cls, settings: Settings, *, directory: Path | None = None, sources: Path = PACKAGE_DIR
    ) -> ToolListCache:
        """The cache of ``settings`` in ``directory`` (default ``<state dir>/cache``)."""
        return cls(directory or settings.state_dir / "cache", cache_key(settings, sources))

    def load(self) -> dict[str, Tool] | None:
        """Tool name -> tool, in the order they were listed when saved; None when there is
        no usable file for this key."""
        from mcp.types import Tool
        from pydantic import ValidationError

        try:
            stored = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("tool cache %s unreadable, building the tools: %s", self.path, error)
            return None
        try:
            if not isinstance(stored, dict) or stored.get("key") != self.key:
                raise ValueError("written for another key")
            tools = [Tool.model_validate(tool) for tool in stored["tools"]]
        except (KeyError, TypeError, ValueError, ValidationError) as error:
            logger.warning("tool cache %s ignored, building the tools: %s", self.path, error)
            return None
        by_name = {tool.name: tool for tool in tools}
        if len(by_name) != len(tools):
            logger.warning("tool cache %s ignored: a tool is listed twice", self.path)
            return None
        return by_name

    def save(self, tools: list[Tool]) -> None:
        """Write ``tools`` (a complete list, in listing order) for this key; failures are
        logged, never raised (the cache only saves time)."""
        document = {
            "key": self.key,
            "tools": [tool.model_dump(mode="json", by_alias=True) for tool in tools],
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tools-")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    json.dump(document, file, separators=(",", ":"))
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            self._prune()
        except OSError as error:
            logger.info("tool cache %s not written: %s", self.path, error)

    def _prune(self) -> None:
        files = sorted(
            self.directory.glob("tools-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for old in files[_KEEP:]:
            old.unlink(missing_ok=True)
