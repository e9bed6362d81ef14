"""The write scope as an HTTP step-up, and protected-resource metadata naming both scopes.

With OAuth, every request to ``/mcp`` needs the read scope (the SDK's bearer middleware
answers 401/403 before MCP sees it). A ``tools/call`` of a write tool also needs the write
scope; a token without it gets HTTP 403 with ``WWW-Authenticate: Bearer
error="insufficient_scope", scope="<read> <write>", resource_metadata="…"``, the runtime scope
challenge of the MCP authorization spec, so the client can obtain a token with more scope and
send the same request again. The challenge names every scope the call needs, not only the
missing one (RFC 6750 §3.1); a client that unions scopes and one that does not both end up
with a token that works. Plans count as writes: the write gate refuses a plan without the
write scope too, and a plan that can never be confirmed is no use to the caller. The SDK's own
401 and 403 challenges get ``scope="<read>"`` added (``ReadScopeHint``), so that a client
signs in with the read scope alone to begin with.

Only tokens that lack the write scope have their request bodies read, and only POSTs: the
body is read up to ``MAX_INSPECTED_BYTES`` (the SDK's own request-size limit, beyond which it
answers 413) and then handed on unchanged, chunk for chunk, so large bodies and streamed
responses are unaffected. A JSON-RPC batch (an array) gets the challenge when any member calls
a write tool: one HTTP status answers the whole request. The write gate's in-tool refusal stays
as the second line of defence, and is the only one on stdio and with the static bearer token.

Each refused write call is a ``refusal`` record in the audit chain, as the write gate's own
refusals are: the principal, the tool, its arguments (redacted; ``plan_token`` only as a
digest), ``reason: insufficient_scope`` and ``stage: http_step_up`` (refused before MCP saw
it, so there is no correlation id). The access token is never recorded. A record that cannot be
written is logged and the 403 stands: the call was refused either way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.routing import Route

from nexla_mcp.server.guard import token_digest
from nexla_mcp.server.oauth import auth_settings
from nexla_mcp.server.principal import current_principal
from nexla_mcp.tools.profiles import CATALOG, available_tools

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from nexla_mcp.server.audit import AuditLog
    from nexla_mcp.settings import Settings

__all__ = [
    "MAX_INSPECTED_BYTES",
    "ReadScopeHint",
    "WriteScopeChallenge",
    "install_step_up",
    "write_tools",
]

logger = logging.getLogger(__name__)

MAX_INSPECTED_BYTES = DEFAULT_MAX_REQUEST_BODY_SIZE


def write_tools(settings: Settings) -> frozenset[str]:
    """The write tools these settings can serve (dynamic discovery included)."""
    return frozenset(name for name in available_tools(settings) if CATALOG[name].writes)


def calls_of(body: bytes, tools: Collection[str]) -> list[tuple[str, Any]]:
    """Each call of a tool of ``tools`` in the JSON-RPC message (or batch) in ``body``: the
    tool's name and the arguments as sent."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON (or nested past the parser): the SDK answers the parse error
    calls = []
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            continue
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if isinstance(name, str) and name in tools:
            calls.append((name, params.get("arguments")))
    return calls


class WriteScopeChallenge:
    """Answer 403 ``insufficient_scope`` to a write tool call whose token lacks the write
    scope; pass everything else on untouched (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, tools: frozenset[str], read_scope: str, write_scope: str,
        resource_metadata_url: str, max_inspected_bytes: int = MAX_INSPECTED_BYTES,
        audit: Callable[[], AuditLog] | None = None,
    ) -> None:  # fmt: skip
        """``audit`` gives the audit log refusals are recorded in (None: not recorded)."""
        self.app = app
        self.tools = tools
        self.audit = audit
        self.write_scope = write_scope
        self.max_inspected_bytes = max_inspected_bytes
        self.challenge = (
            f'Bearer error="insufficient_scope", scope="{read_scope} {write_scope}", '
            f'resource_metadata="{resource_metadata_url}", '
            f'error_description="Changing Nexla needs the {write_scope} scope"'
        )

    def _may_write(self, scope: Scope) -> bool:
        credentials = scope.get("auth")
        return credentials is not None and self.write_scope in credentials.scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or self._may_write(scope):
            await self.app(scope, receive, send)
            return
        received, body = await self._read(receive)
        calls = calls_of(body, self.tools) if body is not None else []
        if calls:
            logger.info("tools/call %s without the %s scope: 403 step-up",
                        ", ".join(tool for tool, _ in calls), self.write_scope)  # fmt: skip
            await self._record(calls)
            await self._refuse(send)
            return
        await self.app(scope, _replaying(received, receive), send)

    async def _record(self, calls: list[tuple[str, Any]]) -> None:
        """One audit ``refusal`` per refused write call (see the module docstring)."""
        if self.audit is None:
            return
        principal = current_principal()
        try:
            audit = self.audit()
            for tool, arguments in calls:
                sent = arguments if isinstance(arguments, dict) else {}
                plan_token = sent.get("plan_token")
                await audit.append(
                    "refusal", tool=tool, outcome="refused", reason="insufficient_scope",
                    stage="http_step_up",
                    args={k: v for k, v in sent.items() if k not in ("confirm", "plan_token")},
                    principal=principal.audit_fields() if principal else None,
                    plan_digest=token_digest(plan_token) if isinstance(plan_token, str) else None,
                )  # fmt: skip
        except Exception as error:  # whatever becomes of its record, the 403 stands
            logger.error("write-scope refusal not audited: %s", error)

    async def _read(self, receive: Receive) -> tuple[list[Message], bytes | None]:
        """The messages read so far, and the whole body (None when it is larger than the cap
        or the client went away: the rest is then read by the app, as if never looked at)."""
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return received, None
            size += len(message.get("body", b""))
            if size > self.max_inspected_bytes:
                return received, None
            if not message.get("more_body", False):
                return received, b"".join(m.get("body", b"") for m in received)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "insufficient_scope",
                "error_description": f"Changing Nexla needs the {self.write_scope} scope",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", self.challenge.encode()),
        ]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ReadScopeHint:
    """Name the read scope in the SDK's own 401 and 403 challenges, which name no scope.

    The MCP authorization spec has a client request the scopes the challenge names and, when
    it names none, every scope in ``scopes_supported``, which lists the write scope too: without
    this hint a client would ask for the write scope at its first sign-in, and the step-up
    would never be needed.
    """

    def __init__(self, app: ASGIApp, read_scope: str) -> None:
        self.app = app
        self.hint = f', scope="{read_scope}"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def hinting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                message = {**message, "headers": [
                    (name, value + self.hint)
                    if name.lower() == b"www-authenticate" and b'scope="' not in value
                    else (name, value)
                    for name, value in message["headers"]
                ]}  # fmt: skip
            await send(message)

        await self.app(scope, receive, hinting)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives back ``received`` first, then reads on from ``receive``."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def install_step_up(
    app: Starlette, settings: Settings, mcp_path: str, server: MCPServer[Any]
) -> None:
    """Put the write-scope challenge behind the SDK's bearer check on ``mcp_path``, and list
    the write scope in the protected-resource metadata, in the SDK's own app. Refusals are
    recorded in the audit log of ``server``'s write gate (the chain its writes go to).

    The SDK builds both from ``AuthSettings.required_scopes``, which every request must carry,
    so the write scope cannot go there. Raises ``RuntimeError`` if the app does not have the
    shape this relies on (a future SDK), rather than serving without the challenge.
    """
    auth = auth_settings(settings)  # the SDK's own spelling of the issuer and resource URLs
    assert auth is not None and auth.resource_server_url is not None
    tools = write_tools(settings)
    metadata_url = build_resource_metadata_url(auth.resource_server_url)
    metadata_path = urlparse(str(metadata_url)).path
    scopes = [settings.oauth_read_scope] + ([settings.oauth_write_scope] if tools else [])
    (metadata_route,) = create_protected_resource_routes(
        resource_url=auth.resource_server_url,
        authorization_servers=[auth.issuer_url],
        scopes_supported=scopes,
    )
    found: set[str] = set()
    routes = app.router.routes
    for index, route in enumerate(routes):
        if not isinstance(route, Route):
            continue
        if route.path == metadata_path:
            routes[index] = metadata_route
            found.add("metadata")
        elif route.path == mcp_path and isinstance(route.app, RequireAuthMiddleware):
            guarded: Any = route.app
            if tools:
                guarded.app = WriteScopeChallenge(
                    guarded.app, tools=tools, read_scope=settings.oauth_read_scope,
                    write_scope=settings.oauth_write_scope,
                    resource_metadata_url=str(guarded.resource_metadata_url or metadata_url),
                    audit=_audit_of(server, settings),
                )  # fmt: skip
            route.app = ReadScopeHint(guarded, settings.oauth_read_scope)
            found.add("mcp")
    if found != {"metadata", "mcp"}:
        raise RuntimeError(
            f"the SDK's HTTP app lacks {sorted({'metadata', 'mcp'} - found)}: cannot add the "
            "write-scope step-up"
        )


def _audit_of(server: MCPServer[Any], settings: Settings) -> Callable[[], AuditLog]:
    """The audit log of ``server``'s write gate, built when first needed, as the gate is."""

    def audit() -> AuditLog:
        from nexla_mcp.tools._write_gate import write_gate

        return write_gate(server, settings).audit

    return audit
