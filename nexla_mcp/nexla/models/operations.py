"""Replies of operations: credential probes, async tasks, accessors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from nexla_mcp.nexla.models.base import NexlaModel, new_list
from nexla_mcp.redaction import redact_text, redact_value

__all__ = ["Accessor", "AsyncTask", "AsyncTaskResult", "ProbeResult"]


class ProbeResult(NexlaModel):
    """A credential probe reply; ``ok`` is True for any 2xx (§19 #6)."""

    ok: bool
    status_code: int
    status: Any = None
    message: str | None = None
    connection_type: str | None = None
    output: Any = Field(default=None, validation_alias=AliasChoices("output", "object"))

    @field_validator("message", mode="after")
    @classmethod
    def _scrub(cls, value: str | None) -> str | None:
        return redact_text(value) if value else value


class AsyncTask(NexlaModel):
    """An async task; the server says ``task_type``, the OAS ``type`` (§19 #14)."""

    id: int
    task_type: str | None = Field(None, validation_alias=AliasChoices("task_type", "type"))
    status: str | None = None
    progress: int | None = None
    arguments: dict[str, Any] | None = None
    result: Any = None
    error: Any = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = Field(
        None, validation_alias=AliasChoices("stopped_at", "finished_at")
    )

    @field_validator("error", "result", mode="after")
    @classmethod
    def _scrub(cls, value: Any) -> Any:
        return redact_value(value)


class AsyncTaskResult(NexlaModel):
    """``GET /async_tasks/{id}/result``: ``ready`` is False while the server answers 102."""

    ready: bool
    result: Any = None

    @field_validator("result", mode="after")
    @classmethod
    def _scrub(cls, value: Any) -> Any:
        # Probe task results quote the external system's reply.
        return redact_value(value)


class Accessor(NexlaModel):
    """One entry of a resource's access list."""

    type: str | None = None
    id: int | None = None
    email: str | None = None
    name: str | None = None
    access_roles: list[str] = Field(default_factory=new_list)
