"""A start-up without cyclic garbage collection.

Importing the MCP SDK, pydantic and this package creates a few hundred thousand long-lived
objects (classes, schemas, validators) and almost no cyclic garbage, yet the collector runs
hundreds of times meanwhile, walking ever more of them: a bare MCPServer's stdio start is
0.06-0.24 s (a tenth to a fifth) faster without it (``bench/cold_start.py``).
``cli.main`` pauses it before importing anything heavy; the server resumes it once it is
ready to answer (``nexla_mcp.server.app``'s lifespan), after freezing what start-up built
so later collections never walk those objects again. The few cycles start-up leaves behind
stay in memory, as the price of never walking its objects.
"""

from __future__ import annotations

import gc

__all__ = ["pause_collection", "resume_collection"]

_paused = False


def pause_collection() -> None:
    """Stop automatic collection until ``resume_collection``; nothing when already stopped."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collection() -> None:
    """Freeze every object alive now and collect automatically again, if this module paused
    collection (a host that disabled it itself keeps it disabled); idempotent."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
