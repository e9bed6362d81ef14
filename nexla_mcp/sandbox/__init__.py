"""A faithful, self-contained simulation of the Nexla REST API (see `docs/nexla-api.md`).

`create_app()` returns a Starlette app serving the API at its root (`/token`, `/flows`, ...)
plus a `/_sandbox/` control API. It is seeded with a deterministic org whose flows show
every row of the troubleshooting table. It imports nothing else from `nexla_mcp`, so it
cannot share a bug with the client it is used to test.
"""

from __future__ import annotations

from nexla_mcp.sandbox.app import create_app
from nexla_mcp.sandbox.auth import DEFAULT_SERVICE_KEY
from nexla_mcp.sandbox.planted import PLANTED_SECRETS

__all__ = ["DEFAULT_SERVICE_KEY", "PLANTED_SECRETS", "create_app"]
