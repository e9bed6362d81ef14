"""Tests for nexla_mcp.nexla.status_errors: each HTTP error reply lands on its error class."""

from __future__ import annotations

import json

import pytest

from nexla_mcp.errors import (
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
from nexla_mcp.nexla.status_errors import error_for_response, upstream_message


@pytest.mark.parametrize(
    ("status", "path", "expected"),
    [
        pytest.param(400, "/data_sources", ValidationError, id="400"),
        pytest.param(422, "/data_sets/5", ValidationError, id="422"),
        pytest.param(401, "/flows", AuthenticationError, id="401"),
        pytest.param(403, "/flows/5", AuthorizationError, id="403"),
        pytest.param(403, "/data_credentials/5/probe", CredentialError, id="403-probe"),
        pytest.param(403, "/data_credentials/5/probe/tree", CredentialError, id="403-probe-tree"),
        pytest.param(403, "/data_credentials/5", AuthorizationError, id="403-credential-get"),
        pytest.param(404, "/flows/5", NotFoundError, id="404"),
        pytest.param(405, "/flows/5", ResourceConflictError, id="405"),
        pytest.param(409, "/data_sets", ResourceConflictError, id="409"),
        pytest.param(429, "/flows", RateLimitError, id="429"),
        pytest.param(500, "/flows", ServerError, id="500"),
        pytest.param(503, "/flows", ServerError, id="503"),
        pytest.param(418, "/flows", ServerError, id="unexpected"),
    ],
)
def test_error_for_response_maps_each_status_to_its_class(
    status: int, path: str, expected: type[NexlaError]
) -> None:
    """Each status lands on the documented class, with status_code always set (§19 #5)."""
    error = error_for_response(status, None, method="GET", path=path)
    assert type(error) is expected
    assert error.status_code == status
    assert error.get_error_summary()["status_code"] == status


def test_error_for_response_fills_resource_and_context_from_the_path() -> None:
    """resource_type/id come from the path; the query string never reaches the context."""
    body = {
        "message": "Active flow resources must be paused before flow deletion!",
        "data_sources": [5023],
        "data_sets": [],
        "data_sinks": [5029],
    }
    error = error_for_response(405, body, method="delete", path="/flows/5059?all=1")
    assert isinstance(error, ResourceConflictError)
    assert (error.resource_type, error.resource_id) == ("flows", 5059)
    assert error.operation == "delete_request"
    assert error.context == {"method": "DELETE", "path": "/flows/5059", "status_code": 405}
    assert error.message == "DELETE /flows/5059 failed: HTTP 405", "our words, not Nexla's"
    assert "must be paused" in error.response["message"]
    assert error.response["data_sinks"] == [5029]
    assert not error.retryable


def test_not_found_message_names_the_resource() -> None:
    """A 404 with an empty body still says which resource was missing."""
    error = error_for_response(404, None, method="GET", path="/data_sources/77")
    assert error.message == "Resource not found: data_sources/77 (HTTP 404)"


def test_credential_probe_403_carries_status_and_sanitized_upstream_message() -> None:
    """A failed probe becomes CredentialError with the reason, minus any secret in it (§19 #6)."""
    body = {"status": 403, "message": "Access denied for s3://AKIAIOSFODNN7EXAMPLE:pw@bucket"}
    error = error_for_response(403, body, method="GET", path="/data_credentials/5001/probe")
    assert isinstance(error, CredentialError)
    assert error.status_code == 403
    assert error.resource_id == 5001
    assert "Access denied" in error.response["message"] and "Access" not in error.message
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(error.get_error_summary())


@pytest.mark.parametrize(
    ("retry_after", "body", "expected"),
    [
        pytest.param(2.0, None, 2.0, id="header"),
        pytest.param(None, {"retry_after": 7}, 7.0, id="body"),
        pytest.param(None, {"retry_after": "x"}, None, id="garbage-body"),
        pytest.param(None, {"retry_after": -3}, None, id="negative-body"),
    ],
)
def test_rate_limit_error_carries_retry_after(
    retry_after: float | None, body: object, expected: float | None
) -> None:
    """retry_after comes from the parsed header first, then the body's retry_after."""
    error = error_for_response(429, body, method="GET", path="/flows", retry_after=retry_after)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == expected
    assert error.retryable


def test_upstream_message_prefers_message_then_error_then_description() -> None:
    """The documented body keys are read in order; other shapes give None."""
    assert upstream_message({"message": "a", "error": "b"}) == "a"
    assert upstream_message({"error": "b", "error_description": "c"}) == "b"
    assert upstream_message({"error_description": "c"}) == "c"
    assert upstream_message({"status": 500}) is None
    assert upstream_message("plain text") == "plain text"
    assert upstream_message(None) is None


def test_unexpected_client_status_is_not_retryable() -> None:
    """An unmapped 4xx becomes ServerError but will not fix itself by retrying."""
    assert not error_for_response(418, None, method="GET", path="/x").retryable
    assert error_for_response(408, None, method="GET", path="/x").retryable
