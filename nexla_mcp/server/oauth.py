"""HTTP as an OAuth 2.1 resource server: JWT access tokens checked against the issuer's JWKS.

With ``NEXLA_MCP_OAUTH_ISSUER`` and ``NEXLA_MCP_OAUTH_AUDIENCE`` set, the SDK's bearer
middleware asks ``JwtVerifier`` about every request to ``/mcp``: the token must be a JWS signed
by a key in the issuer's JWKS with an asymmetric algorithm (``alg: none`` and HMAC are
refused), issued by that issuer, for this server's audience (the resource URL, RFC 8707),
unexpired, and naming a subject. A token that fails gets 401 with the ``WWW-Authenticate``
header the MCP authorization spec requires (``resource_metadata`` points at the
protected-resource metadata, which the SDK serves); one without the read scope gets 403
``insufficient_scope``. The write scope is checked by the write gate, per call.

The JWKS is fetched on first use and cached for five minutes; a token naming a key id the
cache lacks refetches it (at most every 30 s), so the issuer can rotate keys.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from mcp.server.auth.provider import AccessToken, TokenVerifier

if TYPE_CHECKING:
    from mcp.server.auth.settings import AuthSettings

    from nexla_mcp.settings import Settings

__all__ = ["ALGORITHMS", "JwtVerifier", "auth_settings", "verifier_for"]

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
_CACHE_S = 300.0
_REFETCH_S = 30.0
_LEEWAY_S = 30
_MAX_TOKEN_CHARS = 16_384


class JwtVerifier(TokenVerifier):
    """Checks JWT access tokens for one issuer and audience (see the module docstring)."""

    def __init__(
        self, issuer: str, audience: str, jwks_url: str, *,
        http: httpx.AsyncClient | None = None,
    ) -> None:  # fmt: skip
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._http = http
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = anyio.Lock()

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's access information, or None (the middleware answers 401)."""
        if len(token) > _MAX_TOKEN_CHARS:
            return None
        try:
            kid = _key_id(token)
            keys = await self._key_set(kid)
            decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                leeway=_LEEWAY_S,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, httpx.HTTPError) as error:
            # Why a token was refused helps the operator; the token itself is never logged.
            logger.info("bearer token refused: %s", type(error).__name__)
            return None
        claims: dict[str, Any] = decoded.claims
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or claims["sub"]),
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=self.audience,
            subject=str(claims["sub"]),
            claims={k: v for k in ("iss", "email", "name") if isinstance(v := claims.get(k), str)},
        )

    async def _key_set(self, kid: str | None) -> KeySet:
        async with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > _CACHE_S
            unknown = kid is not None and self._keys is not None and not _has_kid(self._keys, kid)
            if self._keys is None or stale or (unknown and now - self._fetched_at > _REFETCH_S):
                self._keys = await self._fetch()
                self._fetched_at = now
            return self._keys

    async def _fetch(self) -> KeySet:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        reply = await self._http.get(self.jwks_url)
        reply.raise_for_status()
        return KeySet.import_key_set(reply.json())


def _key_id(token: str) -> str | None:
    from joserfc.jws import extract_compact

    header = extract_compact(token.encode()).protected
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _scopes(claims: dict[str, Any]) -> list[str]:
    """``scope`` (a space-separated string, RFC 9068) or ``scp`` (a list, some providers)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    listed = claims.get("scp")
    return [str(item) for item in listed] if isinstance(listed, list) else []


def verifier_for(settings: Settings) -> JwtVerifier | None:
    """The verifier HTTP uses, or None when no issuer is configured."""
    if settings.oauth_issuer is None or settings.oauth_audience is None:
        return None
    issuer = settings.oauth_issuer.rstrip("/")
    jwks_url = settings.oauth_jwks_url or f"{issuer}/.well-known/jwks.json"
    return JwtVerifier(settings.oauth_issuer, settings.oauth_audience, jwks_url)


def auth_settings(settings: Settings) -> AuthSettings | None:
    """The SDK's resource-server settings: the issuer, this resource and the read scope."""
    from mcp.server.auth.settings import AuthSettings

    if settings.oauth_issuer is None or settings.oauth_audience is None:
        return None
    return AuthSettings(
        issuer_url=settings.oauth_issuer,  # type: ignore[arg-type]
        resource_server_url=settings.oauth_audience,  # type: ignore[arg-type]
        required_scopes=[settings.oauth_read_scope],
        # The verifier checks the audience itself (aud must equal the resource URL).
        validate_token_resource=False,
    )
