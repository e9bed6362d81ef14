"""Async Nexla REST client (no MCP imports): ``NexlaClient``, its models and helpers."""

from __future__ import annotations

from nexla_mcp.nexla.client import NexlaClient
from nexla_mcp.nexla.concurrency import gather_bounded
from nexla_mcp.nexla.models import (
    Accessor,
    AsyncTask,
    AsyncTaskResult,
    AuditLogEntry,
    Credential,
    DailyMetric,
    DailyMetrics,
    Destination,
    FlowDocument,
    FlowMetrics,
    FlowNode,
    FlowsPage,
    LogEntry,
    LogPage,
    MetricsMeta,
    Nexset,
    Notification,
    Page,
    ProbeResult,
    Resource,
    ResourceType,
    RunSummary,
    RunSummaryRow,
    Source,
    Transform,
)
from nexla_mcp.nexla.pagination import PageResult, Paginator
from nexla_mcp.nexla.reliability import RetryPolicy, reset_host_guards

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
    "NexlaClient",
    "Notification",
    "Page",
    "PageResult",
    "Paginator",
    "ProbeResult",
    "Resource",
    "ResourceType",
    "RetryPolicy",
    "RunSummary",
    "RunSummaryRow",
    "Source",
    "Transform",
    "gather_bounded",
    "reset_host_guards",
]
