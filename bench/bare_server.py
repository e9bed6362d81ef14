"""The cold-start baseline: a bare MCPServer with one tool, served over stdio."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare", version="0")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    server.run()
