"""The ``NexlaClient`` a configuration describes; the server and ``nexla-mcp doctor`` share it.

Imports stay inside the functions: the stdio server's start-up imports this module, and the
client (httpx, stamina) and the sandbox load only when a client is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexla_mcp.settings import SANDBOX_API_URL, Settings

if TYPE_CHECKING:
    import httpx

    from nexla_mcp.nexla import NexlaClient, RetryPolicy

__all__ = ["api_url", "nexla_client"]


def api_url(settings: Settings) -> str:
    """Where the client sends requests: the in-process sandbox's fixed URL in sandbox mode."""
    return SANDBOX_API_URL if settings.sandbox else settings.api_url


def nexla_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    http_client: httpx.AsyncClient | None = None,
    policy: RetryPolicy | None = None,
) -> NexlaClient:
    """A client signed in as ``settings`` say: the sandbox's own service key in sandbox mode,
    else the service key, or the access token when no service key is set."""
    from nexla_mcp.nexla import NexlaClient

    if settings.sandbox:
        from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY

        service_key, access_token = DEFAULT_SERVICE_KEY, None
    else:
        service_key = settings.service_key.get_secret_value() if settings.service_key else None
        access_token = (
            None
            if settings.service_key or settings.access_token is None
            else settings.access_token.get_secret_value()
        )
    return NexlaClient(
        api_url=api_url(settings),
        service_key=service_key,
        access_token=access_token,
        timeout=settings.timeout_s,
        transport=transport,
        http_client=http_client,
        policy=policy,
    )
