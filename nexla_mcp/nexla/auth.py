"""Session-token lifecycle: service key → ``POST /token``, proactive renewal, single-flight renewal.

Two modes, exactly one of which is configured:

- **service key** (preferred): the key is exchanged for a session token; the token is cached and
  renewed when less than ``min(60 s, 20 % of its lifetime)`` remains — not the SDK's 3600 s margin,
  which re-logs-in before every call when tokens live an hour (fact sheet §2.2, §19 #4). A 401
  triggers one renewal shared by every concurrent caller (an ``anyio.Lock`` plus a check that
  nobody renewed meanwhile), then the original call is retried once.
- **access token**: used as is and never renewed; a 401 is final.

Both the service key and every token obtained are registered with :mod:`nexla_mcp.redaction`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from nexla_mcp.errors import ApiUrlError, AuthenticationError
from nexla_mcp.redaction import register_secret

__all__ = ["DEFAULT_TOKEN_LIFETIME_S", "TokenManager", "renewal_margin"]

logger = logging.getLogger("nexla_mcp.nexla")

# The docs say session tokens live about an hour; assume that when the server omits expires_in.
DEFAULT_TOKEN_LIFETIME_S = 3600.0

ACCESS_TOKEN_HINT = (
    "The access token was rejected and access tokens cannot be renewed: set NEXLA_SERVICE_KEY "
    "(renews itself) or a fresh NEXLA_ACCESS_TOKEN."
)
SERVICE_KEY_HINT = "Nexla rejected the service key: check NEXLA_SERVICE_KEY."

TokenFetcher = Callable[[], Awaitable[Any]]


def renewal_margin(lifetime_s: float) -> float:
    """Seconds before expiry at which a token is renewed: min(60 s, 20 % of its lifetime)."""
    return min(60.0, 0.2 * lifetime_s)


class TokenManager:
    """Holds the current bearer token and renews it when due or when the server says 401."""

    def __init__(
        self,
        *,
        service_key: str | None,
        access_token: str | None,
        fetch_token: TokenFetcher,
        clock: Callable[[], float],
    ) -> None:
        if (service_key is None) == (access_token is None):
            raise AuthenticationError(
                "Configure exactly one of service_key or access_token.",
                hint="Set NEXLA_SERVICE_KEY (preferred) or NEXLA_ACCESS_TOKEN, not both.",
            )
        self._service_key = service_key
        self._token = access_token
        self._expires_at = float("inf")
        self._fetch_token = fetch_token
        self._clock = clock
        self._lock = anyio.Lock()
        self.renewals = 0
        register_secret(service_key, "service_key")
        register_secret(access_token, "access_token")

    @property
    def can_renew(self) -> bool:
        """True in service-key mode."""
        return self._service_key is not None

    @property
    def service_key(self) -> str | None:
        """The service key (service-key mode), for the ``POST /token`` Basic header."""
        return self._service_key

    @property
    def current_token(self) -> str | None:
        """The cached token without renewing (None before the first call in service-key mode)."""
        return self._token

    def _due(self) -> bool:
        return self._token is None or self._clock() >= self._expires_at

    async def token(self) -> str:
        """A bearer token that is not about to expire, renewing first if needed."""
        if self._token is not None and not self._due():
            return self._token
        return await self.renew(stale=self._token)

    async def renew(self, *, stale: str | None) -> str:
        """Obtain a new token unless another caller already replaced ``stale`` (single flight).

        Raises:
            AuthenticationError: in access-token mode, or when Nexla rejects the service key.
        """
        if not self.can_renew:
            raise AuthenticationError(
                "Nexla rejected the access token (HTTP 401).",
                hint=ACCESS_TOKEN_HINT,
                status_code=401,
            )
        async with self._lock:
            if self._token is not None and self._token != stale and not self._due():
                return self._token
            try:
                body = await self._fetch_token()
            except AuthenticationError as exc:
                raise AuthenticationError(
                    exc.message,
                    hint=exc.hint if exc.fault else SERVICE_KEY_HINT,
                    status_code=exc.status_code,
                    context=exc.context,
                    operation="obtain_session_token",
                    fault=exc.fault or "service_key",
                ) from exc
            token, lifetime = _parse_token_body(body)
            register_secret(token, "access_token")
            self._token = token
            self._expires_at = self._clock() + lifetime - renewal_margin(lifetime)
            self.renewals += 1
            logger.info("obtained a Nexla session token valid for %.0f s", lifetime)
            return token

    def forget(self) -> None:
        """Drop the cached token (after logout)."""
        if self.can_renew:
            self._token = None
            self._expires_at = float("inf")


def _parse_token_body(body: Any) -> tuple[str, float]:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ApiUrlError(
            "POST /token succeeded but returned no access_token: NEXLA_API_URL does not point "
            "at the Nexla API.",
            operation="obtain_session_token",
        )
    expires_in = body.get("expires_in")
    lifetime = (
        float(expires_in)
        if isinstance(expires_in, int | float)
        and not isinstance(expires_in, bool)
        and expires_in > 0
        else DEFAULT_TOKEN_LIFETIME_S
    )
    return body["access_token"], lifetime
