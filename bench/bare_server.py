"""The cold-start baseline: a bare MCPServer with one tool, served over stdio.

With ``--gc-paused`` it starts as ``nexla_mcp.startup_gc`` starts this server: the cyclic
garbage collector paused while importing, start-up objects frozen and collection resumed
before serving. That is the like-for-like baseline: the pause also speeds the SDK's import,
which both servers share.
"""

import gc
import sys

GC_PAUSED = "--gc-paused" in sys.argv[1:]
if GC_PAUSED:
    gc.disable()

from mcp.server.mcpserver import MCPServer  # noqa: E402  (after the pause, as in nexla-mcp)

server = MCPServer("bare", version="0")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    if GC_PAUSED:
        gc.freeze()
        gc.enable()
    server.run()
