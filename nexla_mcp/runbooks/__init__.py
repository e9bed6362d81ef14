"""Domain logic behind the tools, with no MCP imports: log clustering, run status and baselines.

Modules here take plain values (log lines, run-summary rows) and return plain dataclasses, so
they are tested as ordinary functions and reused by any tool or prompt that needs them.
"""
