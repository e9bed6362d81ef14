"""Monitoring endpoints (§6.11, §6.12, §11, §12, §16): metrics, logs, notifications, audit logs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from nexla_mcp.errors import InvalidResponseError, ValidationError
from nexla_mcp.nexla.core import (
    ClientCore,
    check_id,
    check_resource_type,
    epoch_ms,
    epoch_s,
    iso_date,
)
from nexla_mcp.nexla.models import (
    AuditLogEntry,
    DailyMetrics,
    FlowMetrics,
    LogPage,
    Notification,
    Page,
    ResourceType,
    RunSummary,
)

__all__ = ["AUDITABLE_COLLECTIONS", "MonitoringMixin", "RunSummaryKey"]

# Notifications use the upper-case vocabulary (§1.4); accept the path vocabulary too.
NOTIFICATION_RESOURCE_TYPES = {
    "data_sources": "SOURCE",
    "data_sets": "DATASET",
    "data_sinks": "SINK",
    "SOURCE": "SOURCE",
    "DATASET": "DATASET",
    "SINK": "SINK",
}
# Every SDK resource inherits get_audit_log (§16); /transforms is the record-transform alias
# of /code_containers (§13), so a transform's edits are read under either name.
AUDITABLE_COLLECTIONS = (
    "flows",
    "data_sources",
    "data_sets",
    "data_sinks",
    "data_credentials",
    "code_containers",
    "transforms",
)
# §11.2: rows per run, or (destinations only) per write batch with its ``lastWritten`` time.
RunSummaryKey = Literal["runId", "lastWritten"]
RUN_SUMMARY_KEYS: tuple[str, ...] = get_args(RunSummaryKey)


def _resource_path(resource_type: str, resource_id: int) -> str:
    check_resource_type(resource_type)
    return f"/{resource_type}/{check_id(resource_id, 'resource_id')}"


def _kind(body: Any) -> str:
    return "an empty body" if body is None else f"a JSON {type(body).__name__}"


def _section(body: Any, key: str) -> dict[str, Any]:
    """``body[key]`` as a ``{data, meta}`` dict; tolerates a bare list in place of the dict."""
    inner = body.get(key) if isinstance(body, dict) else None
    if isinstance(inner, list):
        return {"data": inner, "meta": {}}
    return inner if isinstance(inner, dict) else {}


class MonitoringMixin(ClientCore):
    """Daily and per-run metrics, flow metrics and logs, notifications, audit logs."""

    async def get_daily_metrics(
        self,
        resource_type: ResourceType,
        resource_id: int,
        *,
        from_date: date,
        to_date: date | None = None,
        aggregate: bool = True,
    ) -> DailyMetrics:
        """``GET /{rt}/{id}/metrics``: records, bytes and errors per UTC day.

        Raises:
            ValidationError: bad resource_type/id (nothing sent) or rejected dates (400).
            NotFoundError: unknown resource.
        """
        params = {
            "from": iso_date(from_date),
            "to": iso_date(to_date) if to_date else None,
            "aggregate": aggregate,
        }
        return await self._model(
            DailyMetrics,
            "GET",
            f"{_resource_path(resource_type, resource_id)}/metrics",
            params=params,
            operation="get_daily_metrics",
        )

    async def get_run_summary(
        self,
        resource_type: ResourceType,
        resource_id: int,
        *,
        groupby: RunSummaryKey = "runId",
        orderby: RunSummaryKey = "runId",
        page: int | None = None,
        size: int | None = None,
    ) -> RunSummary:
        """``GET /{rt}/{id}/metrics/run_summary``: one row per run (``metrics.data``, §19 #8).

        ``groupby="lastWritten"`` (destinations only) gives one row per write batch with its
        ``lastWritten`` time (epoch ms), which the default grouping leaves out (§11.2).

        Raises:
            ValidationError: bad resource_type/id, unknown groupby/orderby, or lastWritten for
                anything but data_sinks (nothing sent).
            NotFoundError: unknown resource.
        """
        path = f"{_resource_path(resource_type, resource_id)}/metrics/run_summary"
        check_resource_type(groupby, RUN_SUMMARY_KEYS, "groupby")
        check_resource_type(orderby, RUN_SUMMARY_KEYS, "orderby")
        if "lastWritten" in (groupby, orderby) and resource_type != "data_sinks":
            raise ValidationError(
                "lastWritten is only reported for data_sinks",
                operation="validate_arguments",
                hint="Group or order by runId for sources and nexsets.",
            )
        body = await self._json(
            "GET",
            path,
            params={"groupby": groupby, "orderby": orderby, "page": page, "size": size},
            operation="get_run_summary",
        )
        section = _section(body, "metrics")
        payload = {
            "status": body.get("status") if isinstance(body, dict) else None,
            "rows": section.get("data") or [],
            "meta": section.get("meta") or {},
        }
        return self._validate(RunSummary, payload, f"GET {path}")

    async def get_flow_metrics(
        self,
        resource_type: ResourceType,
        resource_id: int,
        *,
        from_date: date,
        to_date: date | None = None,
        groupby: str | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> FlowMetrics:
        """``GET /{rt}/{id}/flow/metrics``: metrics of every resource in the flow (§6.12).

        ``data`` is returned as the server's dict (keyed by resource kind, or by run id with
        ``groupby="runId"``).

        Raises:
            ValidationError: bad resource_type/id (nothing sent).
            NotFoundError: unknown resource.
        """
        path = f"{_resource_path(resource_type, resource_id)}/flow/metrics"
        params = {
            "from": iso_date(from_date),
            "to": iso_date(to_date) if to_date else None,
            "groupby": groupby,
            "page": page,
            "per_page": per_page,
        }
        body = await self._json("GET", path, params=params, operation="get_flow_metrics")
        section = _section(body, "metrics")
        data = section.get("data")
        payload = {
            "status": body.get("status") if isinstance(body, dict) else None,
            "data": data if isinstance(data, dict) else {},
            "meta": section.get("meta") or {},
        }
        return self._validate(FlowMetrics, payload, f"GET {path}")

    async def get_flow_logs(
        self,
        resource_type: ResourceType,
        resource_id: int,
        *,
        run_id: int,
        from_ts: datetime,
        to_ts: datetime | None = None,
        severity: str | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> LogPage:
        """``GET /{rt}/{id}/flow/logs``: one run's logs across the flow; times sent in **ms**.

        Raises:
            ValidationError: bad resource_type/id/run_id (nothing sent).
            NotFoundError: unknown resource.
        """
        path = f"{_resource_path(resource_type, resource_id)}/flow/logs"
        params = {
            "run_id": check_id(run_id, "run_id"),
            "from": epoch_ms(from_ts),
            "to": epoch_ms(to_ts) if to_ts else None,
            "severity": severity,
            "page": page,
            "per_page": per_page,
        }
        return await self._logs(path, params, "get_flow_logs")

    async def get_flow_logs_by_flow(
        self,
        flow_id: int,
        *,
        from_ts: datetime,
        to_ts: datetime | None = None,
        severity: str | None = None,
        run_id: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> LogPage:
        """``GET /flows/{flow_id}/logs``: a flow's logs over a time range, sent in **seconds**.

        Raises:
            ValidationError: bad flow_id (nothing sent).
            NotFoundError: unknown flow.
        """
        path = f"/flows/{check_id(flow_id, 'flow_id')}/logs"
        params = {
            "from": epoch_s(from_ts),
            "to": epoch_s(to_ts) if to_ts else None,
            "severity": severity,
            "run_id": run_id,
            "page": page,
            "per_page": per_page,
        }
        return await self._logs(path, params, "get_flow_logs_by_flow")

    async def _logs(self, path: str, params: dict[str, Any], operation: str) -> LogPage:
        reply = await self._call("GET", path, params=params, operation=operation)
        body = reply.body
        logs = body.get("logs") if isinstance(body, dict) else None
        if not isinstance(logs, dict | list):
            # An empty page has "logs": {"data": []}; anything else would read as "no lines".
            got = "an object without logs" if isinstance(body, dict) else _kind(body)
            raise InvalidResponseError(
                f"GET {path}: Nexla answered HTTP {reply.status_code} with {got} where a log "
                "page was due, so the run's lines are unknown.",
                status_code=reply.status_code, operation=operation, retryable=False,
            )  # fmt: skip
        section = _section(body, "logs")
        payload = {"entries": section.get("data") or [], "meta": section.get("meta") or {}}
        return self._validate(LogPage, payload, f"GET {path}")

    async def list_notifications(
        self,
        *,
        level: str | None = None,
        resource_type: str | None = None,
        resource_id: int | None = None,
        from_ts: datetime | None = None,
        to_ts: datetime | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page[Notification]:
        """``GET /notifications``; ``resource_type`` as SOURCE/DATASET/SINK or data_sources/….

        Raises:
            ValidationError: unknown resource_type, or resource_id without it (nothing sent).
        """
        kind = None
        if resource_type is not None or resource_id is not None:
            allowed = tuple(NOTIFICATION_RESOURCE_TYPES)
            kind = NOTIFICATION_RESOURCE_TYPES[check_resource_type(str(resource_type), allowed)]
            check_id(resource_id, "resource_id")
        params = {
            "level": level,
            "resource_type": kind,
            "resource_id": resource_id,
            "from": epoch_s(from_ts) if from_ts else None,
            "to": epoch_s(to_ts) if to_ts else None,
            "page": page,
            "per_page": per_page,
        }
        return await self._page(Notification, "/notifications", params, "list_notifications")

    async def get_audit_log(
        self,
        collection: str,
        resource_id: int,
        *,
        page: int | None = None,
        per_page: int | None = None,
    ) -> Page[AuditLogEntry]:
        """``GET /{collection}/{id}/audit_log``: who changed what, newest first.

        Raises:
            ValidationError: unknown collection or bad id (nothing sent).
            NotFoundError: unknown resource.
        """
        check_resource_type(collection, AUDITABLE_COLLECTIONS, "collection")
        path = f"/{collection}/{check_id(resource_id, 'resource_id')}/audit_log"
        params = {"page": page, "per_page": per_page}
        return await self._page(AuditLogEntry, path, params, "get_audit_log")
