"""The nexla-mcp error hierarchy.

```
NexlaError                        base; .retryable, .retry_after, .hint, get_error_summary()
├── AuthenticationError           401: token missing/invalid/expired and renewal did not help
├── AuthorizationError            403: the principal lacks a role on the resource
├── NotFoundError                 404: unknown id or route
├── ApiUrlError                   NEXLA_API_URL points at something that is not the Nexla API
├── ValidationError               400 / 422: bad parameters, body or business rule
├── ResourceConflictError         409 duplicates; 405 state conflicts (see its docstring)
├── RateLimitError                429: .retry_after seconds when Nexla said so
├── ServerError                   5xx and any other unexpected status
│   ├── InvalidResponseError      HTML, invalid JSON or an over-sized body where JSON was due
│   └── UnavailableError          the client failed fast without sending anything
│       ├── CircuitOpenError      the host's circuit breaker is open
│       └── RetryBudgetExhaustedError  too many retries against the host recently
├── NetworkError                  connect errors, dropped connections, protocol errors
│   ├── UnreachableError          the host does not resolve or refuses the connection
│   ├── TlsError                  the TLS handshake failed (certificate, protocol)
│   ├── UpstreamTimeoutError      connect/read/pool timeout or the call deadline (a TimeoutError)
│   └── AmbiguousWriteError       a write failed after it may have reached the server
├── CredentialError               a credential failed its probe (403 on a probe path)
├── FlowError                     a flow operation failed (.step names where)
└── TransformError                a transform failed
```

Configuration faults (a wrong API URL, an unreachable host, a TLS failure, a rejected key, an
expired access token, a skewed clock) carry ``fault`` and a hint naming the setting to fix;
:mod:`nexla_mcp.faults` classifies and explains them. An HTTP error reply is mapped onto the
tree in :mod:`nexla_mcp.nexla.status_errors`.

Everything an error exposes as text (``str``, ``repr``, ``get_error_summary()``) passes through
:mod:`nexla_mcp.redaction`, so errors can be logged and shown to a model as they are.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from nexla_mcp.redaction import redact_text, redact_value

__all__ = [
    "AmbiguousWriteError",
    "ApiUrlError",
    "AuthenticationError",
    "AuthorizationError",
    "CircuitOpenError",
    "CredentialError",
    "FlowError",
    "InvalidResponseError",
    "NetworkError",
    "NexlaError",
    "NotFoundError",
    "RateLimitError",
    "ResourceConflictError",
    "RetryBudgetExhaustedError",
    "ServerError",
    "TlsError",
    "TransformError",
    "UnavailableError",
    "UnreachableError",
    "UpstreamTimeoutError",
    "ValidationError",
]

MAX_RESPONSE_JSON_CHARS = 2000
MAX_RESPONSE_TEXT_CHARS = 200
TRUNCATION_MARK = "…[truncated]"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATION_MARK


class NexlaError(Exception):
    """Base of every error the Nexla client raises.

    Attributes mirror the official SDK's ``NexlaError`` so code written against it keeps working:
    ``message, step, operation, resource_type, resource_id, details, context, status_code,
    response, original_error``. On top of that every error says whether retrying later could
    plausibly succeed (``retryable``), how long to wait when the server said (``retry_after``)
    and what to do next (``hint``).
    """

    default_retryable: ClassVar[bool] = False
    default_hint: ClassVar[str | None] = None
    default_fault: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        operation: str | None = None,
        resource_type: str | None = None,
        resource_id: int | str | None = None,
        step: str | None = None,
        context: dict[str, Any] | None = None,
        original_error: BaseException | str | None = None,
        status_code: int | None = None,
        response: Any = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
        fault: str | None = None,
    ) -> None:
        # Stored already redacted so that code reading attributes directly cannot leak either;
        # the summary redacts again to catch literals registered after construction.
        self.message = redact_text(message)
        super().__init__(self.message)
        self.details: dict[str, Any] = redact_value(dict(details or {}))
        self.operation = operation
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.step = step
        self.context: dict[str, Any] = redact_value(dict(context or {}))
        self.original_error = original_error
        self.status_code = status_code
        self.response = redact_value(response)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.hint = hint if hint is not None else self.default_hint
        self.fault: str | None = fault if fault is not None else self.default_fault

    @property
    def outcome_unknown(self) -> bool:
        """True when a write may or may not have been applied: re-read state before retrying."""
        return self.details.get("outcome") == "unknown"

    def get_error_summary(self) -> dict[str, Any]:
        """The reference summary (same keys as the SDK), redacted and size-capped.

        Unlike the SDK, ``status_code`` is always set when there was a response, ``response`` is
        capped (JSON at 2000 characters, text at 200) and ``original_error`` is a string.
        """
        return {
            "message": redact_text(self.message),
            "step": self.step,
            "operation": self.operation,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "details": redact_value(self.details),
            "context": redact_value(self.context),
            "status_code": self.status_code,
            "response": _summarize_response(self.response),
            "original_error": (
                _truncate(redact_text(_describe(self.original_error)), MAX_RESPONSE_JSON_CHARS)
                if self.original_error is not None
                else None
            ),
        }

    def __str__(self) -> str:
        parts = []
        if self.step:
            parts.append(f"Step: {self.step}")
        if self.operation:
            parts.append(f"Operation: {self.operation}")
        if self.resource_type:
            parts.append(f"Resource: {self.resource_type}")
        if self.resource_id is not None:
            parts.append(f"ID: {self.resource_id}")
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        parts.append(f"Error: {self.message}")
        if self.details:
            parts.append(f"Details: {self.details}")
        return redact_text(" | ".join(parts))

    def __repr__(self) -> str:
        fields = [repr(redact_text(self.message))]
        if self.status_code is not None:
            fields.append(f"status_code={self.status_code}")
        if self.resource_type:
            fields.append(f"resource_type={self.resource_type!r}")
        if self.resource_id is not None:
            fields.append(f"resource_id={self.resource_id!r}")
        return f"{type(self).__name__}({', '.join(fields)})"


def _describe(error: BaseException | str) -> str:
    if isinstance(error, BaseException):
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return str(error)


def _summarize_response(response: Any) -> Any:
    if response is None:
        return None
    if isinstance(response, str):
        return _truncate(redact_text(response), MAX_RESPONSE_TEXT_CHARS)
    cleaned = redact_value(response)
    try:
        rendered = json.dumps(cleaned, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return _truncate(redact_text(str(cleaned)), MAX_RESPONSE_TEXT_CHARS)
    if len(rendered) <= MAX_RESPONSE_JSON_CHARS:
        return cleaned
    return _truncate(rendered, MAX_RESPONSE_JSON_CHARS)


class AuthenticationError(NexlaError):
    """401: the token is missing, invalid or expired, and renewing it did not help."""

    default_hint = (
        "Nexla rejected the credentials: set a valid NEXLA_SERVICE_KEY (preferred, renews "
        "itself) or a fresh NEXLA_ACCESS_TOKEN."
    )

    def __init__(self, message: str = "Authentication failed", **kwargs: Any) -> None:
        kwargs.setdefault("operation", "authentication")
        super().__init__(message, **kwargs)


class AuthorizationError(NexlaError):
    """403: the principal has no (or too low a) role on the resource."""

    default_hint = (
        "The Nexla user lacks access to this resource; ask its owner or an org admin to share "
        "it (activate/pause needs operator or higher)."
    )


class NotFoundError(NexlaError):
    """404: the id does not exist, or is not visible to this principal."""

    default_hint = "Check the id; list the resources to find a valid one."


class ApiUrlError(NexlaError):
    """The configured API URL answers, but not as Nexla: a 404/405/501 or a non-JSON page on
    ``POST /token``, a web page where JSON was due, a reply without a token. Not retryable: the
    setting is wrong, not the service."""

    default_fault = "api_url"
    default_hint = (
        "Set NEXLA_API_URL to your Nexla API base URL, which ends in /nexla-api (default "
        "https://dataops.nexla.io/nexla-api); `nexla-mcp doctor` checks it."
    )


class ValidationError(NexlaError):
    """400/422: the request was rejected as invalid (parameters, body or a business rule).

    Not pydantic's ``ValidationError``: this one means Nexla refused the request.
    """

    default_hint = "Fix the request; the upstream message names the offending parameter or rule."


class ResourceConflictError(NexlaError):
    """409/405: the request conflicts with the resource's current state.

    Nexla answers 409 for duplicates (e.g. a nexset detected twice) but uses **405 Method Not
    Allowed** for state conflicts: deleting a flow or source that is still ACTIVE ("must be paused
    before deletion"), deleting a credential that is in use, changing the config of an active
    source. The method is allowed in general; the state forbids it now, which is a conflict the
    caller resolves by changing state first — the official SDK's mapping of 405 to a transient
    ``ServerError`` would invite pointless retries.
    """

    default_hint = (
        "The resource's current state forbids this (e.g. it is active or in use): pause it or "
        "detach what depends on it, then try again."
    )


class RateLimitError(NexlaError):
    """429: Nexla is throttling this principal; ``retry_after`` says for how long, when known."""

    default_retryable = True
    default_hint = "Nexla is rate limiting requests; wait retry_after seconds before retrying."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)


class ServerError(NexlaError):
    """5xx, or a status the client does not expect; usually transient."""

    default_retryable = True
    default_hint = "Nexla returned a server error; try again shortly."


class InvalidResponseError(ServerError):
    """The reply was not the JSON promised: an HTML error page, invalid JSON or too large."""

    default_hint = (
        "Nexla (or a proxy in front of it) returned something other than JSON; try again "
        "shortly, and check NEXLA_API_URL if it persists."
    )


class UnavailableError(ServerError):
    """The client failed fast without sending a request, to protect a struggling upstream."""

    default_hint = "The Nexla API looks unavailable; wait retry_after seconds before retrying."


class CircuitOpenError(UnavailableError):
    """The host's circuit breaker is open after repeated 5xx/timeouts."""


class RetryBudgetExhaustedError(UnavailableError):
    """The host's retry budget is spent: retries are failing too often to keep trying."""

    default_hint = (
        "Too many recent requests to Nexla needed retries; slow down and try again in a moment."
    )


class NetworkError(NexlaError):
    """The request did not complete at the network level (connect error, reset, bad protocol)."""

    default_retryable = True
    default_hint = "Could not reach Nexla; check NEXLA_API_URL and network connectivity."


class UnreachableError(NetworkError):
    """The host name does not resolve, or nothing listens at the host and port."""

    default_fault = "unreachable"
    default_hint = (
        "Check the host and port in NEXLA_API_URL, and that this machine can reach it "
        "(VPN, firewall; set HTTPS_PROXY if you need a proxy)."
    )


class TlsError(NetworkError):
    """The TLS handshake failed: an untrusted certificate, or not TLS at that port.

    Not retryable: the same handshake fails the same way next time.
    """

    default_retryable = False
    default_fault = "tls"
    default_hint = (
        "Check that NEXLA_API_URL uses https:// only where the server speaks TLS; behind a "
        "TLS-inspecting proxy, point SSL_CERT_FILE at its CA bundle."
    )


class UpstreamTimeoutError(NetworkError, TimeoutError):
    """A connect/read/pool timeout, or the call's total deadline passed."""

    default_hint = (
        "Nexla did not answer in time; try again, or narrow the request (shorter date range, "
        "smaller page)."
    )


class AmbiguousWriteError(NetworkError):
    """A write failed after the request may have reached the server; it was not retried.

    ``outcome_unknown`` is True: read the resource back and compare with the intended state
    before deciding to repeat the write.
    """

    default_retryable = False
    default_hint = (
        "The change may or may not have been applied; re-read the resource's state before "
        "trying again."
    )

    def __init__(self, message: str, **kwargs: Any) -> None:
        details = dict(kwargs.pop("details", None) or {})
        details.setdefault("outcome", "unknown")
        super().__init__(message, details=details, **kwargs)


class CredentialError(NexlaError):
    """A data credential failed validation (the probe reached the external system and failed)."""

    default_hint = (
        "The credential was rejected by the external system; update or rotate it, then probe "
        "it again."
    )

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("operation", "credential_validation")
        kwargs.setdefault("resource_type", "data_credentials")
        super().__init__(message, **kwargs)


class FlowError(NexlaError):
    """A flow operation failed; ``step`` (alias ``flow_step``) says at which step."""

    def __init__(self, message: str, *, flow_step: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("operation", "flow_operation")
        kwargs.setdefault("resource_type", "flows")
        if flow_step is not None:
            kwargs.setdefault("step", flow_step)
        super().__init__(message, **kwargs)

    @property
    def flow_step(self) -> str | None:
        """The SDK's name for ``step``."""
        return self.step


class TransformError(NexlaError):
    """A transform (code container) failed."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("operation", "transform_operation")
        kwargs.setdefault("resource_type", "transforms")
        super().__init__(message, **kwargs)
