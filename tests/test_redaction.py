"""Tests for nexla_mcp.redaction: headers, JSON keys, secret-looking text, literals, log records."""

from __future__ import annotations

import logging

import pytest

from nexla_mcp.redaction import (
    RedactingFilter,
    forget_secret,
    install_redaction,
    is_secret_key,
    redact_headers,
    redact_text,
    redact_value,
    register_secret,
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param("Authorization: Bearer abc.def-ghi123", "abc.def-ghi123", id="auth-header"),
        pytest.param("sent Bearer sk_live_12345678 upstream", "sk_live_12345678", id="bearer"),
        pytest.param("Basic c2VydmljZWtleQ==", "c2VydmljZWtleQ==", id="basic"),
        pytest.param("tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.c2ln end", "eyJhbGci", id="jwt"),
        pytest.param("key AKIAIOSFODNN7EXAMPLE in config", "AKIAIOSFODNN7EXAMPLE", id="aws"),
        pytest.param("postgres://bob:hunter2@db:5432/x", "hunter2", id="url-userinfo"),
        pytest.param("login failed password=hunter2 for bob", "hunter2", id="password-pair"),
        pytest.param('{"client_secret": "s3cr3tvalue"}', "s3cr3tvalue", id="json-in-text"),
        pytest.param("GET /x?api_key=abcdef123&page=2", "abcdef123", id="query-param"),
        pytest.param("X-API-Key: abcd1234", "abcd1234", id="x-api-key"),
        pytest.param(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
            "MIIEabc",
            id="pem",
        ),
        pytest.param("-----BEGIN PRIVATE KEY-----\nMIIEtruncat", "MIIEtruncat", id="pem-cut"),
        pytest.param(
            "init secretAccessKey=wJalrXUtnFEMIK7MDENG x", "wJalrXUtnFEMIK7MDENG", id="camel"
        ),
        pytest.param(
            "[X-Shopify-Access-Token: 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]",
            "7d3f9a1c5e2b8d4f6a0c9e1b3d5f7a9c",
            id="header-in-log",
        ),
        pytest.param("ghp_" + "a1B2c3D4" * 5, "a1B2c3D4a1B2", id="known-prefix"),
        pytest.param(
            "debug r8Jf2kQ9vX/4mTz7Lp1Wc6Hs3Yb0Dn5Ga8Ue2Qi end",
            "r8Jf2kQ9vX/4mTz7Lp1Wc6Hs3Yb0Dn5Ga8Ue2Qi",
            id="high-entropy",
        ),
    ],
)
def test_redact_text_removes_secret_looking_values(text: str, secret: str) -> None:
    """Every secret pattern is replaced by a «redacted:…» marker."""
    cleaned = redact_text(text)
    assert secret not in cleaned
    assert "«redacted:" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "token_type=Bearer expires_in=3600",
        "basic authentication failed for the source",
        "Bearer token missing",
        "data_credentials_id=5001 auth_template_id=3",
        "the session ended; key=orders/2025-03-04.json",
        "Processed records=1200, errors=0, size=1048576",
        "author=Bob wrote com/nexla/connector/RestSourceConnectorTask2Handler1",
        "TheQuickBrownFoxJumpsOverTheLazyDog12345 d41d8cd98f00b204e9800998ecf8427e",
        "550e8400-e29b-41d4-a716-446655440000 orders-bucket/in/2025-03-04.json",
    ],
)
def test_redact_text_leaves_harmless_text_alone(text: str) -> None:
    """Metadata and prose that merely mention secrets are not mangled."""
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "api_key",
        "apiKey",
        "accessToken",
        "credentials",
        "private_key",
        "secret_access_key",
        "auth",
        "session",
        "cookie",
        "signature",
        "service_key",
        "api_keys",
        "credentials_enc",
    ],
)
def test_is_secret_key_recognises_secret_names(key: str) -> None:
    """Keys that name a secret are recognised in snake, kebab and camel case."""
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "data_credentials_id",
        "token_type",
        "expires_in",
        "credentials_type",
        "credentials_version",
        "credentials_non_secure_data",
        "auth_template_id",
        "key",
        "access_roles",
        "verified_status",
        "author",
        "password_expires_at",
    ],
)
def test_is_secret_key_spares_metadata_keys(key: str) -> None:
    """Keys that describe a secret (its id, type, expiry) are not blanked."""
    assert not is_secret_key(key)


def test_unterminated_pem_block_does_not_swallow_the_rest_of_the_text() -> None:
    """A truncated PEM loses its base64 body but the following fields survive."""
    text = '{"private_key": "-----BEGIN PRIVATE KEY-----MIIEvgIBADANBg", "region": "us-east-1"}'
    cleaned = redact_text(text)
    assert "MIIEvgIBADANBg" not in cleaned
    assert '"region": "us-east-1"' in cleaned


def test_redact_value_blanks_secret_keys_recursively_and_keeps_the_rest() -> None:
    """Nested dicts and lists are walked; secret keys are blanked, metadata survives."""
    body = {
        "access_token": "opaque-token-value",
        "token_type": "Bearer",
        "expires_in": 3600,
        "org_membership": {"api_key": "org-key-123", "status": "ACTIVE"},
        "data_sources": [{"id": 5, "data_credentials_id": 7, "credentials": {"user": "u"}}],
        "password": None,
        "note": "db at mysql://root:toor@10.0.0.1/db",
    }
    cleaned = redact_value(body)
    assert cleaned["access_token"] == "«redacted:token»"
    assert cleaned["token_type"] == "Bearer"
    assert cleaned["expires_in"] == 3600
    assert cleaned["org_membership"] == {"api_key": "«redacted:api_key»", "status": "ACTIVE"}
    assert cleaned["data_sources"][0]["data_credentials_id"] == 7
    assert cleaned["data_sources"][0]["credentials"] == "«redacted:credentials»"
    assert cleaned["password"] is None
    assert "toor" not in cleaned["note"]
    assert body["access_token"] == "opaque-token-value", "the input is not mutated"


def test_redact_headers_replaces_credential_headers_case_insensitively() -> None:
    """Authorization, Cookie, Set-Cookie, X-API-Key and Proxy-Authorization are replaced."""
    headers = {
        "authorization": "Bearer abc",
        "Cookie": "s=1",
        "Set-Cookie": "s=2",
        "X-Api-Key": "k",
        "Proxy-Authorization": "Basic x",
        "Accept": "application/json",
    }
    cleaned = redact_headers(headers)
    assert cleaned["Accept"] == "application/json"
    for name in ("authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Proxy-Authorization"):
        assert cleaned[name].startswith("«redacted:")


def test_registered_literal_is_scrubbed_even_without_a_pattern() -> None:
    """A registered service key is removed wherever it appears, and can be forgotten again."""
    literal = "plainservicekeyvalue"
    assert redact_text(f"key is {literal}") == f"key is {literal}"
    register_secret(literal, "service_key")
    try:
        assert redact_text(f"key is {literal}!") == "key is «redacted:service_key»!"
        assert redact_value({"note": literal}) == {"note": "«redacted:service_key»"}
    finally:
        forget_secret(literal)
    assert literal in redact_text(literal)


def test_short_literals_are_not_registered() -> None:
    """Registering a tiny string would mangle ordinary text, so it is ignored."""
    register_secret("abc")
    assert redact_text("abc abc") == "abc abc"


def test_redacting_filter_scrubs_message_args_extras_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record's rendered message, extra fields and exception text reach handlers redacted."""
    logger = install_redaction(logging.getLogger("tests.redaction"))
    install_redaction(logger)
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="tests.redaction"):
        try:
            raise RuntimeError("boom password=hunter2")
        except RuntimeError:
            logger.exception(
                "call with %s", "Bearer abc.def-123", extra={"headers": {"Authorization": "x"}}
            )
    record = caplog.records[-1]
    assert "abc.def-123" not in record.getMessage()
    assert record.headers["Authorization"].startswith("«redacted:")
    assert "hunter2" not in caplog.text
    assert "abc.def-123" not in caplog.text
