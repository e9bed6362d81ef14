"""New credentials this server may create, from a file only the server's operator controls.

Secret values never pass through the model: a rotation names an *entry* of the file set in
``NEXLA_MCP_NEW_CREDENTIALS_FILE`` (off when unset), and the server reads that entry's values,
literally from the file or from the server host's environment, only when it creates the
credential. The file is a JSON object of entries::

    {"hubspot-2026": {"name": "hubspot-oauth-2026", "credentials_type": "rest",
                      "credentials": {"access_token": {"env": "HUBSPOT_TOKEN"},
                                      "url": "https://api.hubapi.com"}}}

Plans and journals show an entry's name, type and keys, never a value.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from nexla_mcp.errors import ValidationError
from nexla_mcp.redaction import register_secret

__all__ = ["NewCredentials"]

# Literal values under these keys are secrets too (values from the environment always are).
_SECRET_KEY = re.compile(r"secret|token|password|passwd|key|private|credential", re.IGNORECASE)
_OFF_HINT = (
    "Ask the user to create the new credential in Nexla and pass its id as new_credential_id "
    "(this server creates credentials only from NEXLA_MCP_NEW_CREDENTIALS_FILE, which is unset)."
)


class NewCredentials:
    """The entries of the new-credentials file (``path`` None: the feature is off)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _entries(self) -> dict[str, Any]:
        if self.path is None:
            raise ValidationError("This server does not create credentials.", hint=_OFF_HINT)
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError) as error:
            raise ValidationError(
                f"The new-credentials file cannot be read ({type(error).__name__}).",
                hint="The server's operator must fix NEXLA_MCP_NEW_CREDENTIALS_FILE.",
            ) from None
        if not isinstance(entries, dict):
            raise ValidationError("The new-credentials file must hold a JSON object.")
        return entries

    def _entry(self, entry: str) -> dict[str, Any]:
        value = self._entries().get(entry)
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("name"), str)
            or not isinstance(value.get("credentials_type"), str)
            or not isinstance(value.get("credentials"), dict)
        ):
            raise ValidationError(
                f"No usable entry {entry!r} in the new-credentials file.",
                hint="An entry needs name, credentials_type and a credentials object.",
            )
        return value

    def summary(self, entry: str) -> dict[str, Any]:
        """What a plan may show about an entry: its name, type and the keys it sets."""
        value = self._entry(entry)
        return {
            "entry": entry,
            "name": value["name"],
            "credentials_type": value["credentials_type"],
            "keys": sorted(value["credentials"]),
        }

    def body(self, entry: str) -> dict[str, Any]:
        """The ``POST /data_credentials`` body, values resolved now (secrets registered for
        redaction first, so no log line or error can echo one)."""
        value = self._entry(entry)
        credentials: dict[str, Any] = {}
        for key, item in value["credentials"].items():
            secret = _SECRET_KEY.search(key) is not None
            if isinstance(item, dict) and set(item) == {"env"}:
                secret = True
                resolved = os.environ.get(str(item["env"]))
                if not resolved:
                    raise ValidationError(
                        f"Entry {entry!r}: the environment variable for {key!r} is not set.",
                        hint="The server's operator must set it on the server host.",
                    )
                item = resolved
            if secret and isinstance(item, str):
                register_secret(item, f"new_credential_{key}")
            credentials[key] = item
        body = {
            "name": value["name"],
            "credentials_type": value["credentials_type"],
            "credentials": credentials,
        }
        if isinstance(value.get("description"), str):
            body["description"] = value["description"]
        return body
