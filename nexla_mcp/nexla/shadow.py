"""A dry-run client: reads go to Nexla, changes are recorded and never sent.

``shadow_client(client)`` returns a copy of a ``NexlaClient`` whose transport passes ``GET``
requests (and the read-only probe ``POST``s) through and answers every other request itself
with an empty success, after recording its method, path, query and body. The shadow write tier
runs a write operation's ``execute`` against it, so what is reported as "would have been sent"
is exactly what the operation sends, read from the same code path.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from nexla_mcp.nexla.outcomes import ApiResponse
from nexla_mcp.redaction import redact_value

if TYPE_CHECKING:
    from nexla_mcp.nexla.client import NexlaClient
    from nexla_mcp.nexla.transport import Transport

__all__ = ["ShadowRequest", "shadow_client"]

# POSTs that only read (docs/nexla-api.md §10.4): a plan may need their answer.
_READ_ONLY_POSTS = ("/probe/tree", "/probe/sample")


@dataclass(frozen=True)
class ShadowRequest:
    """One request a write would have sent (body secrets redacted)."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None


class _ShadowTransport:
    """Wraps a ``Transport``: reads pass, writes are recorded and answered locally."""

    def __init__(self, inner: Transport, sent: list[ShadowRequest]) -> None:
        self._inner = inner
        self._sent = sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        json_body: Any = None, **options: Any,
    ) -> ApiResponse:  # fmt: skip
        if method == "GET" or (method == "POST" and path.endswith(_READ_ONLY_POSTS)):
            return await self._inner.request(
                method, path, params=params, json_body=json_body, **options
            )
        kept = {key: value for key, value in (params or {}).items() if value is not None}
        self._sent.append(ShadowRequest(method, path, kept, redact_value(json_body)))
        return ApiResponse(200, httpx.Headers(), _echo(path, json_body))


def _echo(path: str, body: Any) -> Any:
    """A plausible reply: the body sent, with the id from the path (parsers need one)."""
    ids = [int(part) for part in path.split("/") if part.isdigit()]
    reply = dict(body) if isinstance(body, dict) else {}
    if ids:
        reply.setdefault("id", ids[0])
    return reply


def shadow_client(client: NexlaClient) -> tuple[NexlaClient, list[ShadowRequest]]:
    """A copy of ``client`` that sends no change, and the list its would-be changes go to."""
    sent: list[ShadowRequest] = []
    shadow = copy.copy(client)
    shadow._transport = _ShadowTransport(client._transport, sent)  # type: ignore[assignment]
    return shadow, sent
