"""Transports: stdio (the default) and streamable HTTP with bearer auth and Origin checks.

HTTP serves MCP at ``/mcp``, an unauthenticated liveness probe at ``/healthz`` and a readiness
probe at ``/readyz`` (``readiness.py``). With ``NEXLA_MCP_HTTP_TOKEN`` set every other request
needs ``Authorization: Bearer <token>``; with ``NEXLA_MCP_OAUTH_ISSUER`` it needs a JWT from
that issuer (``oauth.py``); settings refuse a non-loopback bind with neither. On SIGTERM or
SIGINT the server stops accepting connections, ``/readyz`` turns 503, and calls in flight get
up to ``NEXLA_MCP_SHUTDOWN_GRACE`` seconds to finish. DNS-rebinding protection is always on and
configured explicitly: the SDK would switch it off for any host that is not loopback.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from nexla_mcp.settings import LOOPBACK_HOSTS, Settings, is_loopback

if TYPE_CHECKING:
    import socket

    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "HEALTH_PATH",
    "MCP_PATH",
    "READY_PATH",
    "BearerTokenMiddleware",
    "http_app",
    "run_http",
    "run_stdio",
    "serve",
    "transport_security",
    "uvicorn_server",
]

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
_WILDCARD_BINDS = ("0.0.0.0", "::", "")


def _host_header(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin allow-lists: loopback names, the bind host, and the configured extras."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = [_host_header(h) for h in LOOPBACK_HOSTS]
    if settings.host in _WILDCARD_BINDS:
        if not settings.allowed_hosts:
            logger.warning(
                "bound to %s but NEXLA_MCP_ALLOWED_HOSTS is empty: only loopback Host headers "
                "are accepted",
                settings.host or "all interfaces",
            )
    elif not is_loopback(settings.host):
        hosts.append(_host_header(settings.host))
    allowed_hosts = [*hosts, *(f"{h}:*" for h in hosts), *settings.allowed_hosts]
    allowed_origins = [
        *(f"http://{h}:*" for h in hosts),
        *(f"http://{h}" for h in hosts),
        *settings.allowed_origins,
    ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
    )


class BearerTokenMiddleware:
    """Reject HTTP requests without ``Authorization: Bearer <token>`` (except public paths)."""

    def __init__(self, app: ASGIApp, token: str, public_paths: frozenset[str]) -> None:
        self.app = app
        self._token = token.encode()
        self._public_paths = public_paths

    def _authorized(self, scope: Scope) -> bool:
        from starlette.datastructures import Headers

        scheme, _, credentials = Headers(scope=scope).get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self._token
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in self._public_paths
            or self._authorized(scope)
        ):
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        response = JSONResponse(
            {
                "error": "unauthorized",
                "message": "send Authorization: Bearer <NEXLA_MCP_HTTP_TOKEN>",
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="nexla-mcp"'},
        )
        await response(scope, receive, send)


def http_app(server: MCPServer, settings: Settings) -> ASGIApp:
    """The ASGI app for streamable HTTP; its lifespan runs the server's session manager."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    from nexla_mcp import __version__

    @server.custom_route(HEALTH_PATH, methods=["GET"])
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    @server.custom_route(READY_PATH, methods=["GET"])
    async def readyz(_: Request) -> Response:
        from nexla_mcp.server.readiness import readiness
        from nexla_mcp.server.tool_server import NexlaMCPServer

        if not isinstance(server, NexlaMCPServer):
            return JSONResponse({"status": "ready"})
        ready, document = await readiness(server)
        return JSONResponse(document, status_code=200 if ready else 503)

    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=transport_security(settings),
        host=settings.host,
        stateless_http=settings.http_stateless,
    )
    if settings.oauth_issuer is not None:
        from nexla_mcp.server.step_up import install_step_up

        # The SDK's bearer middleware checks JWTs and the read scope (server/oauth.py); writes
        # need the write scope, asked for as a step-up (server/step_up.py) and audited.
        install_step_up(app, settings, MCP_PATH, server)
        return app
    if settings.http_token is None:
        logger.warning(
            "HTTP transport without NEXLA_MCP_HTTP_TOKEN: any local process can call it%s",
            " (reads only: the write tools are not registered)" if settings.read_only else "",
        )
        return app
    return BearerTokenMiddleware(
        app,
        settings.http_token.get_secret_value(),
        public_paths=frozenset({HEALTH_PATH, READY_PATH}),
    )


def uvicorn_server(server: MCPServer, settings: Settings) -> uvicorn.Server:
    """The uvicorn server ``run_http`` runs, with a drain before uvicorn's own shutdown.

    On the first SIGTERM/SIGINT ``/readyz`` turns 503 and the server waits (up to
    ``NEXLA_MCP_SHUTDOWN_GRACE`` seconds) for the tool calls in flight to finish before
    uvicorn stops: uvicorn alone would end SSE response streams at once, so a 2025-era call
    in flight would lose its answer. A second signal stops at once.
    """
    import asyncio

    import uvicorn

    grace_s = settings.shutdown_grace_s

    class Draining(uvicorn.Server):
        loop: asyncio.AbstractEventLoop | None = None
        drain: asyncio.Future[None] | None = None

        async def startup(self, sockets: Any = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().startup(sockets=sockets)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.loop is None or self.drain is not None or not hasattr(server, "draining"):
                super().handle_exit(sig, frame)
                return
            server.draining = True
            logger.warning("shutting down: waiting up to %g s for calls in flight", grace_s)
            self.drain = asyncio.run_coroutine_threadsafe(self._drain(sig, frame), self.loop)  # type: ignore[assignment]

        async def _drain(self, sig: int, frame: Any) -> None:
            deadline = asyncio.get_running_loop().time() + grace_s
            while getattr(server, "in_flight", 0) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        http_app(server, settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep uvicorn on the root handler, which redacts secrets
        server_header=False,
        timeout_graceful_shutdown=5,  # streams still open after the drain
    )
    return Draining(config)


def run_http(server: MCPServer, settings: Settings, listener: socket.socket | None = None) -> None:
    """Serve streamable HTTP with uvicorn until SIGTERM/SIGINT, then drain (on ``listener``
    when the caller bound the port already, as the CLI does to report a busy port in one
    line)."""
    uvicorn_server(server, settings).run(sockets=[listener] if listener is not None else None)


def run_stdio(server: MCPServer) -> None:
    """Serve MCP over stdin/stdout until the client closes stdin; logs go to stderr."""
    import anyio

    anyio.run(server.run_stdio_async)


def serve(settings: Settings, listener: socket.socket | None = None) -> None:
    """Build the server for ``settings`` and serve it on the configured transport."""
    from nexla_mcp.server.app import build_server
    from nexla_mcp.server.tool_cache import ToolListCache
    from nexla_mcp.startup_gc import resume_collection

    server = build_server(settings, tool_cache=ToolListCache.for_settings(settings))
    if settings.transport == "http":
        resume_collection()  # start-up time matters for stdio only; see startup_gc
        run_http(server, settings, listener)
    else:
        run_stdio(server)
