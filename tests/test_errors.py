"""Tests for nexla_mcp.errors: the hierarchy, the summary contract and secret hygiene."""

from __future__ import annotations

import json

import pytest

from nexla_mcp.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    CircuitOpenError,
    CredentialError,
    FlowError,
    NetworkError,
    NexlaError,
    ResourceConflictError,
    RetryBudgetExhaustedError,
    ServerError,
    UnavailableError,
    UpstreamTimeoutError,
    ValidationError,
)
from nexla_mcp.redaction import forget_secret, register_secret

SUMMARY_KEYS = {
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
}


def test_summary_has_every_reference_key_and_stringifies_original_error() -> None:
    """get_error_summary returns exactly the reference keys; original_error is a string."""
    error = ServerError("boom", original_error=ConnectionResetError("peer reset"), status_code=502)
    summary = error.get_error_summary()
    assert set(summary) == SUMMARY_KEYS
    assert summary["original_error"] == "ConnectionResetError: peer reset"
    assert summary["details"] == {} and summary["context"] == {}


def test_summary_truncates_large_responses() -> None:
    """A large JSON body is cut to ≤2000 characters and a text body to ≤200."""
    big = {"rows": ["x" * 100] * 100}
    json_summary = ServerError("x", response=big).get_error_summary()["response"]
    assert isinstance(json_summary, str) and len(json_summary) <= 2000 + len("…[truncated]")
    text_summary = ServerError("x", response="<html>" + "y" * 5000).get_error_summary()["response"]
    assert len(text_summary) <= 200 + len("…[truncated]")
    small = ServerError("x", response={"message": "ok"}).get_error_summary()["response"]
    assert small == {"message": "ok"}


def test_str_repr_and_summary_never_contain_secrets() -> None:
    """Secrets in the message, body, context or cause are redacted everywhere."""
    literal = "registered-service-key-xyz"
    register_secret(literal, "service_key")
    try:
        error = ServerError(
            f"failed with Bearer abc.def-123 and {literal}",
            response={"access_token": "tok-123456", "detail": f"key {literal}"},
            context={"headers": {"Authorization": "Basic zzz-999"}},
            original_error=RuntimeError("password=hunter2"),
        )
        rendered = " ".join([str(error), repr(error), json.dumps(error.get_error_summary())])
        for secret in ("abc.def-123", literal, "tok-123456", "zzz-999", "hunter2"):
            assert secret not in rendered
    finally:
        forget_secret(literal)


def test_literal_registered_after_construction_is_still_scrubbed_from_summary() -> None:
    """The summary redacts at call time, so a token learned later is still removed."""
    literal = "late-learned-token-1234"
    error = ServerError("echo", original_error=RuntimeError(f"upstream said {literal}"))
    register_secret(literal, "token")
    try:
        assert literal not in json.dumps(error.get_error_summary())
    finally:
        forget_secret(literal)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        pytest.param(AuthenticationError(), False, id="auth"),
        pytest.param(ValidationError("x"), False, id="validation"),
        pytest.param(ResourceConflictError("x"), False, id="conflict"),
        pytest.param(ServerError("x"), True, id="server"),
        pytest.param(NetworkError("x"), True, id="network"),
        pytest.param(UpstreamTimeoutError("x"), True, id="timeout"),
        pytest.param(AmbiguousWriteError("x"), False, id="ambiguous-write"),
        pytest.param(CircuitOpenError("x", retry_after=12.0), True, id="circuit"),
        pytest.param(CredentialError("x"), False, id="credential"),
    ],
)
def test_retryable_reflects_whether_a_later_retry_could_succeed(
    error: NexlaError, retryable: bool
) -> None:
    """Transient failures are retryable; caller mistakes and ambiguous writes are not."""
    assert error.retryable is retryable


def test_hierarchy_places_reliability_errors_sensibly() -> None:
    """Timeouts are also builtin TimeoutErrors; fail-fast errors are unavailability."""
    assert issubclass(UpstreamTimeoutError, NetworkError)
    assert issubclass(UpstreamTimeoutError, TimeoutError)
    assert issubclass(CircuitOpenError, UnavailableError)
    assert issubclass(RetryBudgetExhaustedError, UnavailableError)
    assert issubclass(UnavailableError, ServerError)
    assert AmbiguousWriteError("x").outcome_unknown


def test_flow_error_keeps_the_sdk_flow_step_alias() -> None:
    """FlowError accepts flow_step and exposes it as step."""
    error = FlowError("pause failed", flow_step="pause_source", resource_id=9001)
    assert error.step == error.flow_step == "pause_source"
    assert error.get_error_summary()["step"] == "pause_source"


def test_authentication_error_hint_names_the_environment_variables() -> None:
    """The default hint tells the user which settings fix a 401."""
    hint = AuthenticationError().hint or ""
    assert "NEXLA_SERVICE_KEY" in hint and "NEXLA_ACCESS_TOKEN" in hint
