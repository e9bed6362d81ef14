"""Drive the server in-process for tests, demos and benchmarks: no subprocess, no socket.

    async with connect(Settings(sandbox=True), mode="legacy") as client:
        flows = await call_ok(client, "list_flows", {"has_recent_errors": True})
        error = await call_error(client, "get_flow", {"flow_id": 999999})

The server retries as in production (same attempts, statuses, budget and breaker) but
without waiting between attempts (``NO_BACKOFF``), so a test that meets a 429, a 503 or a
connect error does not sleep through the real backoff; pass ``retry_policy=RetryPolicy()``
to ``connect`` for the real schedule.

``call_ok`` is the way to call a tool that should succeed: it fails unless the result is a
success whose ``structured_content`` validates against the tool's ``outputSchema`` and whose
text is a short summary rather than a copy of the JSON. ``call_error`` fails unless the result
is the error envelope, and returns its ``error`` object. Both raise ``AssertionError``.
``jsonschema`` (a test extra) is imported only when ``call_ok`` runs.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Literal

import httpx
from mcp import Client
from mcp.types import CallToolResult, TextContent, Tool

from nexla_mcp.nexla.reliability import RetryPolicy
from nexla_mcp.server.app import build_server
from nexla_mcp.server.envelope import ENVELOPE_KEYS, REQUIRED_ENVELOPE_KEYS
from nexla_mcp.settings import Settings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp

__all__ = [
    "MAX_SUMMARY_CHARS",
    "MODES",
    "NO_BACKOFF",
    "billed_tokens",
    "call_error",
    "call_ok",
    "connect",
    "is_envelope",
    "model_visible",
    "o200k_tokens",
    "serve_on_loopback",
    "text_of",
    "wire_tools",
]

MODES: tuple[Literal["auto", "legacy"], ...] = ("auto", "legacy")
"""Both protocol eras: ``auto`` negotiates 2026-07-28, ``legacy`` the 2025-11-25 handshake."""
MAX_SUMMARY_CHARS = 1000
NO_BACKOFF = RetryPolicy(backoff_base_s=0.0, backoff_cap_s=0.0)
"""The default retry policy without its waits (Retry-After is still honoured)."""


@asynccontextmanager
async def connect(
    settings: Settings | None = None,
    *,
    mode: Literal["auto", "legacy"] = "auto",
    sandbox_app: Any = None,
    http_client: httpx.AsyncClient | None = None,
    retry_policy: RetryPolicy = NO_BACKOFF,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """An MCP client connected in memory to ``build_server(settings)``.

    By default the server talks to a fresh sandbox app (or ``sandbox_app``) through
    ``httpx.ASGITransport``; pass ``http_client`` to put something else (e.g. respx) at the
    HTTP boundary. ``client_options`` go to ``mcp.Client`` (``elicitation_callback``, …).
    """
    settings = settings or Settings(sandbox=True, profile="all")
    if http_client is not None:
        server = build_server(settings, http_client=http_client, retry_policy=retry_policy)
        async with Client(server, mode=mode, **client_options) as client:
            yield client
        return
    if sandbox_app is None:
        from nexla_mcp.sandbox import create_app

        sandbox_app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app)) as http:
        server = build_server(settings, http_client=http, retry_policy=retry_policy)
        async with Client(server, mode=mode, **client_options) as client:
            yield client


@functools.cache
def _o200k() -> Any:
    # bpe-openai (a test extra) loads its vocabularies through a deprecated importlib call.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "open_binary is deprecated", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding("o200k_base")


def o200k_tokens(value: Any) -> int:
    """Real o200k_base tokens of ``value``: a string as is, anything else as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return len(_o200k().encode(text))


def billed_tokens(result: CallToolResult) -> int:
    """What a host puts in the model's context for one result: text plus structured content."""
    structured = result.structured_content
    return o200k_tokens(text_of(result)) + (
        o200k_tokens(structured) if structured is not None else 0
    )


async def wire_tools(server: MCPServer[Any]) -> list[dict[str, Any]]:
    """tools/list as it travels: each tool's wire form (camelCase, no nulls)."""
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def model_visible(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a host forwards to the model of each tool: name, description and inputSchema."""
    return [{key: tool[key] for key in ("name", "description", "inputSchema")} for tool in tools]


def text_of(result: CallToolResult) -> str:
    """The text content of a result (all text blocks joined)."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def _tool(client: Client, name: str) -> Tool:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    if name not in tools:
        raise AssertionError(f"tool {name!r} is not registered; tools: {sorted(tools)}")
    return tools[name]


async def call_ok(
    client: Client, name: str, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call a tool that must succeed; return its schema-valid ``structured_content``."""
    import jsonschema

    result = await client.call_tool(name, arguments or {})
    if result.is_error:
        raise AssertionError(f"{name} failed: {text_of(result)}")
    tool = await _tool(client, name)
    if tool.output_schema is None or result.structured_content is None:
        raise AssertionError(f"{name} must return structured content with an output schema")
    jsonschema.validate(
        result.structured_content,
        tool.output_schema,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    summary = text_of(result)
    if not summary or len(summary) > MAX_SUMMARY_CHARS or summary.lstrip().startswith("{"):
        raise AssertionError(f"{name} text must be a short summary, got: {summary[:200]!r}")
    return result.structured_content


async def call_error(
    client: Client, name: str, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call a tool that must fail; return the envelope's ``error`` object."""
    result = await client.call_tool(name, arguments or {})
    text = text_of(result)
    if not result.is_error:
        raise AssertionError(f"{name} unexpectedly succeeded: {text[:200]!r}")
    if result.structured_content is not None:
        raise AssertionError(f"{name} error result must not carry structured_content")
    payload = json.loads(text)
    if list(payload) != ["error"] or not is_envelope(payload["error"]):
        raise AssertionError(f"{name} error is not the envelope: {text[:300]!r}")
    return payload["error"]


def is_envelope(error: Any) -> bool:
    """The ``error`` object's shape: the required keys, no other than the envelope's, no null."""
    return (
        isinstance(error, dict)
        and set(REQUIRED_ENVELOPE_KEYS) <= set(error) <= set(ENVELOPE_KEYS)
        and None not in error.values()
    )


@contextmanager
def serve_on_loopback(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` (with its lifespan) under uvicorn in a thread; yield ``http://127.0.0.1:<port>``.

    The port is free and bound before uvicorn starts, so there is no race for it; start-up is
    polled for at most 10 s, and the server is stopped and joined on exit.
    """
    import uvicorn

    web = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not web.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            web.should_exit = True
            sock.close()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        web.should_exit = True
        thread.join(timeout=10)
        sock.close()
