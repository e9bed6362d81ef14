"""The one error envelope every failing tool call returns (design contract 3).

A failure is a ``CallToolResult`` with ``is_error=True`` whose only content is compact JSON::

    {"error": {"type": "NotFoundError", "message": "...", "step": null, "operation": "...",
               "resource_type": "flows", "resource_id": 42, "details": {...}, "context": {...},
               "status_code": 404, "response": {...}, "original_error": null,
               "retryable": false, "retry_after_s": null, "hint": "..."}}

``type``, ``message`` and ``retryable`` are always there; every other key is left out when
it has nothing to say (results carry no nulls either), so a client reads a missing key as
unknown or empty.
There is no ``structured_content``: the official TypeScript SDK validates it against the
tool's ``outputSchema`` even on errors and would reject the call. Strings are sanitised
(control and invisible characters, secrets, HTML) and capped, so no traceback, secret or raw
upstream page reaches the model.

An envelope is read in the middle of a task, so it stays under 150 tokens by never saying a
thing twice: ``context`` keeps the method and path of the failed request but not what
repeats a top-level key (``status_code``) or the path (``url``); ``response`` is Nexla's
error body less the values ``message`` and ``status_code`` already carry; and Nexla's
request id is kept only on a server error (5xx), the one case where the next step may be to
report it to Nexla (the server log keeps it for every failure).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pydantic
from mcp.types import CallToolResult, TextContent

from nexla_mcp.errors import (
    CredentialError,
    FlowError,
    NexlaError,
    NotFoundError,
    RateLimitError,
    TransformError,
)
from nexla_mcp.server.text import sanitize_text, sanitize_value

__all__ = [
    "ENVELOPE_KEYS",
    "REQUIRED_ENVELOPE_KEYS",
    "error_payload",
    "error_result",
    "invalid_arguments_result",
    "tool_error_result",
    "tool_not_enabled_result",
    "unexpected_error_result",
    "unknown_arguments_result",
    "unknown_tool_result",
]

ENVELOPE_KEYS = (
    "type",
    "message",
    "step",
    "operation",
    "resource_type",
    "resource_id",
    "details",
    "context",
    "status_code",
    "response",
    "original_error",
    "retryable",
    "retry_after_s",
    "hint",
)
REQUIRED_ENVELOPE_KEYS = ("type", "message", "retryable")
MAX_FIELD_CHARS = 500
MAX_RESPONSE_CHARS = 500
# Context keys a model cannot use: the full URL repeats method + path (and the base URL is
# the server's own setting); status_code repeats the top-level key.
_REDUNDANT_CONTEXT = ("url", "status_code")

# Hints that name this server's tools; they win over the error class's generic default but
# not over a hint the raiser wrote for this specific failure.
_TOOL_HINTS: tuple[tuple[type[NexlaError], str], ...] = (
    (
        CredentialError,
        "The external system refused the credential: rotate it (rotate_credential prompt), "
        "then verify with probe_credential.",
    ),
    (NotFoundError, "Check the id: list_flows finds flows, get_flow a flow's resource ids."),
    (FlowError, "Call get_flow for the flow's status, get_flow_logs for the failing step."),
    (
        TransformError,
        "Call get_flow_logs for the transform's error lines and fix the transform's code.",
    ),
)

_HTML_MARKUP = re.compile(
    r"<\s*(?:!doctype|html|head|body|title|div|span|p|h[1-6]|pre|center|br|hr|table|a)\b",
    re.IGNORECASE,
)
_HTML_BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")


def _text_of_html(text: str) -> str:
    """The visible text of an HTML fragment; ``text`` unchanged when it holds no markup."""
    if not _HTML_MARKUP.search(text):
        return text
    text = _HTML_TAG.sub(" ", _HTML_BLOCKS.sub(" ", text))
    return _WHITESPACE.sub(" ", html.unescape(text)).strip()


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = _text_of_html(value)
    return sanitize_value(value, max_chars=MAX_FIELD_CHARS)


def _clean_response(response: Any, message: str, status_code: int | None) -> Any:
    """Nexla's error body (data, never our message), less what ``message``, ``status_code``
    or another of its keys already says."""
    response = _clean(response)
    if isinstance(response, str):
        return None if response in message else response
    if isinstance(response, dict):
        kept: dict[str, Any] = {}
        for key, value in response.items():
            said = isinstance(value, str) and (value in message or value in kept.values())
            if value != status_code and not said:
                kept[key] = value  # Nexla often repeats its text as message and error
        response = kept
    if not response:
        return None
    rendered = json.dumps(response, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(rendered) <= MAX_RESPONSE_CHARS:
        return response
    return sanitize_text(rendered, max_chars=MAX_RESPONSE_CHARS)


def _context(context: Any, status_code: int | None) -> dict[str, Any] | None:
    """The request's context without what the envelope says elsewhere (module docstring)."""
    if not isinstance(context, dict):
        return _clean(context) or None
    kept = {key: value for key, value in context.items() if key not in _REDUNDANT_CONTEXT}
    if status_code is None or status_code < 500:
        kept.pop("request_id", None)
    return _clean(kept) or None


def _hint_for(error: NexlaError) -> str | None:
    if isinstance(error, RateLimitError):
        if error.retry_after is not None:
            return f"Nexla is rate limiting requests: wait {error.retry_after:g} s, then retry."
        return "Nexla is rate limiting requests: wait a few seconds, then retry."
    if error.hint is not None and error.hint != type(error).default_hint:
        return error.hint
    for error_class, hint in _TOOL_HINTS:
        if isinstance(error, error_class):
            return hint
    return error.hint


def _envelope(**fields: Any) -> dict[str, Any]:
    body = {key: fields.get(key) for key in ENVELOPE_KEYS}
    return {
        "error": {
            key: value
            for key, value in body.items()
            if value is not None or key in REQUIRED_ENVELOPE_KEYS
        }
    }


def error_payload(error: NexlaError) -> dict[str, Any]:
    """The ``{"error": {...}}`` payload for a Nexla error: its redacted summary plus advice."""
    summary = error.get_error_summary()
    fields = {key: _clean(summary.get(key)) for key in ENVELOPE_KEYS if key in summary}
    fields["details"] = fields.get("details") or None
    fields["context"] = _context(summary.get("context"), summary.get("status_code"))
    fields["response"] = _clean_response(
        summary.get("response"), fields.get("message") or "", summary.get("status_code")
    )
    return _envelope(
        **fields,
        type=type(error).__name__,
        retryable=bool(error.retryable),
        retry_after_s=error.retry_after,
        hint=_hint_for(error),
    )


def _result(payload: dict[str, Any]) -> CallToolResult:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def error_result(error: NexlaError) -> CallToolResult:
    """The error result for a Nexla error raised while a tool ran."""
    return _result(error_payload(error))


def unexpected_error_result(tool: str, error: BaseException) -> CallToolResult:
    """The error result for a bug or an unforeseen failure: the class name, never the text."""
    return _result(
        _envelope(
            type="InternalError",
            message=f"{tool} failed unexpectedly; the server log has the details.",
            original_error=type(error).__name__,
            retryable=False,
            hint="Retry once; if it fails again, report it with the server version from "
            "get_server_context.",
        )
    )


def _argument_problem(error: Any) -> dict[str, Any]:
    location = ".".join(str(part) for part in error.get("loc", ())) or "(arguments)"
    problem: dict[str, Any] = {"argument": location, "problem": error.get("msg", "invalid")}
    constraint = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
    if constraint:
        problem["constraint"] = constraint
    return problem


def invalid_arguments_result(tool: str, error: pydantic.ValidationError) -> CallToolResult:
    """The error result for arguments that fail the tool's input schema.

    Names each argument and the rule it broke; never echoes the rejected value.
    """
    problems = [_argument_problem(e) for e in error.errors(include_url=False, include_input=False)]
    listed = "; ".join(f"{p['argument']}: {p['problem']}" for p in problems)
    return _result(
        _envelope(
            type="InvalidArgumentsError",
            message=_clean(f"Invalid arguments for {tool}: {listed}"),
            details=_clean({"errors": problems}),
            retryable=False,
            hint=f"Fix the arguments named in details and call {tool} again.",
        )
    )


def unknown_arguments_result(tool: str, unknown: list[str], valid: list[str]) -> CallToolResult:
    """The error result for argument names the tool does not take (e.g. a typo in a filter).

    Silently ignoring them would let a caller believe a filter was applied when it was not.
    """
    accepted = ", ".join(valid) or "none"
    return _result(
        _envelope(
            type="InvalidArgumentsError",
            message=_clean(f"Unknown arguments for {tool}: {', '.join(unknown)}"),
            details=_clean(
                {
                    "errors": [{"argument": n, "problem": "unknown"} for n in unknown],
                    "accepted": accepted,
                }
            ),
            retryable=False,
            hint=f"Use only the accepted arguments and call {tool} again.",
        )
    )


def unknown_tool_result(tool: str) -> CallToolResult:
    """The error result for a tool name this server does not serve."""
    return _result(
        _envelope(
            type="UnknownToolError",
            message=_clean(f"Unknown tool: {tool}"),
            retryable=False,
            hint="List the tools again; get_server_context shows the enabled toolsets.",
        )
    )


def tool_not_enabled_result(tool: str, toolset: str) -> CallToolResult:
    """The error result for a tool dynamic discovery serves but the caller has not enabled."""
    return _result(
        _envelope(
            type="ToolNotEnabledError",
            message=f"{tool} is not enabled for this client",
            details={"toolset": toolset},
            retryable=False,
            hint=f"Call enable_toolset with toolset={toolset}, then call {tool} again.",
        )
    )


def tool_error_result(tool: str, message: str) -> CallToolResult:
    """The error result for a deliberate ``ToolError`` (e.g. a declined confirmation)."""
    # The SDK prefixes the tool name to errors it raises itself (resolvers); the type says it.
    message = message.removeprefix(f"Error executing tool {tool}: ")
    return _result(_envelope(type="ToolError", message=_clean(message), retryable=False))
