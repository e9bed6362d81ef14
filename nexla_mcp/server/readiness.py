"""``/readyz``: whether this replica should get traffic (its state store and Nexla answer).

``/healthz`` says the process is alive; ``/readyz`` says it can do its job. A balancer or
Kubernetes takes a replica out of rotation on 503: when its state store cannot be reached
(writes would be refused), when Nexla cannot be reached or refuses the credential, or while it
is shutting down (in-flight calls finish; new ones should go elsewhere). Each check has a
short deadline, and only the kind of error is reported, never its text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from nexla_mcp.errors import NexlaError
from nexla_mcp.state import StateError

if TYPE_CHECKING:
    from nexla_mcp.server.tool_server import NexlaMCPServer

__all__ = ["CHECK_TIMEOUT_S", "readiness"]

CHECK_TIMEOUT_S = 5.0


async def _check_store(server: NexlaMCPServer) -> str:
    if server.serving is None or server.serving.settings.read_only:
        return "not used (read-only)" if server.serving is not None else "not started"
    if server.state_store is None:
        return "missing"
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            await server.state_store.ping()
    except (StateError, TimeoutError) as error:
        return f"unavailable ({type(error).__name__})"
    return "ok"


async def _check_nexla(server: NexlaMCPServer) -> str:
    if server.serving is None:
        return "not started"
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            await server.serving.client.list_flows(page=1, per_page=1)
    except (NexlaError, TimeoutError) as error:
        return f"unavailable ({type(error).__name__})"
    return "ok"


async def readiness(server: NexlaMCPServer) -> tuple[bool, dict[str, Any]]:
    """Whether the server is ready, and the document ``/readyz`` answers with."""
    if server.draining:
        return False, {"status": "draining"}
    checks = {"state_store": await _check_store(server), "nexla": await _check_nexla(server)}
    ready = all(value == "ok" or value.startswith("not used") for value in checks.values())
    return ready, {"status": "ready" if ready else "not_ready", "checks": checks}
