"""Domain logic behind the tools, with no MCP imports.

Modules here take plain values (log lines, run-summary rows, flow documents) and return plain
dataclasses, so they are tested as ordinary functions and shared by every tool and prompt that
needs them: ``clustering`` (log lines into templates), ``runs`` (run status, baselines, flow
health), and the diagnosis, health and SLA runbooks built on them.
"""
