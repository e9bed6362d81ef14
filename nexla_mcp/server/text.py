"""Sanitising untrusted upstream text before it reaches a model (design contract 5).

Log lines, error messages, names and descriptions come from Nexla and, through it, from whoever
can write to a data source. They are returned as data in named fields, never as instructions, so
here they lose what could hide or disguise content: terminal escape sequences, C0/C1 control
characters, zero-width and bidirectional-override characters and Unicode tag characters. Then
secrets are redacted and the length is capped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nexla_mcp.invisible import FORMAT_CHARS as _FORMAT_CHARS
from nexla_mcp.redaction import redact_text, redact_value

__all__ = ["DEFAULT_MAX_CHARS", "TRUNCATION_MARK", "sanitize_text", "sanitize_value"]

DEFAULT_MAX_CHARS = 500
TRUNCATION_MARK = "…[truncated]"

# CSI (colours, cursor moves), OSC (terminal titles, hyperlinks) and two-byte escapes.
_ANSI_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_INVISIBLE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT_CHARS}]")
_INVISIBLE_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT_CHARS}]")
_LINE_BREAKS = re.compile(r"\r\n?|[\n\t\u2028\u2029]")


def sanitize_text(
    text: str, *, max_chars: int = DEFAULT_MAX_CHARS, keep_newlines: bool = False
) -> str:
    """Return ``text`` without escape/control/invisible characters, redacted and length-capped.

    Line breaks and tabs become spaces unless ``keep_newlines`` (then ``\\n`` and ``\\t`` stay),
    so one log line cannot pose as several. Redaction runs after stripping, so a zero-width
    character cannot hide a secret from the patterns, and before capping, so a cut cannot leave
    half a secret behind unrecognised. The result is at most ``max_chars`` characters long,
    ending in ``…[truncated]`` when it was cut.
    """
    text = _ANSI_ESCAPES.sub("", text)
    if keep_newlines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = text.replace("\u2028", "\n").replace("\u2029", "\n")
        text = _INVISIBLE_MULTI_LINE.sub("", text)
    else:
        text = _LINE_BREAKS.sub(" ", text)
        text = _INVISIBLE_ONE_LINE.sub("", text)
    text = redact_text(text)
    if len(text) > max_chars:
        keep = max(max_chars - len(TRUNCATION_MARK), 0)
        text = text[:keep] + TRUNCATION_MARK
    return text


def sanitize_value(value: Any, *, max_chars: int = DEFAULT_MAX_CHARS) -> Any:
    """Sanitise every string (keys included) in a JSON-like value; blank secret-named keys."""
    return _sanitize_strings(redact_value(value), max_chars)


def _sanitize_strings(value: Any, max_chars: int) -> Any:
    if isinstance(value, str):
        return sanitize_text(value, max_chars=max_chars)
    if isinstance(value, Mapping):
        return {
            _sanitize_strings(key, max_chars): _sanitize_strings(item, max_chars)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_sanitize_strings(item, max_chars) for item in value]
    return value
