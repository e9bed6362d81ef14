"""A loopback HTTP proxy that holds chosen requests before passing them on, like a slow gateway.

    with serve_in_thread(create_app()) as upstream:
        proxy = DelayProxy(upstream, {("PUT", "/flows/5/pause"): 2.0})
        with serve_on_loopback(proxy) as url:
            ...  # point a NexlaClient at url; proxy.release.set() lets the PUT go on early,
                 # proxy.forwarded.wait() once it went through

A held request is forwarded after its delay even when the client has given up (uvicorn does
not cancel the app when the client disconnects, and this app never listens for it), so a
write lands after its caller's deadline, as it does behind a real gateway.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import httpx

__all__ = ["DelayProxy"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
}


class DelayProxy:
    """An ASGI app forwarding every request to ``upstream``; ``delays`` maps (method, path) to
    the seconds to hold that request first, at most: setting ``release`` ends every hold at
    once. ``received`` is set when a held request arrives, ``forwarded`` once upstream has
    answered it."""

    def __init__(self, upstream: str, delays: dict[tuple[str, str], float]) -> None:
        self.upstream = upstream.rstrip("/")
        self.delays = delays
        self.received = threading.Event()
        self.release = threading.Event()
        self.forwarded = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": f"{message['type']}.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        delay = self.delays.get((scope["method"], scope["path"]))
        if delay is not None:
            self.received.set()
            await anyio.to_thread.run_sync(self.release.wait, delay)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]
                   if k.decode().lower() not in _HOP_BY_HOP]  # fmt: skip
        url = f"{self.upstream}{scope['path']}"
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode()
        async with httpx.AsyncClient() as http:
            reply = await http.request(scope["method"], url, headers=headers, content=body)
        if delay is not None:
            self.forwarded.set()
        await send({
            "type": "http.response.start", "status": reply.status_code,
            "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()
                        if k.lower() not in _HOP_BY_HOP],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": reply.content})
