"""The SDK's own OAuth client against the server: it signs in with the read scope the 401
names, meets the write scope's 403 challenge on its first write, authorises again with the
scopes the challenge names, and sends the write again, which plans and then confirms.

The authorization server is a small one on loopback (metadata, client registration, token
endpoint with PKCE, JWKS); its "user" consents to whatever is asked and it records what was.
The MCP server's public name (``mcp.example.test``) reaches the loopback port through the
client's transport, so the resource the client asks tokens for is the one the server names.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nexla_mcp.server.app import build_server
from nexla_mcp.server.http import http_app
from nexla_mcp.server.testing import MODES, call_ok, serve_on_loopback
from nexla_mcp.settings import Settings
from tests.server.test_oauth import AUDIENCE, SECRET, SIGNING

pytestmark = pytest.mark.anyio

PUBLIC_HOST = "mcp.example.test"
FLOW = 9001


class AuthorizationServer:
    """Issues JWTs for ``AUDIENCE`` signed with ``SIGNING``; ``requested`` keeps each
    authorisation's scope, in order."""

    def __init__(self) -> None:
        self.url = ""
        self.requested: list[str] = []
        self.codes: dict[str, tuple[str, str, str]] = {}  # code -> client, scope, challenge
        self.answer: AuthorizationCodeResult | None = None
        self.app = Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self.metadata),
                Route("/register", self.register, methods=["POST"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks.json", self.jwks),
            ]
        )

    async def metadata(self, _: Request) -> Response:
        return JSONResponse({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "registration_endpoint": f"{self.url}/register",
            "response_types_supported": ["code"], "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
        })  # fmt: skip

    async def register(self, request: Request) -> Response:
        client = {
            **(await request.json()),
            "client_id": f"client-{secrets.token_hex(4)}",
            "client_id_issued_at": int(time.time()),
            "token_endpoint_auth_method": "none",
        }
        return JSONResponse(client, status_code=201)

    async def jwks(self, _: Request) -> Response:
        return JSONResponse(KeySet([SIGNING]).as_dict(private=False))

    async def authorize(self, authorization_url: str) -> None:
        """The browser step: the user signs in as grace and consents to the scope asked for."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        self.requested.append(query["scope"])
        code = secrets.token_urlsafe(16)
        self.codes[code] = (query["client_id"], query["scope"], query["code_challenge"])
        self.answer = AuthorizationCodeResult(code=code, state=query["state"])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.answer is not None
        return self.answer

    async def token(self, request: Request) -> Response:
        form = await request.form()
        client, scope, challenge = self.codes.pop(str(form["code"]))
        verifier = hashlib.sha256(str(form["code_verifier"]).encode()).digest()
        if base64.urlsafe_b64encode(verifier).rstrip(b"=").decode() != challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "grace", "client_id": client,
                  "scope": scope, "iat": now, "exp": now + 600}  # fmt: skip
        access = jwt.encode({"alg": "RS256", "kid": SIGNING.kid}, claims, SIGNING)
        return JSONResponse({"access_token": access, "token_type": "Bearer",
                             "expires_in": 600, "scope": scope})  # fmt: skip


class Memory:
    """Token storage for the SDK's OAuth client, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class PublicName(httpx2.AsyncBaseTransport):
    """Resolves the server's public name to its loopback port (https at a proxy, in effect)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host == PUBLIC_HOST:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def issuer() -> Iterator[AuthorizationServer]:
    server = AuthorizationServer()
    with serve_on_loopback(server.app) as url:
        server.url = url
        yield server


@pytest.fixture
def served(issuer: AuthorizationServer, tmp_path: Path, sandbox_app: Any) -> Iterator[int]:
    """The MCP server, trusting ``issuer``; its loopback port."""
    settings = Settings(
        sandbox=True, transport="http", toolsets="flows,control", secret=SECRET,
        oauth_issuer=issuer.url, oauth_audience=AUDIENCE, oauth_jwks_url=f"{issuer.url}/jwks.json",
        allowed_hosts=(PUBLIC_HOST,), state_dir=tmp_path,
    )  # type: ignore[arg-type]  # fmt: skip
    with serve_on_loopback(
        http_app(build_server(settings, sandbox_app=sandbox_app), settings)
    ) as url:
        yield httpx2.URL(url).port or 0


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_oauth_client_signs_in_to_read_and_steps_up_to_write(
    issuer: AuthorizationServer, served: int, mode: Any
) -> None:
    """First sign-in: the read scope alone (the 401 names it). A read works; the first write
    is challenged, the client authorises again for read and write, and the same call goes
    through: the plan, then its confirmation, applied. No third authorisation."""
    oauth = OAuthClientProvider(
        server_url=AUDIENCE,
        client_metadata=OAuthClientMetadata(
            redirect_uris=["http://127.0.0.1:1/callback"],  # type: ignore[list-item]
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            client_name="step-up test",
        ),  # fmt: skip
        storage=Memory(),
        redirect_handler=issuer.authorize,
        callback_handler=issuer.callback,
    )
    async with httpx2.AsyncClient(transport=PublicName(served), auth=oauth) as http:
        transport = streamable_http_client(AUDIENCE, http_client=http)
        with anyio.fail_after(30):
            async with Client(transport, mode=mode) as client:
                assert (await call_ok(client, "get_flow", {"flow_id": FLOW}))["status"] == "ACTIVE"
                assert issuer.requested == ["nexla:read"]
                plan = await call_ok(client, "pause_flow", {"flow_id": FLOW})
                assert issuer.requested == ["nexla:read", "nexla:read nexla:write"]
                confirm = {"flow_id": FLOW, "confirm": True, "plan_token": plan["plan_token"]}
                receipt = await call_ok(client, "pause_flow", confirm)
    assert receipt["status"] == "applied"
    assert len(issuer.requested) == 2
