"""Give a flow the history and state of an incident kind, relative to a moment `now`.

The seed and `POST /_sandbox/incidents` both go through `apply_incident`, so an injected
incident looks exactly like a seeded one. Each kind leaves evidence where Nexla would show
it: statuses, run metrics and logs (via the run profile), credential probes, audit entries
and notifications.
"""

from __future__ import annotations

from nexla_mcp.sandbox import builder, history
from nexla_mcp.sandbox.alerts import alert_of, notify_twice
from nexla_mcp.sandbox.causes import (
    break_transform,
    change_schema,
    heal_own_credential,
    own_credential,
    pause_all,
)
from nexla_mcp.sandbox.model import ACTIVE, INIT, Flow, Segment
from nexla_mcp.sandbox.profiles import incident_data_set, outcome
from nexla_mcp.sandbox.store import DANA, SYSTEM_USER, Store

__all__ = [
    "EXPECTED_CATEGORY",
    "INCIDENT_KINDS",
    "KINDS",
    "apply_incident",
    "just_before",
]

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
    heal_own_credential(store, flow)
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
        pause_all(store, flow, paused_at, DANA.id, "nexla-ui/2025.3")
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


def just_before(flow: Flow, onset: int, minutes: int) -> int:
    """`minutes` before the first failing run, yet after the last good one (at most half an
    interval before), so the change that caused an incident sits between the two."""
    return onset - min(minutes * 60 * 1000, flow.interval_ms // 2)


def _schedule(flow: Flow, start_ms: int, end_ms: int | None, profile: str) -> None:
    flow.segments.append(Segment(start_ms, end_ms, flow.interval_ms, profile))


def _set_all(store: Store, flow: Flow, status: str) -> None:
    for node in store.subtree(flow.id):
        store.node_resource(node).status = status


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
        credential = own_credential(store, flow, just_before(flow, onset, 11))
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
        notify_twice(store, *alert, failed, now_ms)


def _data_set_incident(
    store: Store, flow: Flow, kind: str, onset: int, failed: int, now_ms: int
) -> None:
    """Changes just before `onset` where the kind has a cause; alerts from the `failed` run."""
    target = incident_data_set(store, flow)
    if target is None:
        return
    if kind == "transform_error":
        break_transform(store, flow, target, just_before(flow, onset, 17))
    elif kind == "schema_mismatch":
        change_schema(store, flow, target, just_before(flow, onset, 25))
    alert = alert_of(store, flow, kind)
    if alert is not None:
        notify_twice(store, *alert, failed, now_ms)


def _auto_paused(store: Store, flow: Flow, start: int, now_ms: int) -> None:
    """Five failed runs in a row, then Nexla's monitor paused the flow; nothing ran since."""
    paused_at = now_ms - _STOPPED_AGO_MS
    failing_from = paused_at - 4 * flow.interval_ms - history.MAX_JITTER_MS
    _schedule(flow, start, failing_from - 1, "healthy")
    _schedule(flow, failing_from, paused_at, "generic_failure")
    pause_all(store, flow, paused_at, SYSTEM_USER.id, "nexla-flow-monitor")
    source = store.source_of(flow)
    store.notify(
        "ERROR",
        "SOURCE",
        source.id,
        f"Data source '{source.name}' was paused automatically after 5 consecutive failed runs",
        paused_at,
    )
