"""HTTP as an OAuth 2.1 resource server: JWTs from a test issuer whose JWKS is served on
loopback, checked for signature, issuer, audience, expiry and scope; the signed-in user bound
into plan tokens, named in the audit log and given a write-rate limit of their own."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from nexla_mcp.server.app import build_server
from nexla_mcp.server.audit import ChainKey
from nexla_mcp.server.http import MCP_PATH, http_app
from nexla_mcp.server.testing import call_error, call_ok, serve_on_loopback
from nexla_mcp.settings import Settings
from nexla_mcp.state import store_for

pytestmark = pytest.mark.anyio

ISSUER = "https://login.example.test"
AUDIENCE = "https://mcp.example.test/mcp"
METADATA = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"
SECRET = "oauth-test-secret-0123456789abcdefghij"
SIGNING = RSAKey.generate_key(2048, parameters={"kid": "issuer-key-1"}, private=True)
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "not-in-the-jwks"}, private=True)
FLOW = 9001


def token(
    sub: str = "alice", *, scope: str = "nexla:read nexla:write", key: RSAKey = SIGNING,
    **claims: Any,
) -> str:  # fmt: skip
    """A JWT as the issuer would sign it; keyword claims override the defaults."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": now + 600, "iat": now,
            "scope": scope, "email": f"{sub}@example.test", **claims}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)


def unsigned(sub: str = "alice") -> str:
    """An ``alg: none`` token with valid claims and no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": int(time.time()) + 600,
              "scope": "nexla:read nexla:write"}  # fmt: skip
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """The issuer's JWKS (public half of SIGNING only), served on loopback."""
    document = KeySet([SIGNING]).as_dict(private=False)
    app = Starlette(routes=[Route("/jwks.json", lambda _: JSONResponse(document))])
    with serve_on_loopback(app) as url:
        yield f"{url}/jwks.json"


def settings_for(jwks_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "sandbox": True, "transport": "http", "toolsets": "flows,control", "secret": SECRET,
        "oauth_issuer": ISSUER, "oauth_audience": AUDIENCE, "oauth_jwks_url": jwks_url,
        "state_dir": tmp_path, "write_rate_limit": 100,
    }  # fmt: skip
    return Settings(**{**options, **overrides})


@pytest.fixture
def served(jwks_url: str, tmp_path: Path, sandbox_app: Any) -> Iterator[str]:
    settings = settings_for(jwks_url, tmp_path, write_rate_limit_per_user=1)
    with serve_on_loopback(
        http_app(build_server(settings, sandbox_app=sandbox_app), settings)
    ) as url:
        yield url


INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip


def post(url: str, bearer: str | None) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return httpx.post(f"{url}{MCP_PATH}", json=INITIALIZE, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("bearer", "status", "error"),
    [
        pytest.param(lambda: None, 401, "invalid_token", id="no-token"),
        pytest.param(lambda: token(exp=int(time.time()) - 120), 401, "invalid_token", id="expired"),
        pytest.param(lambda: token(aud="https://other.example.test/mcp"), 401, "invalid_token",
                     id="wrong-audience"),
        pytest.param(lambda: token(iss="https://evil.example.test"), 401, "invalid_token",
                     id="wrong-issuer"),
        pytest.param(unsigned, 401, "invalid_token", id="alg-none"),
        pytest.param(lambda: token(key=STRANGER), 401, "invalid_token", id="unknown-key"),
        pytest.param(lambda: token(sub=""), 401, "invalid_token", id="no-subject"),
        pytest.param(lambda: "not.a.jwt", 401, "invalid_token", id="garbage"),
        pytest.param(lambda: token(scope="profile"), 403, "insufficient_scope",
                     id="missing-read-scope"),
    ],
)  # fmt: skip
async def test_bad_tokens_get_401_or_403_with_the_www_authenticate_header(
    served: str, bearer: Any, status: int, error: str
) -> None:
    """Each bad token is refused before MCP sees it, with the header the MCP authorization spec
    requires: the error and the protected-resource metadata URL."""
    reply = post(served, bearer())
    assert reply.status_code == status
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'error="{error}"' in challenge
    assert f'resource_metadata="{METADATA}"' in challenge


async def test_a_valid_token_is_served_and_health_needs_none(served: str) -> None:
    """A good token initialises a session; /healthz stays public."""
    assert post(served, token()).status_code == 200
    assert httpx.get(f"{served}/healthz").status_code == 200


async def test_the_protected_resource_metadata_names_the_issuer_and_the_resource(
    served: str,
) -> None:
    """RFC 9728: where clients learn which authorization server to ask, for which resource."""
    reply = httpx.get(f"{served}/.well-known/oauth-protected-resource/mcp")
    assert reply.status_code == 200
    document = reply.json()
    assert document["resource"] == AUDIENCE
    assert document["authorization_servers"] == [ISSUER]
    assert "nexla:read" in document["scopes_supported"]


@asynccontextmanager
async def signed_in(url: str, bearer: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}) as http:
        transport = streamable_http_client(f"{url}{MCP_PATH}", http_client=http)
        async with Client(transport, mode="auto") as client:
            yield client


async def audit_records(state_dir: Path) -> list[dict[str, Any]]:
    store = store_for(state_dir)
    rows = await store.audit_rows()
    await store.close()
    records = [json.loads(row.record) for row in rows]
    assert all(r["key_id"] == ChainKey(SECRET).key_id for r in records)
    return records


async def test_a_plan_made_by_one_user_cannot_be_confirmed_by_another(
    served: str, tmp_path: Path
) -> None:
    """Alice plans; Bob's confirmation is refused (other_principal) and changes nothing; Alice
    confirms it, and the audit log names her as the approver."""
    async with signed_in(served, token("alice", name="Alice Doe")) as alice:
        plan = await call_ok(alice, "pause_flow", {"flow_id": FLOW})
        confirm = {"flow_id": FLOW, "confirm": True, "plan_token": plan["plan_token"]}
        async with signed_in(served, token("bob")) as bob:
            error = await call_error(bob, "pause_flow", confirm)
            assert error["details"]["reason"] == "other_principal"
            assert (await call_ok(bob, "get_flow", {"flow_id": FLOW}))["status"] == "ACTIVE"
        receipt = await call_ok(alice, "pause_flow", confirm)
    assert receipt["status"] == "applied"
    records = await audit_records(tmp_path)
    refusal = next(r for r in records if r["event"] == "refusal")
    approval = next(r for r in records if r["event"] == "approval")
    assert refusal["principal"]["sub"] == "bob"
    assert approval["principal"] == {
        "sub": "alice", "iss": ISSUER, "email": "alice@example.test", "name": "Alice Doe",
        "client_id": "alice",
    }  # fmt: skip


async def test_each_user_has_a_write_rate_limit_of_their_own(served: str) -> None:
    """One write per user per window here: Alice's second is refused as rate_limited, Bob's
    first still goes ahead."""
    async with signed_in(served, token("alice")) as alice, signed_in(served, token("bob")) as bob:
        outcomes = []
        for client, flow_id in ((alice, 9001), (alice, 9005), (bob, 9008)):
            plan = await call_ok(client, "pause_flow", {"flow_id": flow_id})
            confirm = {"flow_id": flow_id, "confirm": True, "plan_token": plan["plan_token"]}
            result = await client.call_tool("pause_flow", confirm)
            outcomes.append(
                json.loads(result.content[0].text)["error"]["details"]["reason"]  # type: ignore[union-attr]
                if result.is_error
                else result.structured_content["status"]  # type: ignore[index]
            )
    assert outcomes == ["applied", "rate_limited", "applied"]


def test_settings_refuse_half_an_oauth_configuration_or_two_kinds_of_auth() -> None:
    """The issuer needs the audience; a shared token and signed-in users do not mix; a public
    bind is allowed with OAuth alone."""
    with pytest.raises(ValueError, match="go together"):
        Settings(sandbox=True, oauth_issuer=ISSUER)
    with pytest.raises(ValueError, match="not both"):
        Settings(sandbox=True, oauth_issuer=ISSUER, oauth_audience=AUDIENCE, http_token="t" * 20)  # type: ignore[arg-type]
    Settings(sandbox=True, transport="http", host="0.0.0.0", oauth_issuer=ISSUER,
             oauth_audience=AUDIENCE)  # fmt: skip
