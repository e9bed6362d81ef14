"""What every runbook report shares: evidence, next actions, categories, safe text and times.

Runbook results are pydantic models so the tool layer can return them as they are (they become
the tool's ``outputSchema`` and ``structuredContent``, compacted for every tool alike by
``nexla_mcp.server.schemas``); nothing here imports MCP. Text that came from Nexla (names,
log lines, messages) goes through ``untrusted`` before it lands in a report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexla_mcp.invisible import strip_invisible
from nexla_mcp.redaction import redact_text

__all__ = [
    "CATEGORIES",
    "Category",
    "Evidence",
    "NextAction",
    "iso",
    "prompt_action",
    "tool_action",
    "untrusted",
]

Category = Literal[
    "credential_expired",
    "transform_error",
    "schema_mismatch",
    "rate_limited",
    "network_timeout",
    "resource_conflict",
    "flow_not_running",
    "high_error_rate",
    "stale_data",
    "permission_denied",
    "healthy",
    "unknown",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

NAME_CHARS = 80
TEXT_CHARS = 240


class Evidence(BaseModel):
    """One finding, and the upstream call it came from (re-run that call to check it)."""

    # Built on first use, not when a tool that only needs ``iso`` imports this module.
    model_config = ConfigDict(defer_build=True)

    call: str = Field(description="The Nexla API call that produced this finding")
    finding: str


class NextAction(BaseModel):
    """A complete next step: a tool call or a prompt, with its arguments."""

    model_config = ConfigDict(defer_build=True)

    tool: str | None = Field(None, description="Tool to call (with arguments as given)")
    prompt: str | None = Field(None, description="Prompt to run (with arguments as given)")
    arguments: dict[str, Any] = Field(default_factory=dict)
    why: str


def tool_action(tool: str, why: str, **arguments: Any) -> NextAction:
    """A next step that calls ``tool`` with ``arguments``."""
    return NextAction(tool=tool, arguments=arguments, why=why)


def prompt_action(prompt: str, why: str, **arguments: Any) -> NextAction:
    """A next step that runs the server prompt ``prompt`` with ``arguments`` (as strings:
    prompt arguments are strings on the wire)."""
    return NextAction(prompt=prompt, arguments={k: str(v) for k, v in arguments.items()}, why=why)


def untrusted(text: Any, max_chars: int = TEXT_CHARS) -> str | None:
    """Text from Nexla made safe to report: invisible characters stripped, secrets redacted,
    one line, capped. Empty text becomes None so it drops out of compact reports."""
    if text is None:
        return None
    # Strip first, so a zero-width character cannot hide a secret from redaction.
    cleaned = " ".join(redact_text(strip_invisible(str(text))).split())
    if len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1].rstrip() + "…"
    return cleaned or None


def iso(moment: datetime | None) -> str | None:
    """``2025-03-04T10:15:00Z``: UTC, whole seconds."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
