"""Map one HTTP error reply from Nexla onto the error hierarchy (:mod:`nexla_mcp.errors`).

The status decides the class, with the fact sheet's corrections to the official SDK's mapping:
405 is a state conflict, 403 on a credential probe is the external system refusing the
credential, and replies no Nexla API gives (a 501, an HTML 404, a 404 on ``POST /token``) mean
``NEXLA_API_URL`` points elsewhere. The message is ours; Nexla's own words stay in ``response``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nexla_mcp.errors import (
    ApiUrlError,
    AuthenticationError,
    AuthorizationError,
    CredentialError,
    NexlaError,
    NotFoundError,
    RateLimitError,
    ResourceConflictError,
    ServerError,
    ValidationError,
)

__all__ = ["error_for_response", "upstream_message"]

_PROBE_PATH = re.compile(r"^/data_credentials/\d+/probe(?:/|$)")
_STATUS_CLASSES: dict[int, type[NexlaError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    405: ResourceConflictError,
    409: ResourceConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def upstream_message(body: Any) -> str | None:
    """The human message in a Nexla error body: ``message`` → ``error`` → ``error_description``.

    A plain-text body is returned as is (the caller truncates); anything else gives None.
    """
    if isinstance(body, Mapping):
        for key in ("message", "error", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None
    if isinstance(body, str) and body.strip():
        return body.strip()
    return None


def _resource_from_path(path: str, body: Any) -> tuple[str | None, int | str | None]:
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    resource_type = segments[0] if segments else None
    resource_id: int | str | None = None
    if len(segments) > 1 and segments[1].isdigit():
        resource_id = int(segments[1])
    if isinstance(body, Mapping):
        resource_type = body.get("resource_type") or resource_type
        body_id = body.get("resource_id")
        resource_id = body_id if isinstance(body_id, int | str) else resource_id
    return resource_type, resource_id


def error_for_response(
    status_code: int,
    body: Any,
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
    request_id: str | None = None,
    operation: str | None = None,
) -> NexlaError:
    """Map one HTTP error reply onto the hierarchy (SDK mapping plus fixes from the fact sheet).

    ``body`` is the parsed JSON, the text, or None for an empty body; it becomes ``response``
    and never part of the message. ``path`` is the request path without the base URL; its
    query string is dropped so no parameter leaks into messages.
    """
    path = path.split("?", 1)[0]
    resource_type, resource_id = _resource_from_path(path, body)
    context: dict[str, Any] = {"method": method.upper(), "path": path, "status_code": status_code}
    if request_id:
        context["request_id"] = request_id
    common: dict[str, Any] = {
        "operation": operation or f"{method.lower()}_request",
        "resource_type": resource_type,
        "resource_id": resource_id,
        "context": context,
        "status_code": status_code,
        "response": body if body not in ("", None) else None,
    }
    where = f"{method.upper()} {path}"
    # The message is ours (what happened, with the status); Nexla's own words stay in
    # ``response``, as data: an error body can carry text written to steer a model.

    if _not_nexla(status_code, body, path):
        seen = "a reply without JSON" if not isinstance(body, Mapping) else "a reply"
        return ApiUrlError(
            f"{where} answered HTTP {status_code} with {seen} that is not from Nexla: "
            "NEXLA_API_URL does not point at the Nexla API.",
            **common,
        )
    if status_code == 403 and _PROBE_PATH.match(path):
        return CredentialError(
            "Credential probe refused (HTTP 403): the external system did not accept the "
            "credential; its answer is in response.",
            **common,
        )
    if status_code == 429:
        if retry_after is None and isinstance(body, Mapping):
            retry_after = _number(body.get("retry_after"))
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimitError(
            f"Rate limited by Nexla on {where}{wait}", retry_after=retry_after, **common
        )
    if status_code == 401:
        return AuthenticationError("Authentication failed (HTTP 401)", **common)
    if status_code == 404:
        target = f"{resource_type or 'unknown'}/{resource_id if resource_id is not None else '?'}"
        return NotFoundError(f"Resource not found: {target} (HTTP 404)", **common)

    error_class = _STATUS_CLASSES.get(status_code)
    if error_class is None:
        error_class = ServerError
        # Statuses below 500 that are not mapped (3xx after a refused redirect, 413, 418 …) will
        # not fix themselves; 408 and 5xx plausibly will.
        common["retryable"] = status_code >= 500 or status_code == 408
    if 300 <= status_code < 400:
        text = f"unexpected redirect (HTTP {status_code}), not followed so credentials stay put"
    else:
        text = f"HTTP {status_code}"
    return error_class(f"{where} failed: {text}", **common)


def _not_nexla(status_code: int, body: Any, path: str) -> bool:
    """Replies only a server that is not the Nexla API gives.

    ``POST /token`` exists on every Nexla API, so 404/405/501 there, or an error that is not
    Nexla's JSON, means the base URL is wrong. Elsewhere a 501 (Nexla implements what it
    routes) or an HTML 404 page says the same; an empty 404 is Nexla's unknown id.
    """
    if path.rstrip("/") == "/token":
        return status_code in (404, 405, 501) or (
            status_code not in (401, 403, 429) and status_code < 500 and not _nexla_body(body)
        )
    if status_code == 501:
        return not _nexla_body(body)
    return status_code == 404 and isinstance(body, str) and bool(body.strip())


def _nexla_body(body: Any) -> bool:
    return isinstance(body, Mapping) and upstream_message(body) is not None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if parsed >= 0 else None
    return None
