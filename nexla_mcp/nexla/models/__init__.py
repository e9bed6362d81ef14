"""Pydantic models for the Nexla replies ``NexlaClient`` returns (tolerant: ``extra="allow"``)."""

from __future__ import annotations

from nexla_mcp.nexla.models.base import NexlaModel, ResourceType, epoch_to_datetime
from nexla_mcp.nexla.models.monitoring import (
    AuditLogEntry,
    DailyMetric,
    DailyMetrics,
    FlowMetrics,
    LogEntry,
    LogPage,
    MetricsMeta,
    Notification,
    RunSummary,
    RunSummaryRow,
)
from nexla_mcp.nexla.models.operations import Accessor, AsyncTask, AsyncTaskResult, ProbeResult
from nexla_mcp.nexla.models.resources import (
    Credential,
    Destination,
    FlowDocument,
    FlowNode,
    FlowsPage,
    Nexset,
    Page,
    Resource,
    Source,
    Transform,
)

__all__ = [
    "Accessor",
    "AsyncTask",
    "AsyncTaskResult",
    "AuditLogEntry",
    "Credential",
    "DailyMetric",
    "DailyMetrics",
    "Destination",
    "FlowDocument",
    "FlowMetrics",
    "FlowNode",
    "FlowsPage",
    "LogEntry",
    "LogPage",
    "MetricsMeta",
    "Nexset",
    "NexlaModel",
    "Notification",
    "Page",
    "ProbeResult",
    "Resource",
    "ResourceType",
    "RunSummary",
    "RunSummaryRow",
    "Source",
    "Transform",
    "epoch_to_datetime",
]
