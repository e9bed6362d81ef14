"""Injected faults: latency, 429 + Retry-After, error statuses, dropped connections, short tokens.

Faults never touch `/_sandbox/` paths. Rates are probabilities drawn from a seeded RNG
(re-seeded whenever faults are set), so 1.0 always fires and a given sequence repeats.

A dropped connection is simulated by starting a response and then raising
`SandboxConnectionDropped`, an `httpx.RemoteProtocolError`: in-process, `httpx.ASGITransport`
re-raises it to the caller exactly as a real socket would raise it; under uvicorn the server
closes the socket after the status line, so clients see a truncated response (httpx:
`RemoteProtocolError`; requests: `ChunkedEncodingError`/`ConnectionError`).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from nexla_mcp.sandbox.errors import bad_request

CONTROL_PREFIX = "/_sandbox"
_SEED = 20250304


class SandboxConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the drop fault; the connection ends without a complete response."""


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    retry_after_s: int = 1
    drop_rate: float = 0.0
    token_ttl_s: int | None = None
    paths: tuple[str, ...] = ()

    @classmethod
    def parse(cls, body: dict[str, Any]) -> FaultConfig:
        unknown = set(body) - set(cls.__dataclass_fields__)
        if unknown:
            raise bad_request(f"Unknown fault settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, low, high in (
            ("latency_ms", 0, 60_000),
            ("error_status", 400, 599),
            ("retry_after_s", 0, 3600),
            ("token_ttl_s", 0, 10**7),
        ):
            if body.get(name) is not None:
                if type(body[name]) is not int or not low <= body[name] <= high:
                    raise bad_request(f"{name} must be an integer from {low} to {high}")
                values[name] = body[name]
        for name in ("error_rate", "rate_limit_rate", "drop_rate"):
            if body.get(name) is not None:
                rate = body[name]
                if type(rate) not in (int, float) or not 0 <= rate <= 1:
                    raise bad_request(f"{name} must be a probability from 0 to 1")
                values[name] = float(rate)
        paths = body.get("paths")
        if paths is not None:
            if not isinstance(paths, list) or not all(
                isinstance(p, str) and p.startswith("/") for p in paths
            ):
                raise bad_request("paths must be a list of path prefixes starting with '/'")
            values["paths"] = tuple(paths)
        return cls(**values)

    def view(self) -> dict[str, Any]:
        return {**asdict(self), "paths": list(self.paths)}


class Faults:
    def __init__(self) -> None:
        self.config = FaultConfig()
        self._rng = random.Random(_SEED)

    def set(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(_SEED)

    def applies_to(self, path: str) -> bool:
        if path.startswith(CONTROL_PREFIX):
            return False
        return not self.config.paths or any(path.startswith(prefix) for prefix in self.config.paths)

    def fires(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate


async def _reply(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(payload)).encode()),
                # Like every Nexla reply (and the sandbox's own), faults carry a request id.
                (b"x-request-id", uuid.uuid4().hex.encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class FaultMiddleware:
    """Pure ASGI middleware, so a drop can abort after the response has started."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults
        if scope["type"] != "http" or not faults.applies_to(scope["path"]):
            await self.app(scope, receive, send)
            return
        config = faults.config
        if config.latency_ms:
            await anyio.sleep(config.latency_ms / 1000)
        if faults.fires(config.drop_rate):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"512"),
                    ],
                }
            )
            raise SandboxConnectionDropped(
                "Server disconnected without sending a complete response"
            )
        if faults.fires(config.rate_limit_rate):
            retry = config.retry_after_s
            await _reply(
                send,
                429,
                {
                    "status": 429,
                    "message": "Rate limit exceeded",
                    "error": "Rate limit exceeded",
                    "retry_after": retry,
                },
                [(b"retry-after", str(retry).encode())],
            )
            return
        if faults.fires(config.error_rate):
            status = config.error_status
            message = f"Injected fault: HTTP {status}"
            await _reply(send, status, {"status": status, "message": message, "error": message}, [])
            return
        await self.app(scope, receive, send)
