"""Multi-step writes (credential rotation, schema migration) as journaled, resumable operations.

``journal`` stores each operation and its steps durably; ``actions`` are the requests a step
can make; ``runner`` runs steps forward and rolls them back. No MCP imports here.
"""
