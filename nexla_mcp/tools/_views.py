"""Small conversions shared by the read tools: times, untrusted text and bad-argument errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from nexla_mcp.errors import ValidationError
from nexla_mcp.server.text import sanitize_text, sanitize_value

__all__ = [
    "NAME_CHARS",
    "TEXT_CHARS",
    "CompactModel",
    "bad_arguments",
    "clean",
    "clean_value",
    "iso",
    "utc_now",
]

# Names are labels; descriptions and messages carry more but are still capped.
NAME_CHARS = 120
TEXT_CHARS = 300


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """``2025-03-04T10:15:00Z``: UTC, whole seconds (no microseconds to spend tokens on)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def clean(text: Any, max_chars: int = TEXT_CHARS) -> str | None:
    """Untrusted text made safe to show: sanitised, redacted, capped; None stays None.

    Empty strings become None too, so they drop out of compact results.
    """
    if text is None:
        return None
    cleaned = sanitize_text(str(text), max_chars=max_chars)
    return cleaned or None


def clean_value(value: Any, max_chars: int = TEXT_CHARS) -> Any:
    """A JSON-like value from upstream with every string sanitised and secret keys blanked."""
    return sanitize_value(value, max_chars=max_chars)


def bad_arguments(message: str, hint: str) -> ValidationError:
    """The error for arguments that are each valid but do not make sense together."""
    return ValidationError(message, operation="validate_arguments", hint=hint)


def _compact_schema(schema: dict[str, Any], _model: type[BaseModel]) -> None:
    """Drop titles and null branches: results never carry nulls (``tool_result`` omits them),
    and every byte of an output schema is paid for in each client's tool list."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        branches = prop.get("anyOf")
        if isinstance(branches, list) and {"type": "null"} in branches:
            rest = [branch for branch in branches if branch != {"type": "null"}]
            if len(rest) == 1:
                del prop["anyOf"]
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
        if "default" in prop and prop["default"] in (None, []):
            del prop["default"]


class CompactModel(BaseModel):
    """Base of the tools' output models: a small JSON schema for the same data."""

    model_config = ConfigDict(json_schema_extra=_compact_schema)
