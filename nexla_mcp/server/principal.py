"""Who is calling: the signed-in principal of an HTTP request, when the server checks JWTs.

The SDK's bearer middleware puts the verified access token in a context variable for the
request; a write binds its plan token to the principal's id, counts it against the
principal's write rate, and names the principal in the audit log. On stdio and with the
static bearer token there is no principal (None): the server cannot tell callers apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token

__all__ = ["Principal", "current_principal"]


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or service) as the identity provider's token names them."""

    subject: str
    issuer: str | None = None
    client_id: str | None = None
    email: str | None = None
    name: str | None = None
    scopes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """A stable, opaque id: subjects are unique only per issuer, so both go in."""
        raw = f"{self.issuer or ''}\n{self.subject}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def audit_fields(self) -> dict[str, Any]:
        """How the audit log names the principal (absent claims left out)."""
        fields = {"sub": self.subject, "iss": self.issuer, "email": self.email,
                  "name": self.name, "client_id": self.client_id}  # fmt: skip
        return {key: value for key, value in fields.items() if value}


def current_principal() -> Principal | None:
    """The principal of the request being served, or None when nobody signed in."""
    token = get_access_token()
    if token is None or not token.subject:
        return None
    claims = token.claims or {}

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) and value else None

    return Principal(
        subject=token.subject, issuer=text("iss"), client_id=token.client_id,
        email=text("email"), name=text("name"), scopes=tuple(token.scopes),
    )  # fmt: skip
