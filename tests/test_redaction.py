"""Tests for nexla_mcp.redaction: headers, JSON values, secret-looking text, literals, logs."""

from __future__ import annotations

import ast
import logging
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexla_mcp.redaction import (
    RedactingFilter,
    forget_secret,
    install_redaction,
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


# --- the corpus: real messages must survive, real secret shapes must not ------------------

# Messages this project writes, as users see them (errors, hints, warnings, log lines); the
# first three were mangled into "«redacted:token» not connect" and the like.
ORDINARY_MESSAGES = [
    "POST /token: could not connect to Nexla (ConnectError).",
    "POST /token: Could not connect to Nexla (ConnectError).",
    "HTTP transport without NEXLA_MCP_HTTP_TOKEN: any local process can call it",
    "retrying POST /token: attempt 1/3 failed (NetworkError), sleeping 0.50 s; budget 9, "
    "breaker closed",
    "send Authorization: Bearer <NEXLA_MCP_HTTP_TOKEN>",
    "clients send `Authorization: Bearer <token>`",
    "`POST /token` with `Authorization: Basic <service key>` (the raw key, not base64).",
    "The service key (service-key mode), for the ``POST /token`` Basic header.",
    "Session tokens: `POST /token` with the service key, Bearer checks, refresh and logout.",
    "List credentials: id, name, type and last verification status, never secrets.",
    "session: expired, renewing the token",
    "token: expired",
    "Nexla rejected the service key while obtaining a session token.",
    "no Nexla credentials: set NEXLA_SERVICE_KEY (recommended) or NEXLA_ACCESS_TOKEN, or pass "
    "--sandbox to run against the embedded Nexla simulation",
    "NEXLA_MCP_SECRET must be at least 32 characters",
    "obtained a Nexla session token valid for 3600 s",
    "Authentication failed (HTTP 401): Invalid or expired token",
    "Credential probe failed: token expired",
    "tokens: 1200 used of 2000 in this window",
    "NexlaClient(api_url='https://dataops.nexla.io/nexla-api', auth_mode=service_key)",
    "password_expires_at=2026-01-01 token_type=Bearer expires_in=3600",
    "auth: none configured for this source",
    "secret: ${NEXLA_MCP_SECRET} comes from the environment",
    "password: ******** (hidden)",
    '{"sink_credential": "expired", "end": "paused_by_system"}',
    'that would read "credential: 5009" as a secret',
    "probe of credential: 5009",
    '"credentials": {"access_token": {"env": "HUBSPOT_TOKEN"}, "credentials_type": "rest"}',
]

# Secret shapes as they reach text: headers, JSON bodies, query strings, log lines, URLs.
_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
SECRET_SHAPES = [
    ("Authorization: Bearer nxat_2f8c1d9e7b6a5f4e3d2c", "nxat_2f8c1d9e7b6a5f4e3d2c"),
    ("Authorization: Basic nxsk_sbx_4f9e2c7a1b8d4e6f", "nxsk_sbx_4f9e2c7a1b8d4e6f"),
    ('{"Authorization": "Bearer opaque.Tok3n-value"}', "opaque.Tok3n-value"),
    (f"upstream said 401 for {_JWT}", _JWT),
    ("aws_access_key_id=AKIA4SBXQ7RLM2NZ8KTD", "AKIA4SBXQ7RLM2NZ8KTD"),
    ("signing with AKIA4SBXQ7RLM2NZ8KTD now", "AKIA4SBXQ7RLM2NZ8KTD"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        "debug r8Jf2kQ9vX/4mTz7Lp1Wc6Hs3Yb0Dn5Ga8Ue2Qi end",
        "r8Jf2kQ9vX/4mTz7Lp1Wc6Hs3Yb0Dn5Ga8Ue2Qi",
    ),
    ("postgresql://etl_reader:pg_R3plica-Secr3t-7741@pg:5432/billing", "pg_R3plica-Secr3t-7741"),
    ("https://user:pa55word@example.com/x", "pa55word"),
    ('{"password": "My5ql-Inv3ntory-0082", "host": "db"}', "My5ql-Inv3ntory-0082"),
    ("{'client_secret': 'Snowfl4ke-Loader-9931'}", "Snowfl4ke-Loader-9931"),
    ("login failed: password=letmein user=bob", "letmein"),
    ("password: letmein", "letmein"),
    ("password: hunter2 for bob", "hunter2"),
    ("secret: Mysecret", "Mysecret"),
    ("GET /v1/items?api_key=9a8b7c6d5e4f&page=2", "9a8b7c6d5e4f"),
    ("X-API-Key: abcd1234efgh", "abcd1234efgh"),
    (
        "[X-Shopify-Access-Token: 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]",
        "7d3f9a1c5e2b8d4f6a0c9e1b3d5f7a9c",
    ),
    (
        "refresh_token=hs-rt-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "hs-rt-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    ),
    ('"refresh_token": "1//0gDrive-rt-4Kp9Lm2Nq7Rs"', "1//0gDrive-rt-4Kp9Lm2Nq7Rs"),
    ("token ghp_" + "a1B2c3D4" * 5, "a1B2c3D4a1B2c3D4"),
    ("slack xoxb-2048-4096-AbCdEfGhIjKl", "xoxb-2048-4096-AbCdEfGhIjKl"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("google AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    (
        "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkq\n-----END PRIVATE KEY-----",
        "MIIEvgIBADANBgkq",
    ),
    ("NEXLA_SERVICE_KEY=nxsk_sbx_4f9e2c7a1b8d4e6f9a3c", "nxsk_sbx_4f9e2c7a1b8d4e6f9a3c"),
    ("session=8f14e45fceea167a5a36dedd4bea2543; Path=/", "8f14e45fceea167a5a36dedd4bea2543"),
    ("cookie: sid=Zx9Qw8Er7Ty6", "Zx9Qw8Er7Ty6"),
    ('{"credentials": {"password": "Sftp-Partner-Feed-3317"}}', "Sftp-Partner-Feed-3317"),
]


@pytest.mark.parametrize("message", ORDINARY_MESSAGES)
def test_real_messages_pass_through_unchanged(message: str) -> None:
    """No rule takes an ordinary word of a message, hint or log line for a secret."""
    assert redact_text(message) == message


@pytest.mark.parametrize(("text", "secret"), SECRET_SHAPES, ids=[t[:24] for t, _ in SECRET_SHAPES])
def test_real_secret_shapes_are_removed(text: str, secret: str) -> None:
    """Every secret shape in its usual surroundings is replaced."""
    cleaned = redact_text(text)
    assert secret not in cleaned
    assert "«redacted:" in cleaned


def _package_string_literals() -> list[str]:
    """Every string literal of the package with a space in it: hints, errors, log templates,
    descriptions. The sandbox modules that plant secrets in log lines on purpose are left out."""
    planting = {"planted.py", "profiles.py", "probes.py", "redaction.py"}
    found: set[str] = set()
    for path in (Path(__file__).parent.parent / "nexla_mcp").rglob("*.py"):
        if path.name in planting:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value:
                found.add(node.value)
    return sorted(found)


def test_no_string_the_package_writes_is_redacted() -> None:
    """Each of the package's own ~1,700 message strings comes out of the redactor unchanged."""
    literals = _package_string_literals()
    assert len(literals) > 1000
    changed = [text for text in literals if redact_text(text) != text]
    assert changed == []


def test_every_error_hint_survives_redaction() -> None:
    """The hint of every error class (the fix a user reads) is left whole."""
    import nexla_mcp.errors as errors

    hints = [
        cls.default_hint
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.NexlaError) and cls.default_hint
    ]
    assert len(hints) > 8
    assert [redact_text(hint) for hint in hints] == hints


_SECRET_KEYS = st.sampled_from(
    ["password", "api_key", "client_secret", "accessToken", "X-API-Key", "NEXLA_SERVICE_KEY",
     "refresh_token", "private_key", "session", "credentials"]
)  # fmt: skip
_SECRET_VALUES = st.text(
    alphabet=string.ascii_letters + string.digits + "-_./+", min_size=10, max_size=60
).filter(lambda v: any(c.isdigit() for c in v) and any(c.isalpha() for c in v) and v[0].isalnum())
_PAIR_FORMS = st.sampled_from(
    ["{k}={v}", "{k} = {v}", '"{k}": "{v}"', "'{k}': '{v}'", "{k}: {v}", "{k}:{v}", "?{k}={v}&x=1",
     '{{"{k}":"{v}"}}', "{k}={v}; next"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(key=_SECRET_KEYS, value=_SECRET_VALUES, form=_PAIR_FORMS, before=st.sampled_from(["", "x "]))
def test_generated_secrets_under_a_secret_key_are_always_removed(
    key: str, value: str, form: str, before: str
) -> None:
    """Any credential-shaped value after a secret key, in any pair syntax, is removed."""
    cleaned = redact_text(before + form.format(k=key, v=value))
    assert value not in cleaned


_WORDS = st.sampled_from(
    ["could", "not", "connect", "to", "Nexla", "the", "token", "Token", "password", "session",
     "secret", "auth", "key", "api_key", "credentials", "expired", "any", "local", "process",
     "attempt", "1/3", "retrying", "POST", "/token", "Bearer", "Basic", "authentication",
     "failed", "for", "flow", "42", "only", "renewing", "NEXLA_MCP_HTTP_TOKEN", "cookie",
     "missing", "signature", "header", "is", "a", "run", "(ConnectError)."]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(words=st.lists(_WORDS, min_size=2, max_size=12), colons=st.sets(st.integers(0, 10)))
def test_generated_prose_about_secrets_is_left_alone(words: list[str], colons: set[int]) -> None:
    """Sentences made of ordinary words, secret words and "word: more words" stay whole.

    A colon is only put where at least two more words follow; "password: letmein" at the
    very end is a value, and redacted on purpose.
    """
    sentence = " ".join(
        f"{word}:" if index in colons and index < len(words) - 2 else word
        for index, word in enumerate(words)
    )
    assert redact_text(sentence) == sentence
