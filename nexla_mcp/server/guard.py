"""Plan tokens: what binds a confirmed write to the exact plan a person was shown.

A token is ``<payload>.<mac>``, both base64url. The payload names the tool, a digest of the
canonical arguments, the fingerprint of the state the plan was computed from, an expiry
(at most five minutes out) and a random nonce; the MAC is HMAC-SHA256 under a key derived
from ``NEXLA_MCP_SECRET``. Any replica that shares the secret verifies any replica's token.

The token is integrity, not consent: the model carries it between the plan and the confirm
call and could echo it on its own. Consent comes from the human answer asked through
elicitation (``approval.py``); the token only guarantees that what is confirmed is exactly
what was planned, against the state that was planned on, once.

Single use is enforced by the state store (``nexla_mcp.state``): a nonce is spent by inserting
it under a unique key, so of any number of concurrent confirmations, in one process or across
replicas sharing the store, exactly one goes ahead. When the HTTP transport signs users in, the
token also names the principal who planned it, and only that principal can confirm it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from nexla_mcp.state import StateStore

__all__ = [
    "MAX_TTL_S",
    "NonceStore",
    "PlanClaims",
    "PlanGuard",
    "PlanRejected",
    "RejectReason",
    "canonical_json",
    "digest_of",
    "token_digest",
]

MAX_TTL_S = 300
_VERSION = 1
_KEY_LABEL = b"nexla-mcp plan tokens v1"
_MAX_TOKEN_CHARS = 2048

RejectReason = Literal[
    "missing", "invalid", "expired", "other_tool", "other_arguments", "other_principal", "replayed"
]


class PlanRejected(Exception):
    """A plan token that does not authorise this call; ``reason`` says which check failed."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason)
        self.reason: RejectReason = reason


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def token_digest(token: str) -> str:
    """A short, stable name for a token in the audit log (the token itself is never logged)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PlanClaims:
    """What a verified token asserts."""

    tool: str
    arguments_digest: str
    state_fingerprint: str
    expires_at: int
    nonce: str
    principal: str | None = None


class NonceStore:
    """Used nonces, kept in the shared state store until their token has expired anyway."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def is_spent(self, nonce: str) -> bool:
        """True when ``nonce`` was used before (by any process sharing the store)."""
        return await self.store.nonce_spent(nonce)

    async def spend(self, nonce: str, expires_at: int, now: float) -> bool:
        """Mark ``nonce`` used; False when it already was (check and mark are one statement)."""
        return await self.store.spend_nonce(nonce, expires_at, now)


class PlanGuard:
    """Mints and verifies plan tokens under one secret.

    ``clock`` returns epoch seconds; tests move it to expire tokens. ``nonces`` is where used
    tokens are recorded (``check_unused`` and ``spend`` need it; minting and ``verify`` do not).
    """

    def __init__(
        self,
        secret: str,
        *,
        ttl_s: int = MAX_TTL_S,
        clock: Callable[[], float] = time.time,
        nonces: NonceStore | None = None,
    ) -> None:
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"plan tokens live at most {MAX_TTL_S} s")
        if not secret:
            raise ValueError("a plan-token secret is required")
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self.clock = clock
        self.nonces = nonces

    def _mac(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def mint(
        self, tool: str, arguments: Mapping[str, Any], state_fingerprint: str,
        principal: str | None = None,
    ) -> tuple[str, int]:  # fmt: skip
        """A token for running ``tool`` with ``arguments`` against that state, confirmable only
        by ``principal`` (None: whoever reaches this server); and its expiry."""
        expires_at = int(self.clock()) + self.ttl_s
        claims: dict[str, Any] = {
            "v": _VERSION,
            "tool": tool,
            "args": digest_of(dict(arguments)),
            "state": state_fingerprint,
            "exp": expires_at,
            "nonce": _b64encode(secrets.token_bytes(16)),
        }
        if principal is not None:
            claims["who"] = principal
        payload = _b64encode(canonical_json(claims).encode())
        return f"{payload}.{self._mac(payload)}", expires_at

    def verify(
        self, token: str | None, tool: str, arguments: Mapping[str, Any],
        principal: str | None = None,
    ) -> PlanClaims:  # fmt: skip
        """The claims of ``token`` if it authorises ``tool`` with ``arguments`` for
        ``principal`` now. Checks the token alone: whether it was used is ``check_unused``.

        Raises:
            PlanRejected: missing, invalid (not minted with this secret), expired, minted for
                another tool, other arguments or another principal.
        """
        if not token:
            raise PlanRejected("missing")
        claims = self._authentic_claims(token)
        now = self.clock()
        if not now < claims.expires_at <= now + self.ttl_s:
            raise PlanRejected("expired")
        if not hmac.compare_digest(claims.tool, tool):
            raise PlanRejected("other_tool")
        if not hmac.compare_digest(claims.arguments_digest, digest_of(dict(arguments))):
            raise PlanRejected("other_arguments")
        if claims.principal != principal:
            raise PlanRejected("other_principal")
        return claims

    def _nonces(self) -> NonceStore:
        if self.nonces is None:
            raise TypeError("this PlanGuard was built without a nonce store")
        return self.nonces

    async def check_unused(self, claims: PlanClaims) -> None:
        """Refuse a token that was used before (safe to call before asking a person).

        Raises:
            PlanRejected: ``replayed``.
            StateError: the state store cannot be read.
        """
        if await self._nonces().is_spent(claims.nonce):
            raise PlanRejected("replayed")

    async def spend(self, claims: PlanClaims) -> None:
        """Use the token up; from now on every process sharing the store refuses it.

        Raises:
            PlanRejected: ``replayed`` when another call used it first.
            StateError: the state store cannot be written.
        """
        if not await self._nonces().spend(claims.nonce, claims.expires_at, self.clock()):
            raise PlanRejected("replayed")

    def _authentic_claims(self, token: str) -> PlanClaims:
        if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            raise PlanRejected("invalid")
        payload, mac = token.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise PlanRejected("invalid")
        try:
            raw = json.loads(_b64decode(payload))
            claims = PlanClaims(
                tool=str(raw["tool"]),
                arguments_digest=str(raw["args"]),
                state_fingerprint=str(raw["state"]),
                expires_at=int(raw["exp"]),
                nonce=str(raw["nonce"]),
                principal=str(raw["who"]) if "who" in raw else None,
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            # Only reachable with a valid MAC, i.e. a token from a different version of us.
            raise PlanRejected("invalid") from error
        if raw.get("v") != _VERSION:
            raise PlanRejected("invalid")
        return claims
