"""Which JSON keys name a secret: ``password``, ``api_key``, ``accessToken`` do;
``data_credentials_id``, ``token_type`` or ``credentials_type`` (metadata about a secret) do not.

:mod:`nexla_mcp.redaction` blanks the values of such keys in JSON and in ``key=value`` text.
"""

from __future__ import annotations

import re

__all__ = ["is_secret_key", "secret_kind_of_key"]

# Words that make a key name a secret on their own.
_SECRET_WORDS = {
    "password": "password",
    "passwd": "password",
    "pwd": "password",
    "passphrase": "password",
    "secret": "secret",
    "secrets": "secret",
    "token": "token",
    "tokens": "token",
    "apikey": "api_key",
    "credential": "credentials",
    "credentials": "credentials",
    "privatekey": "private_key",
    "accesskey": "api_key",
    "servicekey": "api_key",
    "auth": "auth",
    "authorization": "auth",
    "session": "session",
    "cookie": "cookie",
    "cookies": "cookie",
    "signature": "signature",
}
# "key" is only a secret next to one of these words ("api_key", "private_key", …); a bare "key"
# is usually an S3 object key or a map key.
_KEY_QUALIFIERS = {
    "api": "api_key",
    "private": "private_key",
    "access": "api_key",
    "secret": "secret",
    "client": "api_key",
    "service": "api_key",
    "encryption": "private_key",
    "signing": "private_key",
    "ssh": "private_key",
    "master": "private_key",
}
# A secret word followed by one of these final words names metadata *about* a secret
# (data_credentials_id, token_type, credentials_version, password_expires_at, auth_template).
_METADATA_SUFFIXES = frozenset(
    {
        "id",
        "ids",
        "type",
        "types",
        "kind",
        "count",
        "at",
        "version",
        "status",
        "in",
        "name",
        "names",
        "method",
        "mode",
        "scheme",
        "template",
        "url",
        "uri",
        "enabled",
        "required",
        "group",
        "expires",
        "expiry",
        "length",
        "field",
        "fields",
        "present",
    }
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KEY_SEPARATORS = re.compile(r"[^a-z0-9]+")


def _key_words(key: str) -> list[str]:
    return [w for w in _KEY_SEPARATORS.split(_CAMEL_BOUNDARY.sub("_", key).lower()) if w]


def secret_kind_of_key(key: str) -> str | None:
    """The secret kind a JSON key names, or None when the key is harmless."""
    words = _key_words(key)
    if not words or words[-1] in _METADATA_SUFFIXES:
        return None
    if "non" in words and "secure" in words:  # credentials_non_secure_data is documented as safe
        return None
    for index, word in enumerate(words):
        if word in _SECRET_WORDS:
            return _SECRET_WORDS[word]
        if word in {"key", "keys"} and index > 0 and words[index - 1] in _KEY_QUALIFIERS:
            return _KEY_QUALIFIERS[words[index - 1]]
    return None


def is_secret_key(key: str) -> bool:
    """True when a JSON key names a secret (``password``), False for metadata (``token_type``)."""
    return secret_kind_of_key(key) is not None
