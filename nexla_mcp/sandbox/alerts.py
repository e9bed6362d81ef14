"""The alerts Nexla raises for an incident kind, and when it raises them."""

from __future__ import annotations

from nexla_mcp.sandbox import connectors
from nexla_mcp.sandbox.causes import first_sink
from nexla_mcp.sandbox.model import Flow, Source
from nexla_mcp.sandbox.profiles import incident_data_set
from nexla_mcp.sandbox.store import Store

__all__ = ["alert_of", "notify_twice"]


def _source_alert(source: Source, kind: str) -> tuple[str, str] | None:
    """(level, message) of the alert Nexla raises about the source for `kind`, if any."""
    host = connectors.host_of(source.source_type, source.config)
    where = connectors.location(source.source_type, source.config)
    named = f"Data source '{source.name}'"
    alerts = {
        "credential_expired": (
            "ERROR",
            f"{named} failed: 401 Unauthorized from {host}; its credential may have expired",
        ),
        "permission_denied": ("ERROR", f"{named} failed: 403 Forbidden reading {where}"),
        "rate_limited": ("WARN", f"{named} throttled by upstream API: 429 Too Many Requests"),
        "network_timeout": ("ERROR", f"{named}: read timed out after 30000 ms"),
    }
    return alerts.get(kind)


def alert_of(store: Store, flow: Flow, kind: str) -> tuple[str, str, int, str] | None:
    """(level, resource kind, resource id, message) of the alert Nexla raises for `kind`."""
    source = store.source_of(flow)
    alert = _source_alert(source, kind)
    if alert is not None:
        return alert[0], "SOURCE", source.id, alert[1]
    if kind == "resource_conflict":
        sink = first_sink(store, flow)
        if sink is None:
            return None
        message = f"Destination '{sink.name}' rejected records: 409 Conflict (duplicate key)"
        return "ERROR", "SINK", sink.id, message
    if kind == "generic_failure":
        host = connectors.host_of(source.source_type, source.config)
        message = f"Data source '{source.name}' failed: upstream returned 500 from {host}"
        return "ERROR", "SOURCE", source.id, message
    target = incident_data_set(store, flow)
    if target is None:
        return None
    messages = {
        "transform_error": ("ERROR", f"Transform errors in nexset '{target.name}'"),
        "schema_mismatch": ("ERROR", f"Nexset '{target.name}' output failed schema validation"),
        "high_error_rate": ("WARN", f"Nexset '{target.name}' rejected records in recent runs"),
    }
    if kind not in messages:
        return None
    level, message = messages[kind]
    return level, "DATASET", target.id, message


def notify_twice(
    store: Store,
    level: str,
    resource_type: str,
    resource_id: int,
    message: str,
    first_ms: int,
    now_ms: int,
) -> None:
    """One alert shortly after the first failing run, and a reminder 40 minutes ago."""
    later = max(now_ms - 40 * 60 * 1000, first_ms + 10 * 60 * 1000)
    store.notify(level, resource_type, resource_id, message, first_ms + 5 * 60 * 1000)
    store.notify(level, resource_type, resource_id, message, later)
