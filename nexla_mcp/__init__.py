"""nexla-mcp: an MCP server for Nexla data flows."""
