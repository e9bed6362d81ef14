"""Tests for nexla_mcp.sandbox.alerts: which alert each incident kind raises, on what, and when."""

from __future__ import annotations

import pytest

from nexla_mcp.sandbox.alerts import alert_of, notify_twice
from nexla_mcp.sandbox.causes import first_sink
from nexla_mcp.sandbox.profiles import incident_data_set
from nexla_mcp.sandbox.store import Store

from .conftest import NOW_MS

FLOW = 9001
MINUTE_MS = 60 * 1000


@pytest.mark.parametrize(
    ("kind", "level", "words"),
    [
        pytest.param("credential_expired", "ERROR", "401 Unauthorized", id="credential-expired"),
        pytest.param("permission_denied", "ERROR", "403 Forbidden", id="permission-denied"),
        pytest.param("rate_limited", "WARN", "429 Too Many Requests", id="rate-limited"),
        pytest.param("network_timeout", "ERROR", "timed out", id="network-timeout"),
        pytest.param("generic_failure", "ERROR", "upstream returned 500", id="generic-failure"),
    ],
)
def test_source_side_kinds_alert_on_the_source(
    store: Store, kind: str, level: str, words: str
) -> None:
    """Failures reading upstream are reported against the flow's source, in Nexla's words."""
    flow = store.flows[FLOW]
    source = store.source_of(flow)
    alert = alert_of(store, flow, kind)
    assert alert is not None
    assert alert[:3] == (level, "SOURCE", source.id)
    assert words in alert[3] and source.name in alert[3]


def test_a_resource_conflict_alerts_on_the_first_destination(store: Store) -> None:
    """Duplicate-key rejections are the sink's alert."""
    flow = store.flows[FLOW]
    sink = first_sink(store, flow)
    assert sink is not None
    alert = alert_of(store, flow, "resource_conflict")
    assert alert is not None and alert[:3] == ("ERROR", "SINK", sink.id)
    assert "409 Conflict" in alert[3]


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        pytest.param("transform_error", "ERROR", id="transform-error"),
        pytest.param("schema_mismatch", "ERROR", id="schema-mismatch"),
        pytest.param("high_error_rate", "WARN", id="high-error-rate"),
    ],
)
def test_nexset_kinds_alert_on_the_incidents_nexset(store: Store, kind: str, level: str) -> None:
    """Record-level failures are reported against the nexset the incident happens in."""
    flow = store.flows[FLOW]
    target = incident_data_set(store, flow)
    assert target is not None
    alert = alert_of(store, flow, kind)
    assert alert is not None and alert[:3] == (level, "DATASET", target.id)


@pytest.mark.parametrize("kind", ["healthy", "stale_data", "paused"])
def test_kinds_without_a_failing_run_raise_no_run_alert(store: Store, kind: str) -> None:
    """Only failing runs alert here; staleness and pauses notify in their own words."""
    assert alert_of(store, store.flows[FLOW], kind) is None


def test_an_alert_follows_the_first_failure_and_is_repeated_40_minutes_ago(store: Store) -> None:
    """One notification 5 minutes after the first failing run, a reminder 40 minutes before now."""
    before = set(store.notifications)
    first_ms = NOW_MS - 6 * 60 * MINUTE_MS
    notify_twice(store, "ERROR", "SOURCE", 5101, "it broke", first_ms, NOW_MS)
    added = [store.notifications[key] for key in sorted(set(store.notifications) - before)]
    assert [note.ts_ms for note in added] == [first_ms + 5 * MINUTE_MS, NOW_MS - 40 * MINUTE_MS]
    assert all((note.level, note.message) == ("ERROR", "it broke") for note in added)


def test_a_reminder_never_comes_before_the_first_alert(store: Store) -> None:
    """When the first failure was under 50 minutes ago the reminder moves after the alert."""
    before = set(store.notifications)
    first_ms = NOW_MS - 20 * MINUTE_MS
    notify_twice(store, "WARN", "SOURCE", 5101, "slow", first_ms, NOW_MS)
    added = [store.notifications[key] for key in sorted(set(store.notifications) - before)]
    assert [note.ts_ms for note in added] == [first_ms + 5 * MINUTE_MS, first_ms + 10 * MINUTE_MS]
