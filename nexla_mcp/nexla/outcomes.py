"""Classifying one attempt's outcome: a usable reply, or a failure with its retry verdict.

Pure functions over httpx objects, kept apart from the send loop so each rule (what is safe to
retry, what counts against the breaker, what is an ambiguous write) reads on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from nexla_mcp.errors import (
    AmbiguousWriteError,
    InvalidResponseError,
    NetworkError,
    NexlaError,
    UnreachableError,
    UpstreamTimeoutError,
)
from nexla_mcp.faults import connect_error
from nexla_mcp.nexla.reliability import parse_retry_after
from nexla_mcp.nexla.status_errors import error_for_response
from nexla_mcp.redaction import redact_text

__all__ = [
    "ApiResponse",
    "AttemptFailure",
    "classify_exception",
    "classify_response",
    "encode_query",
    "error_from_reply",
    "too_large",
]

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
_HTML_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
SAMPLE_CHARS = 200
# Nexla's replies nest a few levels; a reply nested deeper is not Nexla's, and walking it
# (redaction, sanitising, models) would exhaust the interpreter's recursion limit.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class ApiResponse:
    """A checked reply: status, headers and the parsed JSON body (None when empty)."""

    status_code: int
    headers: httpx.Headers
    body: Any


@dataclass
class AttemptFailure:
    """One failed attempt, classified."""

    error: NexlaError
    retry_allowed: bool
    is_timeout: bool = False
    breaker_failure: bool = False
    retry_after: float | None = None


def encode_query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Query params as Nexla reads them: booleans as 1/0 (§19 #24), lists comma-joined."""
    result: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            result[key] = "1" if value else "0"
        elif isinstance(value, list | tuple | set | frozenset):
            result[key] = ",".join(str(item) for item in value)
        elif isinstance(value, datetime | date):
            result[key] = value.isoformat()
        else:
            result[key] = str(value)
    return result


def text_sample(content: bytes) -> str:
    text = content.decode("utf-8", errors="replace")
    if "<" in text and ">" in text:
        text = _HTML_TAG.sub(" ", text)
    return redact_text(_WHITESPACE.sub(" ", text).strip())[:SAMPLE_CHARS]


def _host_of(exc: httpx.HTTPError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # an exception raised without a request attached
        return "the Nexla API host"
    return f"{url.host}:{url.port}" if url.port else str(url.host)


def classify_exception(
    exc: httpx.HTTPError, method: str, path: str, idempotent: bool
) -> AttemptFailure:
    where = f"{method} {path}"
    context = {"method": method, "path": path}
    timeout = isinstance(exc, httpx.TimeoutException)
    if isinstance(exc, _NEVER_SENT):
        if timeout:
            error: NexlaError = UpstreamTimeoutError(
                f"{where}: could not connect to {_host_of(exc)} in time ({type(exc).__name__}).",
                original_error=exc,
                context=context,
                fault="unreachable",
                hint=UnreachableError.default_hint,
            )
        else:
            error = connect_error(where, _host_of(exc), exc)
        return AttemptFailure(
            error,
            retry_allowed=error.retryable,
            is_timeout=timeout,
            breaker_failure=True,
        )
    if isinstance(exc, _MAYBE_SENT):
        if not idempotent:
            return AttemptFailure(
                AmbiguousWriteError(
                    f"{where} failed after the request may have reached Nexla "
                    f"({type(exc).__name__}); it was not retried.",
                    original_error=exc,
                    context=context,
                    details={"cause": type(exc).__name__},
                ),
                retry_allowed=False,
                is_timeout=timeout,
                breaker_failure=True,
            )
        error_class = UpstreamTimeoutError if timeout else NetworkError
        reason = "timed out" if timeout else "connection dropped"
        return AttemptFailure(
            error_class(
                f"{where}: {reason} ({type(exc).__name__}).", original_error=exc, context=context
            ),
            retry_allowed=True,
            is_timeout=timeout,
            breaker_failure=True,
        )
    if isinstance(exc, httpx.DecodingError):
        return AttemptFailure(
            InvalidResponseError(
                f"{where}: the response body could not be decoded.",
                original_error=exc,
                context=context,
            ),
            retry_allowed=idempotent,
        )
    return AttemptFailure(
        NetworkError(
            f"{where}: {type(exc).__name__}.", original_error=exc, context=context, retryable=False
        ),
        retry_allowed=False,
    )


def classify_response(
    method: str,
    path: str,
    response: httpx.Response,
    content: bytes,
    *,
    idempotent: bool,
    retry_statuses: frozenset[int],
) -> ApiResponse | AttemptFailure:
    status = response.status_code
    where = f"{method} {path}"
    if status < 300:
        try:
            body = parse_success_body(response, content)
        except TooDeepError as exc:
            return AttemptFailure(
                InvalidResponseError(
                    f"{where}: Nexla answered HTTP {status} with JSON nested more than "
                    f"{MAX_JSON_DEPTH} levels deep, which no Nexla reply does; it was not read.",
                    status_code=status,
                    details={"max_depth": MAX_JSON_DEPTH},
                    original_error=exc,
                    retryable=False,
                ),
                retry_allowed=False,
            )
        except ValueError as exc:
            return AttemptFailure(
                InvalidResponseError(
                    f"{where}: Nexla answered HTTP {status} with a body that is not JSON.",
                    status_code=status,
                    response=text_sample(content),
                    details={"content_type": response.headers.get("content-type", "")},
                    original_error=exc,
                ),
                retry_allowed=idempotent,
            )
        return ApiResponse(status, response.headers, body)
    reply = ApiResponse(status, response.headers, parse_error_body(content))
    if status not in retry_statuses:
        return reply
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    error = error_from_reply(method, path, reply, None)
    server_said_not_processed = status in (429, 503) and retry_after is not None
    if not idempotent and status in (500, 502, 504):
        error.details["outcome"] = "unknown"
        error.hint = (
            "Nexla failed while handling this change, so it may or may not have been "
            "applied; re-read the resource's state before trying again."
        )
    return AttemptFailure(
        error,
        retry_allowed=idempotent or server_said_not_processed,
        breaker_failure=status >= 500 or status == 408,
        retry_after=retry_after,
    )


class TooDeepError(ValueError):
    """A JSON reply nested deeper than ``MAX_JSON_DEPTH``."""


def load_json(content: bytes) -> Any:
    """``json.loads``, refusing replies nested more than ``MAX_JSON_DEPTH`` levels deep.

    Raises:
        TooDeepError: too deep (including deeper than the decoder itself can go).
        ValueError: not JSON.
    """
    try:
        value = json.loads(content)
    except RecursionError as exc:
        raise TooDeepError("JSON nested too deeply to decode") from exc
    # Each level needs an opening bracket, so a reply with few of them is shallow.
    if content.count(b"[") + content.count(b"{") > MAX_JSON_DEPTH and _too_deep(content):
        raise TooDeepError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return value


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def _too_deep(content: bytes) -> bool:
    """True when valid JSON ``content`` nests more than ``MAX_JSON_DEPTH`` levels.

    Works on the bytes (strings dropped, then only brackets kept), peeling at least one level
    of innermost empty pairs per round: C-speed string operations, where walking the parsed
    value took three times as long as parsing it. Something left after MAX_JSON_DEPTH rounds
    is deeper than that (a reply up to twice as deep may pass; none is deep enough to hurt).
    """
    brackets = _JSON_STRING.sub(b"", content).translate(None, _NOT_BRACKETS)
    for _ in range(MAX_JSON_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return bool(brackets)


def parse_success_body(response: httpx.Response, content: bytes) -> Any:
    if not content.strip():
        return None
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        raise ValueError(f"unexpected content type {content_type!r}")
    return load_json(content)


def parse_error_body(content: bytes) -> Any:
    if not content.strip():
        return None
    try:
        return load_json(content)
    except TooDeepError:
        return None
    except ValueError:
        return text_sample(content)


def error_from_reply(
    method: str, path: str, reply: ApiResponse, operation: str | None
) -> NexlaError:
    return error_for_response(
        reply.status_code,
        reply.body,
        method=method,
        path=path,
        retry_after=parse_retry_after(reply.headers.get("retry-after")),
        request_id=reply.headers.get("x-request-id"),
        operation=operation,
    )


def too_large(where: str, limit: int, status: int) -> InvalidResponseError:
    """Abort a response over the size cap (decoded bytes, so gzip bombs are caught too)."""
    return InvalidResponseError(
        f"{where}: the response exceeds {limit // (1024 * 1024)} MB and was discarded.",
        status_code=status,
        retryable=False,
        details={"limit_bytes": limit},
    )
