"""Serve the sandbox over real HTTP: the `nexla-mcp sandbox` command and a test helper."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from nexla_mcp.sandbox.app import create_app
from nexla_mcp.sandbox.auth import DEFAULT_SERVICE_KEY
from nexla_mcp.sandbox.faults import SandboxConnectionDropped

_STARTUP_TIMEOUT_S = 10.0


class _Served:
    """Marks requests as arriving over a socket (a 102 status cannot be sent there)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "sandbox.served": True}
        await self.app(scope, receive, send)


class _QuietDrops(logging.Filter):
    """uvicorn logs a traceback for every deliberately dropped connection; those are expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SandboxConnectionDropped))


def _server(app: ASGIApp, host: str, port: int, log_level: str) -> uvicorn.Server:
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    config = uvicorn.Config(
        _Served(app), host=host, port=port, log_level=log_level, lifespan="off", access_log=False
    )
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` under uvicorn in a background thread; yields its base URL, stops on exit.

    Stopping does not wait for requests still in flight (one held by a latency fault would
    keep the thread for the fault's whole delay): whoever sent them is gone by then.
    """
    server = _server(app, host, port, "warning")
    thread = threading.Thread(target=server.run, name="nexla-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"sandbox server did not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = server.force_exit = True
        thread.join(timeout=_STARTUP_TIMEOUT_S)


def bind_error_reason(error: OSError) -> str:
    """The reason alone: ``create_server`` appends "(while attempting to bind ...)"."""
    if error.errno and error.errno > 0:
        return os.strerror(error.errno)
    return str(error.strerror or error).split(" (while attempting")[0]


def main(argv: list[str]) -> int:
    """`nexla-mcp sandbox --port 8800 [--host H] [--service-key K] [--flows N] [--token-ttl S]`."""
    parser = argparse.ArgumentParser(
        prog="nexla-mcp sandbox", description="Serve the simulated Nexla API."
    )
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--service-key", default=DEFAULT_SERVICE_KEY)
    parser.add_argument(
        "--flows", type=int, default=None, help="also generate N flows (scale work)"
    )
    parser.add_argument(
        "--token-ttl", type=int, default=3600, help="session token lifetime in seconds"
    )
    args = parser.parse_args(argv)
    if (
        args.flows is not None
        and args.flows < 0
        or args.token_ttl < 0
        or not 0 <= args.port <= 65535
    ):
        parser.error("--flows, --token-ttl and --port must not be negative")
    app = create_app(service_key=args.service_key, token_ttl_s=args.token_ttl, flows=args.flows)
    # Bind first, so the printed URL carries the real port even when --port 0 picks one, and
    # a busy port or an unknown host is one line rather than a traceback.
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as error:
        flag = "--host" if (error.errno or 0) < 0 else "--port"  # resolver errors are negative
        value = args.host if flag == "--host" else args.port
        reason = bind_error_reason(error)
        given = f"{flag} {value}" if flag in argv else f"default {flag} {value}"
        print(
            f"nexla-mcp sandbox: cannot listen on {args.host}:{args.port} ({given}): {reason}; "
            f"choose another {flag} (--port 0 picks a free port)",
            file=sys.stderr,
        )
        return 2
    port = listener.getsockname()[1]
    print(f"Nexla sandbox API at http://{args.host}:{port}", flush=True)
    print(f"Service key: {args.service_key}", flush=True)
    print(f"Control API: http://{args.host}:{port}/_sandbox/scenarios", flush=True)
    _server(app, args.host, port, "info").run(sockets=[listener])
    return 0
