"""The error envelope: one shape for every failure, with advice and nothing unsafe in it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pydantic
import pytest
from mcp import Client as McpClient
from mcp.types import CallToolResult

from nexla_mcp import errors
from nexla_mcp.nexla.status_errors import error_for_response
from nexla_mcp.redaction import forget_secret, register_secret
from nexla_mcp.server.app import build_server
from nexla_mcp.server.envelope import (
    error_result,
    invalid_arguments_result,
    unexpected_error_result,
    unknown_tool_result,
)
from nexla_mcp.server.testing import NO_BACKOFF, call_error, is_envelope, text_of
from nexla_mcp.settings import Settings


def envelope_of(result: CallToolResult) -> dict[str, Any]:
    """The parsed ``error`` object of an error result (checking the result's outer shape)."""
    assert result.is_error is True
    assert result.structured_content is None
    assert len(result.content) == 1
    text = text_of(result)
    assert ": " not in text.split('"', 2)[0], "compact JSON, no padding"
    payload = json.loads(text)
    assert list(payload) == ["error"]
    assert is_envelope(payload["error"]), payload
    return payload["error"]


def response_error(status: int, body: Any = None, path: str = "/flows/42", **kw: Any) -> Any:
    """The error the client raises for an HTTP reply (via the shared status mapping)."""
    return error_for_response(status, body, method="GET", path=path, **kw)


@pytest.mark.parametrize(
    ("error", "error_type", "retryable", "hint_words"),
    [
        pytest.param(response_error(401), "AuthenticationError", False, ["NEXLA_SERVICE_KEY"],
                     id="401"),
        pytest.param(response_error(403), "AuthorizationError", False, ["access"], id="403"),
        pytest.param(response_error(404), "NotFoundError", False, ["list_flows"], id="404"),
        pytest.param(response_error(400, {"message": "bad per_page"}), "ValidationError", False,
                     ["Fix"], id="400"),
        pytest.param(response_error(405, {"message": "Flow must be paused"}),
                     "ResourceConflictError", False, ["pause"], id="405"),
        pytest.param(response_error(429, retry_after=7), "RateLimitError", True, ["7 s"],
                     id="429"),
        pytest.param(response_error(503), "ServerError", True, ["try again"], id="503"),
        pytest.param(response_error(403, {"message": "login failed"},
                                    path="/data_credentials/5/probe"),
                     "CredentialError", False, ["rotate_credential", "probe_credential"],
                     id="credential-probe"),
        pytest.param(errors.UpstreamTimeoutError("timed out"), "UpstreamTimeoutError", True,
                     ["try again"], id="timeout"),
        pytest.param(errors.NetworkError("connection refused"), "NetworkError", True,
                     ["NEXLA_API_URL"], id="network"),
        pytest.param(errors.FlowError("activation failed", flow_step="activate"), "FlowError",
                     False, ["get_flow_logs"], id="flow"),
        pytest.param(errors.TransformError("boom"), "TransformError", False, ["get_flow_logs"],
                     id="transform"),
    ],
)  # fmt: skip
def test_each_error_class_gets_its_type_retryability_and_a_hint(
    error: errors.NexlaError, error_type: str, retryable: bool, hint_words: list[str]
) -> None:
    """Type, retryable and a hint that names the next step (a tool when one helps)."""
    body = envelope_of(error_result(error))
    assert body["type"] == error_type
    assert body["retryable"] is retryable
    assert body["message"]
    for word in hint_words:
        assert word.lower() in body["hint"].lower()


def test_summary_keys_carry_the_reference_fields() -> None:
    """The reference summary's fields arrive under their own names."""
    upstream = {"status": 404, "message": "no such flow", "error_code": "FLOW_404"}
    body = envelope_of(error_result(response_error(404, upstream)))
    assert (body["status_code"], body["resource_type"], body["resource_id"]) == (404, "flows", 42)
    assert body["context"]["path"] == "/flows/42"
    assert body["message"] == "Resource not found: flows/42 (HTTP 404)"
    assert body["response"] == {"message": "no such flow", "error_code": "FLOW_404"}


def test_context_keeps_method_and_path_but_nothing_said_elsewhere() -> None:
    """A 404's context is the request (method, path); its status is top level, and Nexla's
    request id, useless for a wrong id, is left out."""
    error = response_error(404, request_id="5f0c7d2a9b8e4c1d8e7f6a5b4c3d2e1f")
    error.context["url"] = "https://acme.nexla.test/nexla-api/flows/42"
    body = envelope_of(error_result(error))
    assert body["context"] == {"method": "GET", "path": "/flows/42"}
    assert body["status_code"] == 404 and "details" not in body


def test_a_server_error_keeps_the_request_id_to_report_to_nexla() -> None:
    """After a 5xx the next step may be Nexla support, which asks for the request id."""
    body = envelope_of(error_result(response_error(502, request_id="req-502-abc")))
    assert body["context"] == {"method": "GET", "path": "/flows/42", "request_id": "req-502-abc"}


def test_rate_limit_reports_retry_after_seconds() -> None:
    """retry_after_s is the server's Retry-After, ready for the caller to wait on."""
    body = envelope_of(error_result(response_error(429, retry_after=12)))
    assert body["retry_after_s"] == 12
    assert "12 s" in body["hint"]


def test_a_specific_hint_from_the_raiser_wins_over_the_generic_one() -> None:
    """A hint written for this failure is more useful than the class default."""
    error = errors.NotFoundError("flow 9 was deleted", hint="Flow 9 was deleted yesterday.")
    assert envelope_of(error_result(error))["hint"] == "Flow 9 was deleted yesterday."


def test_upstream_html_never_reaches_the_model() -> None:
    """A proxy's HTML error page is reduced to its visible text."""
    page = (
        "<!DOCTYPE html><html><head><style>h1{color:red}</style><title>502</title></head>"
        "<body><h1>502 Bad Gateway</h1><script>alert(1)</script></body></html>"
    )
    text = text_of(error_result(response_error(502, page)))
    assert "<" not in text and "alert" not in text and "color:red" not in text
    assert "502 Bad Gateway" in text


def test_secrets_in_upstream_replies_are_redacted() -> None:
    """Registered secrets and secret-looking values never appear in the envelope."""
    register_secret("sk-live-registered-123", "api_key")
    try:
        error = response_error(
            400,
            {"message": "bad key sk-live-registered-123", "password": "hunter2-hunter2",
             "detail": "Authorization: Bearer abc.def.ghi-token"},
        )  # fmt: skip
        text = text_of(error_result(error))
    finally:
        forget_secret("sk-live-registered-123")
    for secret in ("sk-live-registered-123", "hunter2-hunter2", "abc.def.ghi-token"):
        assert secret not in text


def test_control_characters_in_upstream_messages_are_stripped() -> None:
    """Upstream text cannot carry terminal escapes or bidi tricks into the envelope."""
    body = envelope_of(error_result(errors.ServerError("bad\x1b[2J \u202eevil\u202c thing")))
    assert body["message"] == "bad evil thing"


def test_large_upstream_responses_are_capped() -> None:
    """A huge error body is cut so one failure cannot flood the context window."""
    error = response_error(500, {"message": "x", "trace": ["frame " * 40] * 50})
    text = text_of(error_result(error))
    assert len(text) < 2000


def test_unexpected_errors_show_the_class_but_never_the_text() -> None:
    """A bug's message (which may hold anything) stays in the server log."""
    body = envelope_of(unexpected_error_result("get_flow", KeyError("internal detail 123")))
    assert body["type"] == "InternalError"
    assert body["original_error"] == "KeyError"
    assert "internal detail 123" not in json.dumps(body)
    assert "get_server_context" in body["hint"]


def test_invalid_arguments_name_the_argument_and_the_constraint() -> None:
    """Validation failures list each argument with the rule it broke, not its value."""

    class Arguments(pydantic.BaseModel):
        flow_id: int = pydantic.Field(gt=0)
        limit: int = pydantic.Field(le=100)

    with pytest.raises(pydantic.ValidationError) as caught:
        Arguments.model_validate({"flow_id": -5, "limit": 123456})
    body = envelope_of(invalid_arguments_result("list_flows", caught.value))
    assert body["type"] == "InvalidArgumentsError"
    assert body["details"]["errors"] == [
        {"argument": "flow_id", "problem": "Input should be greater than 0",
         "constraint": {"gt": 0}},
        {"argument": "limit", "problem": "Input should be less than or equal to 100",
         "constraint": {"le": 100}},
    ]  # fmt: skip
    assert "flow_id" in body["message"] and "limit" in body["message"]
    assert "123456" not in json.dumps(body)
    assert "list_flows" in body["hint"]


def test_unknown_tool_points_at_get_server_context() -> None:
    """Calling a tool that is not enabled says how to find out what is."""
    body = envelope_of(unknown_tool_result("pause_flow"))
    assert body["type"] == "UnknownToolError"
    assert "pause_flow" in body["message"]
    assert "get_server_context" in body["hint"]


# --- through the whole stack: the client raises, the tool wrapper answers with the envelope ---


def reply(status: int, **kwargs: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **kwargs)


def fail_with(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error

    return handle


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("handler", "error_type", "retryable"),
    [
        pytest.param(reply(401), "AuthenticationError", False, id="401"),
        pytest.param(reply(403, json={"message": "no access"}), "AuthorizationError", False,
                     id="403"),
        pytest.param(reply(404), "NotFoundError", False, id="404"),
        pytest.param(reply(400, json={"message": "bad flows_only"}), "ValidationError", False,
                     id="400"),
        pytest.param(reply(405, json={"message": "must be paused"}), "ResourceConflictError",
                     False, id="405"),
        pytest.param(reply(429, headers={"Retry-After": "3600"}), "RateLimitError", True,
                     id="429"),
        pytest.param(reply(503, text="<html><body><h1>503 Service Unavailable</h1></body></html>",
                           headers={"content-type": "text/html"}), "ServerError", True, id="503"),
        pytest.param(fail_with(httpx.ConnectError("connection refused")), "UnreachableError", True,
                     id="connect-error"),
    ],
)  # fmt: skip
async def test_client_errors_reach_the_model_as_the_envelope(
    live_settings: Callable[..., Settings],
    fake_nexla: Any,
    add_flow_probe: Callable[[Any], None],
    handler: Callable[[httpx.Request], httpx.Response],
    error_type: str,
    retryable: bool,
) -> None:
    """Each failure the Nexla client raises becomes the envelope with its class and advice."""
    settings = live_settings(toolsets="context")
    http = fake_nexla({("GET", "/flows/42"): handler})
    server = build_server(settings, http_client=http, retry_policy=NO_BACKOFF)
    add_flow_probe(server)
    async with McpClient(server, mode="legacy") as client:
        body = await call_error(client, "probe_flow", {"flow_id": 42})
    assert body["type"] == error_type
    assert body["retryable"] is retryable
    assert body["hint"]
    text = json.dumps(body)
    assert "<" not in text, "no upstream HTML"
    assert settings.service_key is not None
    assert settings.service_key.get_secret_value() not in text
    assert fake_nexla.token not in text
    if error_type == "RateLimitError":
        assert body["retry_after_s"] == 3600


@pytest.mark.anyio
async def test_the_server_log_keeps_the_request_id_the_envelope_leaves_out(
    live_settings: Callable[..., Settings],
    fake_nexla: Any,
    add_flow_probe: Callable[[Any], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 404's request id is not in the envelope but in the server log, for matching the
    failure with Nexla's side."""
    handler = reply(404, headers={"x-request-id": "req-404-abc"})
    server = build_server(live_settings(toolsets="context"),
                          http_client=fake_nexla({("GET", "/flows/42"): handler}))  # fmt: skip
    add_flow_probe(server)
    with caplog.at_level("INFO", logger="nexla_mcp"):
        async with McpClient(server, mode="legacy") as client:
            body = await call_error(client, "probe_flow", {"flow_id": 42})
    assert "req-404-abc" not in json.dumps(body)
    assert any("req-404-abc" in record.getMessage() for record in caplog.records)


def test_a_body_that_repeats_its_text_is_shown_once() -> None:
    """Nexla often sends the same text as message and error; the envelope keeps it once."""
    upstream = {"status": 501, "message": "Injected fault", "error": "Injected fault"}
    body = envelope_of(error_result(response_error(501, upstream)))
    assert body["message"] == "GET /flows/42 failed: HTTP 501"
    assert body["response"] == {"message": "Injected fault"}
