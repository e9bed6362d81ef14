"""``NexlaClient``: the async Nexla REST client every MCP tool stands on.

One method per endpoint, grouped by API area into mixins (``flows``, ``resources``,
``monitoring``, ``operations``); this module wires them to one pooled ``httpx.AsyncClient``, the
token lifecycle (``auth``) and the reliability machinery (``transport``, ``reliability``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from types import TracebackType
from typing import Any

import anyio
import httpx

from nexla_mcp.errors import AuthenticationError
from nexla_mcp.nexla.auth import TokenManager
from nexla_mcp.nexla.flows import FlowsMixin
from nexla_mcp.nexla.monitoring import MonitoringMixin
from nexla_mcp.nexla.operations import OperationsMixin
from nexla_mcp.nexla.reliability import RetryPolicy
from nexla_mcp.nexla.resources import ResourcesMixin
from nexla_mcp.nexla.transport import Transport

__all__ = ["NexlaClient"]


def _resolve_timing(
    timeout: httpx.Timeout | float | None, policy: RetryPolicy
) -> tuple[httpx.Timeout, RetryPolicy]:
    """A float is the whole call's deadline; an ``httpx.Timeout`` sets the per-phase timeouts.

    With a float, each httpx phase keeps its default but never exceeds the deadline.
    """
    if timeout is None:
        return policy.timeout, policy
    if isinstance(timeout, httpx.Timeout):
        return timeout, policy
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    base = policy.timeout

    def cap(value: float | None) -> float:
        return min(value if value is not None else timeout, timeout)

    phases = httpx.Timeout(
        connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool)
    )
    return phases, replace(policy, deadline_s=float(timeout))


class NexlaClient(FlowsMixin, ResourcesMixin, MonitoringMixin, OperationsMixin):
    """Async client for the Nexla REST API; use as ``async with NexlaClient(...) as client:``.

    Configure exactly one of ``service_key`` (preferred: exchanged for session tokens that renew
    themselves) or ``access_token`` (used as is). ``transport`` or ``http_client`` replace the
    network (tests pass ``httpx.ASGITransport(app=sandbox)``); a passed ``http_client`` stays
    owned by the caller. ``sleep``, ``clock`` and ``rng`` make retry schedules testable.

    Raises:
        AuthenticationError: neither or both of service_key/access_token (hint says which to set).
        ValueError: a non-positive timeout.
    """

    def __init__(
        self,
        *,
        api_url: str,
        service_key: str | None = None,
        access_token: str | None = None,
        timeout: httpx.Timeout | float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        service_key = service_key or None
        access_token = access_token or None
        if (service_key is None) == (access_token is None):
            raise AuthenticationError(
                "Configure exactly one of service_key or access_token "
                f"({'both' if service_key else 'neither'} given).",
                hint="Set NEXLA_SERVICE_KEY (preferred) or NEXLA_ACCESS_TOKEN, not both.",
            )
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL; got {api_url!r}")
        phase_timeout, policy = _resolve_timing(timeout, policy or RetryPolicy())
        self.api_url = api_url.rstrip("/")
        self._sleep = sleep
        self._clock = clock
        self._closed = False
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=phase_timeout, follow_redirects=False
        )

        def tokens_from(transport_: Transport) -> TokenManager:
            async def fetch_token() -> Any:
                assert service_key is not None  # only called in service-key mode
                return await transport_.fetch_token(service_key)

            return TokenManager(
                service_key=service_key,
                access_token=access_token,
                fetch_token=fetch_token,
                clock=clock,
            )

        self._transport = Transport(
            api_url=self.api_url,
            http_client=self._http,
            tokens_from=tokens_from,
            policy=policy,
            timeout=phase_timeout,
            sleep=sleep,
            clock=clock,
            rng=rng or random.Random(),
        )

    @property
    def policy(self) -> RetryPolicy:
        """The retry/timeout policy in force."""
        return self._transport.policy

    @property
    def token_renewals(self) -> int:
        """How many session tokens this client has obtained (service-key mode)."""
        return self._transport.tokens.renewals

    async def authenticate(self) -> None:
        """Obtain a session token now (service-key mode); with an access token, nothing to do.

        Raises:
            NexlaError: AuthenticationError for a rejected key, ApiUrlError when the API URL
                is not Nexla's, a NetworkError when the host cannot be reached.
        """
        await self._transport.tokens.token()

    async def __aenter__(self) -> NexlaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Log out (service-key mode, best effort, never raises) and close the owned HTTP pool."""
        if self._closed:
            return
        self._closed = True
        tokens = self._transport.tokens
        try:
            if tokens.can_renew and tokens.current_token is not None:
                with anyio.CancelScope(shield=True):
                    await self._transport.logout(tokens.current_token)
                tokens.forget()
        finally:
            if self._owns_http:
                await self._http.aclose()

    def __repr__(self) -> str:
        mode = "service_key" if self._transport.tokens.can_renew else "access_token"
        return f"NexlaClient(api_url={self.api_url!r}, auth_mode={mode})"
