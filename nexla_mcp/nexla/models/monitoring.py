"""Monitoring replies: daily and per-run metrics, flow metrics, logs, notifications, audit logs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from nexla_mcp.nexla.models.base import NexlaModel, epoch_to_datetime, new_dict, new_list
from nexla_mcp.redaction import redact_text

__all__ = [
    "AuditLogEntry",
    "DailyMetric",
    "DailyMetrics",
    "FlowMetrics",
    "LogEntry",
    "LogPage",
    "MetricsMeta",
    "Notification",
    "RunSummary",
    "RunSummaryRow",
]


class MetricsMeta(NexlaModel):
    """Paging metadata of metrics and logs bodies (camelCase or snake_case on the wire)."""

    current_page: int | None = Field(
        None, validation_alias=AliasChoices("currentPage", "current_page")
    )
    page_count: int | None = Field(
        None, validation_alias=AliasChoices("pageCount", "pages_count", "page_count", "total_pages")
    )
    total_count: int | None = Field(
        None, validation_alias=AliasChoices("totalCount", "total_count")
    )
    org_id: int | None = None
    run_id: int | None = None


class DailyMetric(NexlaModel):
    """One UTC day of a resource's records, bytes and errors."""

    time: date
    records: int = 0
    size: int = 0
    errors: int = 0


class DailyMetrics(NexlaModel):
    """``GET /{rt}/{id}/metrics``."""

    status: int | None = None
    metrics: list[DailyMetric] = Field(default_factory=new_list)


class RunSummaryRow(NexlaModel):
    """One run of a resource (§11.2); failure is ``errors > 0`` since runs carry no status."""

    run_id: int | None = Field(None, validation_alias=AliasChoices("runId", "run_id"))
    last_written: int | None = Field(
        None, validation_alias=AliasChoices("lastWritten", "last_written")
    )
    data_set_id: int | None = Field(None, validation_alias=AliasChoices("dataSetId", "data_set_id"))
    records: int = 0
    size: int = 0
    errors: int = 0

    @property
    def started_at(self) -> datetime | None:
        """The run id is an epoch-ms timestamp of the run's start."""
        return epoch_to_datetime(self.run_id) if self.run_id else None


class RunSummary(NexlaModel):
    """``GET /{rt}/{id}/metrics/run_summary``: rows from ``metrics.data`` plus ``meta`` (§19 #8)."""

    status: int | None = None
    rows: list[RunSummaryRow] = Field(default_factory=new_list)
    meta: MetricsMeta = Field(default_factory=MetricsMeta)


class FlowMetrics(NexlaModel):
    """``GET /{rt}/{id}/flow/metrics``; ``data`` is kept as the opaque dict the server sends."""

    status: int | None = None
    data: dict[str, Any] = Field(default_factory=new_dict)
    meta: MetricsMeta = Field(default_factory=MetricsMeta)


class LogEntry(NexlaModel):
    """One flow log line, normalised like the SDK (``log`` → ``message``), secrets redacted."""

    timestamp: datetime
    message: str = Field("", validation_alias=AliasChoices("message", "log"))
    severity: str | None = Field(None, validation_alias=AliasChoices("severity", "level"))
    log_type: str | None = None
    resource_type: str | None = None
    resource_id: int | None = None
    run_id: int | None = None

    @field_validator("message", mode="after")
    @classmethod
    def _scrub(cls, value: str) -> str:
        # Connectors echo tokens and connection strings into their log lines.
        return redact_text(value)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return epoch_to_datetime(value)
        return value


class LogPage(NexlaModel):
    """A page of flow logs with its metadata."""

    entries: list[LogEntry] = Field(default_factory=new_list)
    meta: MetricsMeta = Field(default_factory=MetricsMeta)


class Notification(NexlaModel):
    """One notification (``GET /notifications``)."""

    id: int
    level: str | None = None
    resource_type: str | None = None
    resource_id: int | None = None
    message: str | None = None
    ts: int | None = None
    read_at: datetime | None = None
    created_at: datetime | None = None

    @field_validator("message", mode="after")
    @classmethod
    def _scrub(cls, value: str | None) -> str | None:
        return redact_text(value) if value else value


class AuditLogEntry(NexlaModel):
    """One audit-log entry of a resource."""

    id: int | None = None
    item_type: str | None = None
    item_id: int | None = None
    event: str | None = None
    change_summary: list[Any] = Field(default_factory=new_list)
    object_changes: dict[str, Any] = Field(default_factory=new_dict)
    created_at: datetime | None = None
