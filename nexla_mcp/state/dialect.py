"""SQL written once for both engines: ``?`` placeholders, ``{p}`` before each table name and
``{real}`` for the floating-point type, turned into each engine's own by ``for_engine``."""

from __future__ import annotations

__all__ = ["for_engine"]


def for_engine(text: str, prefix: str, placeholder: str, real: str) -> str:
    """``text`` with tables named ``<prefix><name>``, ``placeholder`` for ``?`` and ``real``
    for ``{real}``."""
    return text.replace("{p}", prefix).replace("{real}", real).replace("?", placeholder)
