"""Tests for nexla_mcp.secret_keys: which JSON keys name a secret and which describe one."""

from __future__ import annotations

import pytest

from nexla_mcp.secret_keys import is_secret_key, secret_kind_of_key


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


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        pytest.param("db_password", "password", id="password"),
        pytest.param("secretAccessKey", "secret", id="camel-secret"),
        pytest.param("X-Shopify-Access-Token", "token", id="kebab-token"),
        pytest.param("client_key", "api_key", id="qualified-key"),
        pytest.param("ssh_key", "private_key", id="ssh-key"),
        pytest.param("object_key", None, id="bare-key"),
    ],
)
def test_secret_kind_of_key_names_what_kind_of_secret_a_key_holds(
    key: str, kind: str | None
) -> None:
    """The kind shows in the placeholder; a "key" is a secret only next to a qualifier."""
    assert secret_kind_of_key(key) == kind
