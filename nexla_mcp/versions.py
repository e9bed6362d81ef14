"""Installed distribution versions, read without parsing the whole metadata file.

``importlib.metadata.version`` parses a distribution's METADATA as an e-mail message, about a
millisecond a call, and a start asks for several (the server's version, the User-Agent, the
tool-list cache key). The version is the ``Version:`` header, which precedes the body.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import PackageNotFoundError, distribution

__all__ = ["installed_version"]

_VERSION_HEADER = re.compile(r"^Version:[ \t]*(\S+)[ \t]*$", re.MULTILINE)


@functools.cache
def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name``; None when it is not installed."""
    try:
        found = distribution(name)
    except PackageNotFoundError:
        return None
    headers = (found.read_text("METADATA") or found.read_text("PKG-INFO") or "").split("\n\n")[0]
    match = _VERSION_HEADER.search(headers)
    return match.group(1) if match else found.version
