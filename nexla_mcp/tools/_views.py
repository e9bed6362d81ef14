"""Small conversions shared by the read tools: times, untrusted text and bad-argument errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from nexla_mcp.errors import ValidationError
from nexla_mcp.runbooks.report import iso
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


class CompactModel(BaseModel):
    """Base of the tools' output models. Their schemas reach clients compacted (no titles,
    null branches, defaults or descriptions: ``nexla_mcp.server.schemas``), so a field's
    description is documentation for maintainers; what a model must know goes in the
    tool's docstring. Validators are built on first use (``defer_build``): a start builds
    only the models of the tools it registers, not every model of every module it imports."""

    model_config = ConfigDict(defer_build=True)
