"""Give a flow the history and state of an incident kind, relative to a moment `now`.

The seed and `POST /_sandbox/incidents` both go through `apply_incident`, so an injected
incident looks exactly like a seeded one. Each kind leaves evidence where Nexla would show
it: statuses, run metrics and logs (via the run profile), credential probes, audit entries
and notifications.
"""

from __future__ import annotations

from typing import Any

from nexla_mcp.sandbox import builder, connectors, history
from nexla_mcp.sandbox.model import (
    ACTIVE,
    DATA_SETS,
    INIT,
    PAUSED,
    SINKS,
    SOURCES,
    CodeContainer,
    Credential,
    DataSet,
    Flow,
    Segment,
    Sink,
    Source,
)
from nexla_mcp.sandbox.profiles import incident_data_set, outcome
from nexla_mcp.sandbox.samples import domain
from nexla_mcp.sandbox.store import DANA, SYSTEM_USER, Store

HOUR_MS = builder.HOUR_MS
DAY_MS = builder.DAY_MS

INCIDENT_KINDS = (
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
)
EXPECTED_CATEGORY = {
    **{kind: kind for kind in INCIDENT_KINDS},
    "healthy": "healthy",
    "paused": "flow_not_running",
    "never_activated": "flow_not_running",
}
KINDS = tuple(EXPECTED_CATEGORY)

# How long ago, at least, each failing kind started; earlier runs were healthy. The onset
# is the scheduled run at or before that moment, so even a flow that runs less often than
# this has one failing run behind its alerts.
_ONSET_MS = {
    "credential_expired": 6 * HOUR_MS,
    "permission_denied": 9 * HOUR_MS,
    "transform_error": 5 * HOUR_MS,
    "schema_mismatch": 8 * HOUR_MS,
    "rate_limited": 10 * HOUR_MS,
    "network_timeout": 4 * HOUR_MS,
    "resource_conflict": 12 * HOUR_MS,
    "high_error_rate": 3 * DAY_MS,
}
_STOPPED_AGO_MS = 30 * HOUR_MS
_QUIET_MS = 5 * 60 * 1000


def apply_incident(store: Store, flow: Flow, kind: str, now_ms: int) -> None:
    """Rewrite the flow's state and history so it shows `kind` as of `now_ms`."""
    history.reset_history(flow)
    flow.profile = "healthy"
    flow.updated_ms = now_ms
    _heal_own_credential(store, flow)
    _set_all(store, flow, INIT if kind == "never_activated" else ACTIVE)
    start = _schedule_start(flow, now_ms)
    if kind == "never_activated":
        pass
    elif kind == "healthy":
        _schedule(flow, start, None, "healthy")
    elif kind in _ONSET_MS:
        _failing(store, flow, kind, start, now_ms)
    elif kind == "stale_data":
        stopped = now_ms - _STOPPED_AGO_MS
        _schedule(flow, start, stopped, "healthy")
        source = store.source_of(flow)
        store.notify(
            "WARN",
            "SOURCE",
            source.id,
            f"Data source '{source.name}' has not ingested new data in the last 24 hours",
            now_ms - 6 * HOUR_MS,
        )
    elif kind == "flow_not_running":
        _auto_paused(store, flow, start, now_ms)
    elif kind == "paused":
        paused_at = now_ms - 4 * DAY_MS
        _schedule(flow, start, paused_at, "healthy")
        _pause_all(store, flow, paused_at, DANA.id, "nexla-ui/2025.3")
    else:
        raise ValueError(f"unknown incident kind {kind!r}")
    store.touch()


def _schedule_start(flow: Flow, now_ms: int) -> int:
    """Where a week of scheduled runs begins, so that the latest one is 5+ minutes old.

    The phase varies by flow, but the last run before `now` and the first after it stay
    at least `_QUIET_MS` away, so no run appears (or vanishes) just as a test starts.
    """
    interval = flow.interval_ms
    room = max(1, interval - 2 * _QUIET_MS)
    ago = _QUIET_MS + flow.seed % room
    periods = 7 * DAY_MS // interval
    return now_ms - ago - periods * interval


def _slot_before(start_ms: int, moment_ms: int, interval_ms: int) -> int:
    """The last scheduled slot at or before `moment_ms` on the grid that began at `start_ms`."""
    return start_ms + (moment_ms - start_ms) // interval_ms * interval_ms


def _just_before(flow: Flow, onset: int, minutes: int) -> int:
    """`minutes` before the first failing run, yet after the last good one (at most half an
    interval before), so the change that caused an incident sits between the two."""
    return onset - min(minutes * 60 * 1000, flow.interval_ms // 2)


def _schedule(flow: Flow, start_ms: int, end_ms: int | None, profile: str) -> None:
    flow.segments.append(Segment(start_ms, end_ms, flow.interval_ms, profile))


def _set_all(store: Store, flow: Flow, status: str) -> None:
    for node in store.subtree(flow.id):
        store.node_resource(node).status = status


def _pause_all(store: Store, flow: Flow, at_ms: int, user_id: int, user_agent: str) -> None:
    for node in store.subtree(flow.id):
        resource = store.node_resource(node)
        resource.status = PAUSED
        store.audit_event(
            node.resource_type,
            resource.id,
            "update",
            {"status": [ACTIVE, PAUSED]},
            user_id,
            at_ms,
            user_agent=user_agent,
        )


def _heal_own_credential(store: Store, flow: Flow) -> None:
    credential = store.credentials.get(store.source_of(flow).credential_id or -1)
    # Scanning for other users is O(org); only broken credentials need the check.
    if credential is not None and credential.health != "valid":
        if _users_of(store, credential.id) <= {flow.id}:
            credential.health = "valid"


def _users_of(store: Store, credential_id: int) -> set[int]:
    """Flows whose source or sinks use the credential."""
    using = {
        store.nodes[source.node_id].origin_id
        for source in store.sources.values()
        if source.credential_id == credential_id
    }
    using |= {
        store.nodes[sink.node_id].origin_id
        for sink in store.sinks.values()
        if sink.credential_id == credential_id
    }
    return using


def _own_credential(store: Store, flow: Flow, swapped_ms: int) -> Credential:
    """The source's credential, cloned first if other flows share it (so they stay healthy).

    The clone is swapped in at `swapped_ms`, and audited then, as the change a person made
    just before the runs started failing.
    """
    source = store.source_of(flow)
    credential = store.credentials.get(source.credential_id or -1)
    if credential is not None and _users_of(store, credential.id) <= {flow.id}:
        return credential
    template_type = credential.credentials_type if credential else source.source_type
    clone = builder.add_credential(
        store,
        f"{source.name}-credential",
        template_type,
        dict(credential.non_secure) if credential else {},
        swapped_ms,
        secrets=dict(credential.secrets) if credential else None,
    )
    previous = source.credential_id
    source.credential_id = clone.id
    store.audit_event(
        SOURCES,
        source.id,
        "update",
        {"data_credentials_id": [previous, clone.id]},
        DANA.id,
        swapped_ms,
    )
    return clone


def _first_failed_run(store: Store, flow: Flow, onset: int, now_ms: int) -> int:
    """When the first run since `onset` with errors started (intermittent kinds skip some)."""
    for run in history.runs(flow, now_ms, since_ms=onset):
        if outcome(store, flow, run).errors:
            return run.run_id
    return onset


def _failing(store: Store, flow: Flow, kind: str, start: int, now_ms: int) -> None:
    onset = _slot_before(start, now_ms - _ONSET_MS[kind], flow.interval_ms)
    _schedule(flow, start, onset - 1, "healthy")
    if kind in ("credential_expired", "permission_denied"):
        credential = _own_credential(store, flow, _just_before(flow, onset, 11))
        credential.health = "expired" if kind == "credential_expired" else "forbidden"
        credential.verified_ms = max(credential.created_ms, now_ms - 20 * DAY_MS)
    else:
        flow.profile = kind
    _schedule(flow, onset, None, kind)
    # Alerts follow the first failing run, never precede it.
    failed = _first_failed_run(store, flow, onset, now_ms)
    if kind in ("transform_error", "schema_mismatch", "high_error_rate"):
        _data_set_incident(store, flow, kind, onset, failed, now_ms)
        return
    alert = alert_of(store, flow, kind)
    if alert is not None:
        _notify_twice(store, *alert, failed, now_ms)


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


def _data_set_incident(
    store: Store, flow: Flow, kind: str, onset: int, failed: int, now_ms: int
) -> None:
    """Changes just before `onset` where the kind has a cause; alerts from the `failed` run."""
    target = incident_data_set(store, flow)
    if target is None:
        return
    if kind == "transform_error":
        break_transform(store, flow, target, _just_before(flow, onset, 17))
    elif kind == "schema_mismatch":
        change_schema(store, flow, target, _just_before(flow, onset, 25))
    alert = alert_of(store, flow, kind)
    if alert is not None:
        _notify_twice(store, *alert, failed, now_ms)


def break_transform(store: Store, flow: Flow, target: DataSet, changed_at: int) -> CodeContainer:
    """Edit the nexset's transform (its own copy) to read a field that does not exist."""
    container = _own_container(store, target, changed_at)
    field = f"{_domain_field(flow)}_cents"
    new_code = builder.python_transform(
        f"def transform(r):\n    r['total'] = r['{field}'] / 100\n    return r"
    )
    changes: dict[str, list[Any]] = {"code": [container.code, new_code]}
    if container.code_type != "python":
        changes["code_type"] = [container.code_type, "python"]
    store.audit_event("code_containers", container.id, "update", changes, DANA.id, changed_at)
    container.code, container.version = new_code, container.version + 1
    container.code_type = "python"
    container.updated_ms = changed_at
    return container


def change_schema(store: Store, flow: Flow, target: DataSet, changed_at: int) -> DataSet:
    """The schema detector turns the numeric field into a string upstream of `target`, which
    validates it; returns the nexset whose schema changed."""
    detected = next(
        (
            store.data_sets[store.nodes[child].resource_id]
            for child in store.nodes[flow.id].children
            if store.nodes[child].resource_type == DATA_SETS
        ),
        target,
    )
    field = _domain_field(flow)
    old = detected.output_schema
    new = {**old, "properties": {**old.get("properties", {}), field: {"type": "string"}}}
    store.audit_event(
        DATA_SETS,
        detected.id,
        "update",
        {"output_schema": [old, new]},
        SYSTEM_USER.id,
        changed_at,
        user_agent="nexla-schema-detector",
    )
    detected.output_schema, detected.version = new, detected.version + 1
    target.validation_enabled = True
    return detected


def alert_of(store: Store, flow: Flow, kind: str) -> tuple[str, str, int, str] | None:
    """(level, resource kind, resource id, message) of the alert Nexla raises for `kind`."""
    source = store.source_of(flow)
    alert = _source_alert(source, kind)
    if alert is not None:
        return alert[0], "SOURCE", source.id, alert[1]
    if kind == "resource_conflict":
        sink = _first_sink(store, flow)
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


def _own_container(store: Store, target: DataSet, changed_ms: int) -> CodeContainer:
    """The nexset's transform, copied first if other nexsets use it (so they stay healthy).

    A nexset with no transform gets a pass-through one. A new or copied transform is switched
    in at `changed_ms`, audited then.
    """
    container = store.code_containers.get(target.code_container_id or -1)
    if container is not None and not any(
        other.code_container_id == container.id and other.id != target.id
        for other in store.data_sets.values()
    ):
        return container
    own = builder.add_code_container(
        store,
        f"{target.name}-transform",
        container.code if container else builder.python_transform("def transform(r): return r"),
        changed_ms,
        reusable=False,
        code_type=container.code_type if container else "python",
    )
    store.audit_event(
        DATA_SETS,
        target.id,
        "update",
        {"code_container_id": [target.code_container_id, own.id]},
        DANA.id,
        changed_ms,
    )
    target.code_container_id = own.id
    return own


def _auto_paused(store: Store, flow: Flow, start: int, now_ms: int) -> None:
    """Five failed runs in a row, then Nexla's monitor paused the flow; nothing ran since."""
    paused_at = now_ms - _STOPPED_AGO_MS
    failing_from = paused_at - 4 * flow.interval_ms - history.MAX_JITTER_MS
    _schedule(flow, start, failing_from - 1, "healthy")
    _schedule(flow, failing_from, paused_at, "generic_failure")
    _pause_all(store, flow, paused_at, SYSTEM_USER.id, "nexla-flow-monitor")
    source = store.source_of(flow)
    store.notify(
        "ERROR",
        "SOURCE",
        source.id,
        f"Data source '{source.name}' was paused automatically after 5 consecutive failed runs",
        paused_at,
    )


def _notify_twice(
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


def _first_sink(store: Store, flow: Flow) -> Sink | None:
    for node in store.subtree(flow.id):
        if node.resource_type == SINKS:
            return store.sinks[node.resource_id]
    return None


def _domain_field(flow: Flow) -> str:
    return domain(flow.domain).numeric_field
