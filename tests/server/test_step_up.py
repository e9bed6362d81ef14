"""The write scope as an HTTP step-up: a write tool call whose token has only the read scope
gets 403 with the MCP authorization spec's scope challenge; a client that obtains a token with
the named scopes and sends the request again gets its plan and confirms it. Each refused call
is a refusal in the audit chain, naming the user and the tool. Reads are untouched, request
bodies pass on unchanged, and the protected-resource metadata names both scopes. Tokens come
from a test issuer whose JWKS is served on loopback (``test_oauth.py``)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from nexla_mcp.server.app import build_server
from nexla_mcp.server.audit import ChainKey, verify_audit_store
from nexla_mcp.server.guard import token_digest
from nexla_mcp.server.http import MCP_PATH, http_app
from nexla_mcp.server.step_up import WriteScopeChallenge, write_tools
from nexla_mcp.server.testing import MODES, call_ok, serve_on_loopback
from nexla_mcp.state import store_for
from tests.server.test_oauth import METADATA, SECRET, audit_records, jwks_url, settings_for, token

pytestmark = pytest.mark.anyio

# Re-exported so pytest finds the issuer's JWKS fixture (served on loopback) in this module.
__all__ = ["jwks_url"]

FLOW = 9001
CHALLENGE = (
    'Bearer error="insufficient_scope", scope="nexla:read nexla:write", '
    f'resource_metadata="{METADATA}", '
    'error_description="Changing Nexla needs the nexla:write scope"'
)
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def served(jwks_url: str, tmp_path: Path, sandbox_app: Any) -> Iterator[str]:
    settings = settings_for(jwks_url, tmp_path)
    with serve_on_loopback(
        http_app(build_server(settings, sandbox_app=sandbox_app), settings)
    ) as url:
        yield url


def tool_call(name: str, arguments: dict[str, Any], request_id: int = 7) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}  # fmt: skip


def post(url: str, bearer: str, body: Any) -> httpx.Response:
    headers = {**HEADERS, "Authorization": f"Bearer {bearer}"}
    return httpx.post(f"{url}{MCP_PATH}", content=json.dumps(body), headers=headers, timeout=30)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(tool_call("pause_flow", {"flow_id": FLOW}), id="plan"),
        pytest.param(
            tool_call("pause_flow", {"flow_id": FLOW, "confirm": True, "plan_token": "x" * 40}),
            id="confirm",
        ),
        pytest.param(
            tool_call("update_resource", {"resource_type": "source", "resource_id": 1}),
            id="another-write-tool",
        ),
        pytest.param(
            [
                tool_call("get_flow", {"flow_id": FLOW}, 1),
                tool_call("activate_flow", {"flow_id": FLOW}, 2),
            ],
            id="batch",
        ),
    ],
)
async def test_a_write_call_with_only_the_read_scope_gets_403_and_the_scope_challenge(
    served: str, body: Any
) -> None:
    """Plan, confirmation, any other write tool, or a batch with one write in it: HTTP 403 and
    the challenge naming the scopes the call needs and where the metadata is."""
    reply = post(served, token("carol", scope="nexla:read"), body)
    assert reply.status_code == 403
    assert reply.headers["WWW-Authenticate"] == CHALLENGE
    assert reply.json()["error"] == "insufficient_scope"


async def test_each_refused_write_call_is_a_refusal_in_the_audit_chain(
    served: str, tmp_path: Path
) -> None:
    """A plan, a confirmation and a batch of two writes, all with the read scope only: one
    refusal per write call, naming Carol, the tool, the scope and the HTTP step-up, with the
    plan token as a digest and never her access token; her read adds nothing; the chain
    holds."""
    carol = token("carol", scope="nexla:read", name="Carol Roe")
    confirm = {"flow_id": FLOW, "confirm": True, "plan_token": "p" * 40}
    bodies = [
        tool_call("pause_flow", {"flow_id": FLOW}),
        tool_call("pause_flow", confirm),
        tool_call("get_flow", {"flow_id": FLOW}),
        [tool_call("activate_flow", {"flow_id": 9005}, 1),
         tool_call("delete_flow", {"flow_id": 9008}, 2)],
    ]  # fmt: skip
    statuses = [post(served, carol, body).status_code for body in bodies]
    assert statuses[2] != 403, "the read is passed on (the SDK answers it)"
    assert statuses[:2] + statuses[3:] == [403, 403, 403]
    records = await audit_records(tmp_path)
    assert [(r["event"], r["tool"], r["args"]) for r in records] == [
        ("refusal", "pause_flow", {"flow_id": FLOW}),
        ("refusal", "pause_flow", {"flow_id": FLOW}),
        ("refusal", "activate_flow", {"flow_id": 9005}),
        ("refusal", "delete_flow", {"flow_id": 9008}),
    ]
    for record in records:
        assert (record["outcome"], record["reason"]) == ("refused", "insufficient_scope")
        assert record["stage"] == "http_step_up"
        assert record["principal"] == {"sub": "carol", "iss": "https://login.example.test",
                                       "email": "carol@example.test", "name": "Carol Roe",
                                       "client_id": "carol"}  # fmt: skip
    assert [r.get("plan_digest") for r in records] == [None, token_digest("p" * 40), None, None]
    assert carol not in json.dumps(records) and "p" * 40 not in json.dumps(records)
    store = store_for(tmp_path)
    check = await verify_audit_store(store, ChainKey(SECRET))
    await store.close()
    assert check.ok and check.records == 4


async def test_a_refusal_that_cannot_be_audited_is_still_a_403(
    jwks_url: str, tmp_path: Path, sandbox_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The state directory is a file, so no record can be written: the call is refused all the
    same, and the server log says the refusal went unaudited."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings = settings_for(jwks_url, blocked)
    app = http_app(build_server(settings, sandbox_app=sandbox_app), settings)
    with serve_on_loopback(app) as url:
        reply = post(
            url, token("carol", scope="nexla:read"), tool_call("pause_flow", {"flow_id": FLOW})
        )
    assert reply.status_code == 403
    assert reply.headers["WWW-Authenticate"] == CHALLENGE
    assert any("write-scope refusal not audited" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("bearer", "status", "error"),
    [
        pytest.param(lambda: None, 401, "invalid_token", id="no-token"),
        pytest.param(lambda: "not.a.jwt", 401, "invalid_token", id="bad-token"),
        pytest.param(
            lambda: token("frank", scope="profile"), 403, "insufficient_scope", id="no-read-scope"
        ),
    ],
)
async def test_the_sdks_own_challenges_name_the_read_scope(
    served: str, bearer: Callable[[], str | None], status: int, error: str
) -> None:
    """Without a scope in the challenge a client would ask for all of ``scopes_supported``,
    the write scope too; named, it signs in with the read scope alone."""
    signed = bearer()
    headers = {**HEADERS, **({"Authorization": f"Bearer {signed}"} if signed else {})}
    body = json.dumps(tool_call("get_flow", {"flow_id": FLOW}))
    reply = httpx.post(f"{served}{MCP_PATH}", content=body, headers=headers, timeout=30)
    assert reply.status_code == status
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer error="{error}", ')
    assert challenge.endswith(f'resource_metadata="{METADATA}", scope="nexla:read"')


async def test_a_write_call_padded_past_the_inspection_limit_is_still_refused(
    served: str,
) -> None:
    """The body is read only up to the SDK's request-size limit; one larger than that is passed
    on unread, and the SDK refuses it (413) before MCP sees it."""
    padded = {**tool_call("pause_flow", {"flow_id": FLOW}), "padding": "x" * (4 * 1024 * 1024)}
    reply = post(served, token("carol", scope="nexla:read"), padded)
    assert reply.status_code == 413


class StepUp(httpx2.Auth):
    """What an OAuth client does with the challenge: obtain a token with the scopes it names
    (here the test issuer signs one at once) and send the same request again, once."""

    def __init__(self, subject: str, scope: str) -> None:
        self.subject = subject
        self.bearer = token(subject, scope=scope)
        self.requested: list[str] = []

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {self.bearer}"
        response = yield request
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 403 and 'error="insufficient_scope"' in challenge:
            scope = challenge.split('scope="', 1)[1].split('"', 1)[0]
            self.requested.append(scope)
            self.bearer = token(self.subject, scope=scope)
            request.headers["Authorization"] = f"Bearer {self.bearer}"
            yield request


@asynccontextmanager
async def connected(url: str, auth: httpx2.Auth, mode: Any) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(auth=auth) as http:
        transport = streamable_http_client(f"{url}{MCP_PATH}", http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_steps_up_gets_its_plan_and_confirms_it(
    served: str, tmp_path: Path, mode: Any
) -> None:
    """Dave signs in with the read scope: reads need nothing more; his first write is
    challenged once, he comes back with both scopes, plans and confirms, and the flow pauses.
    In both protocol eras (the handshake era's session survives the new token: same user).
    The audit log tells it all: the refusal for scope, then the plan and the write, all his."""
    dave = StepUp("dave", "nexla:read")
    async with connected(served, dave, mode) as client:
        assert (await call_ok(client, "get_flow", {"flow_id": FLOW}))["status"] == "ACTIVE"
        assert dave.requested == []
        plan = await call_ok(client, "pause_flow", {"flow_id": FLOW})
        assert dave.requested == ["nexla:read nexla:write"]
        confirm = {"flow_id": FLOW, "confirm": True, "plan_token": plan["plan_token"]}
        receipt = await call_ok(client, "pause_flow", confirm)
        assert (await call_ok(client, "get_flow", {"flow_id": FLOW}))["status"] == "PAUSED"
    assert receipt["status"] == "applied"
    assert dave.requested == ["nexla:read nexla:write"]
    records = await audit_records(tmp_path)
    assert [r["event"] for r in records] == [
        "refusal",
        "plan",
        "approval",
        "execution",
        "verification",
    ]
    assert records[0]["reason"] == "insufficient_scope"
    assert {r["principal"]["sub"] for r in records if "principal" in r} == {"dave"}


async def test_a_token_with_the_write_scope_is_never_challenged(served: str) -> None:
    """Both scopes from the start: the plan comes back at once."""
    erin = StepUp("erin", "nexla:read nexla:write")
    async with connected(served, erin, "auto") as client:
        plan = await call_ok(client, "pause_flow", {"flow_id": FLOW})
    assert plan["status"] == "planned"
    assert erin.requested == []


async def test_the_protected_resource_metadata_lists_the_read_and_write_scopes(
    jwks_url: str, tmp_path: Path, served: str
) -> None:
    """Clients choose what to ask for from ``scopes_supported``; a read-only server has no
    use for the write scope and does not list it."""
    document = httpx.get(f"{served}/.well-known/oauth-protected-resource/mcp").json()
    assert document["scopes_supported"] == ["nexla:read", "nexla:write"]
    settings = settings_for(jwks_url, tmp_path, read_only=True)
    assert write_tools(settings) == frozenset()
    with serve_on_loopback(http_app(build_server(settings), settings)) as url:
        read_only = httpx.get(f"{url}/.well-known/oauth-protected-resource/mcp").json()
    assert read_only["scopes_supported"] == ["nexla:read"]


async def test_without_the_step_up_the_write_gate_still_refuses_in_the_tool_result(
    jwks_url: str, tmp_path: Path, sandbox_app: Any
) -> None:
    """The SDK's app alone (no ``http_app``, so no step-up): the write gate is the second line
    and refuses the plan itself as insufficient_scope, nothing changed."""
    settings = settings_for(jwks_url, tmp_path)
    server = build_server(settings, sandbox_app=sandbox_app)
    carol = StepUp("carol", "nexla:read")
    with serve_on_loopback(server.streamable_http_app(streamable_http_path=MCP_PATH)) as url:
        async with connected(url, carol, "auto") as client:
            result = await client.call_tool("pause_flow", {"flow_id": FLOW})
            assert (await call_ok(client, "get_flow", {"flow_id": FLOW}))["status"] == "ACTIVE"
    assert result.is_error
    error = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
    assert error["details"]["reason"] == "insufficient_scope"
    assert "nexla:write" in error["message"]
    assert carol.requested == []


# --- the middleware on its own: what it passes on is what the client sent --------------------


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the body it received, as a stream of two chunks."""
    request = Request(scope, receive)
    chunks = [chunk async for chunk in request.stream()]
    body = b"".join(chunks)

    async def stream() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        yield body[len(body) // 2 :]

    response: Response = StreamingResponse(stream(), media_type="application/octet-stream")
    await response(scope, receive, send)


def challenged_echo(cap: int) -> WriteScopeChallenge:
    return WriteScopeChallenge(
        echo, tools=frozenset({"pause_flow"}), read_scope="r", write_scope="w",
        resource_metadata_url="https://x.test/.well-known/oauth-protected-resource",
        max_inspected_bytes=cap,
    )  # fmt: skip


async def send_chunks(app: Any, chunks: list[bytes]) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        return await http.post("http://x.test/mcp", content=body())


@pytest.mark.parametrize(
    ("chunks", "cap"),
    [
        pytest.param(
            [b'{"jsonrpc":"2.0","id":1,', b'"method":"tools/list"}'], 1024, id="read-in-chunks"
        ),
        pytest.param([b"x" * 50, b"y" * 50, b"z" * 50], 64, id="over-the-cap"),
        pytest.param([b"not json at all"], 1024, id="not-json"),
    ],
)
async def test_bodies_it_does_not_refuse_pass_on_unchanged(chunks: list[bytes], cap: int) -> None:
    """Read under the cap or not (a request larger than the cap is handed on after the first
    chunk past it), the app behind sees every byte, and its streamed answer comes back whole."""
    reply = await send_chunks(challenged_echo(cap), chunks)
    assert reply.status_code == 200
    assert reply.content == b"".join(chunks)


async def test_a_chunked_write_call_is_refused_whole() -> None:
    """A write call split over chunks is read whole before it is judged."""
    body = json.dumps(tool_call("pause_flow", {"flow_id": FLOW})).encode()
    reply = await send_chunks(challenged_echo(1024), [body[:10], body[10:]])
    assert reply.status_code == 403
    assert reply.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
