"""Session tokens: `POST /token` with the service key, Bearer checks, refresh and logout (§2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox.errors import ApiError
from nexla_mcp.sandbox.http import empty_response, json_response
from nexla_mcp.sandbox.store import OPS_USER, ORG

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

DEFAULT_SERVICE_KEY = "nxsk_sbx_4f9e2c7a1b8d4e6f9a3c5b7d1e0f2a4c6b8d0e2f"

_ACCEPTABLE = (
    "application/vnd.nexla.api.v1+json",
    "application/vnd.nexla.v1+json",
    "application/json",
    "application/*",
    "*/*",
)


@dataclass(slots=True)
class Token:
    value: str
    issued_s: float
    expires_s: float


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenRegistry:
    """Issued session tokens; validity is judged on the injected clock."""

    def __init__(self, clock: Callable[[], float], ttl_s: int) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        # Set by the token_ttl_s fault: caps every token's lifetime, existing ones included.
        self.ttl_cap_s: int | None = None
        self._signing_key = secrets.token_bytes(32)
        self._tokens: dict[str, Token] = {}

    def issue(self) -> Token:
        now = self.clock()
        ttl = self.ttl_s if self.ttl_cap_s is None else min(self.ttl_s, self.ttl_cap_s)
        header = _b64({"alg": "HS256", "typ": "JWT"})
        payload = _b64(
            {
                "sub": OPS_USER.id,
                "org": ORG["id"],
                "iat": int(now),
                "exp": int(now + ttl),
                "jti": secrets.token_hex(8),
            }
        )
        signature = hmac.new(
            self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        value = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
        token = Token(value, now, now + ttl)
        self._tokens[value] = token
        return token

    def is_valid(self, value: str) -> bool:
        token = self._tokens.get(value)
        if token is None:
            return False
        expires = token.expires_s
        if self.ttl_cap_s is not None:
            expires = min(expires, token.issued_s + self.ttl_cap_s)
        return self.clock() < expires

    def revoke(self, value: str) -> None:
        self._tokens.pop(value, None)

    def require(self, request: Request) -> str:
        """The caller's valid Bearer token, or a bare 401."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or not self.is_valid(value):
            raise ApiError(401)
        return value


def check_accept(request: Request) -> None:
    """Accept the SDK's vendor type, the seed's variant, plain JSON and wildcards (§19 #1)."""
    header = request.headers.get("accept")
    if not header:
        return
    ranges = [part.split(";", 1)[0].strip().lower() for part in header.split(",")]
    if not any(media in _ACCEPTABLE for media in ranges):
        raise ApiError(406, f"Unsupported Accept header: {header[:100]}")


def _user_body() -> dict[str, Any]:
    return {
        "id": OPS_USER.id,
        "email": OPS_USER.email,
        "full_name": OPS_USER.full_name,
        "impersonated": False,
        "default_org": {"id": ORG["id"], "name": ORG["name"]},
        "user_tier": "PAID",
        "status": "ACTIVE",
        "account_locked": False,
        "org_memberships": [
            {
                "id": ORG["id"],
                "name": ORG["name"],
                "is_admin?": True,
                "org_membership_status": "ACTIVE",
            }
        ],
        "custodian_for_orgs": [],
        "custodian_for_domains": [],
        "email_verified_at": "2024-06-01T09:00:00.000Z",
        "tos_signed_at": "2024-06-01T09:00:00.000Z",
        "updated_at": "2025-01-02T00:00:00.000Z",
        "created_at": "2024-06-01T09:00:00.000Z",
    }


def _token_body(token: Token) -> dict[str, Any]:
    return {
        "access_token": token.value,
        "token_type": "Bearer",
        "expires_in": max(0, int(token.expires_s - token.issued_s)),
        "user": _user_body(),
        "org_membership": {
            "api_key": "sbx-org-api-key-redacted",
            "status": "ACTIVE",
            "is_admin?": True,
            "access_role": "admin",
            "access_role_expires_at": None,
        },
        "org": {
            "id": ORG["id"],
            "name": ORG["name"],
            "cluster_id": 1,
            "new_cluster_id": None,
            "cluster_status": "ACTIVE",
            "status": "ACTIVE",
            "email_domain": ORG["email_domain"],
            "email": None,
            "client_identifier": None,
            "self_signup": False,
            "features_enabled": [],
            "org_tier": None,
            "org_webhook_host": None,
            "nexset_api_host": None,
        },
    }


async def login(request: Request, sandbox: Sandbox) -> Response:
    """`POST /token` with `Authorization: Basic <service key>` (the raw key, not base64)."""
    parts = request.headers.get("authorization", "").split()
    if len(parts) < 2:
        raise ApiError(400, "Invalid header format")
    scheme, key = parts[0], " ".join(parts[1:])
    if scheme.lower() != "basic" or not hmac.compare_digest(
        key.encode(), sandbox.service_key.encode()
    ):
        raise ApiError(401)
    return json_response(_token_body(sandbox.tokens.issue()))


async def refresh(request: Request, sandbox: Sandbox) -> Response:
    """`POST /token/refresh` with the current Bearer token (older SDKs, §2.2)."""
    if len(request.headers.get("authorization", "").split()) != 2:
        raise ApiError(400, "Invalid header format")
    sandbox.tokens.require(request)
    return json_response(_token_body(sandbox.tokens.issue()))


async def logout(request: Request, sandbox: Sandbox) -> Response:
    if len(request.headers.get("authorization", "").split()) != 2:
        raise ApiError(400, "Invalid header format")
    sandbox.tokens.revoke(sandbox.tokens.require(request))
    return empty_response()


async def current_user(request: Request, sandbox: Sandbox) -> Response:
    """`GET /users/current`."""
    return json_response({**_user_body(), "org": {"id": ORG["id"], "name": ORG["name"]}})
