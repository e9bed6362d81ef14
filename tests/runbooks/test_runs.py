from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexla_mcp.runbooks.runs import (
    RunRow,
    RunTotals,
    aggregate_runs,
    assess_runs,
    flow_health,
    flow_run_totals,
    run_started_at,
    run_status,
    streak_of,
)

RUN0 = 1_741_082_400_000  # 2025-03-04T10:00:00Z
HOUR = 3_600_000


def totals(records: list[int], errors: list[int] | None = None) -> list[RunTotals]:
    errors = errors or [0] * len(records)
    return [
        RunTotals(run_id=RUN0 + i * HOUR, records=r, errors=e, size=r * 10)
        for i, (r, e) in enumerate(zip(records, errors, strict=True))
    ]


@pytest.mark.parametrize(
    ("records", "errors", "status"),
    [
        (1200, 0, "success"),
        (0, 0, "empty"),
        (0, 1200, "failed"),
        (1200, 1200, "failed"),
        (100, 150, "failed"),
        (1200, 3, "partial"),
    ],
)
def test_run_status_follows_records_and_errors(records: int, errors: int, status: str) -> None:
    """errors > 0 is never success; errors ≥ records is failed, fewer is partial."""
    assert run_status(records, errors) == status


def test_rows_of_one_run_are_summed_and_sorted_oldest_first() -> None:
    """A source feeding two nexsets reports two rows per run; they add up."""
    runs = aggregate_runs(
        [
            RunRow(RUN0 + HOUR, records=10, errors=1, size=5),
            RunRow(RUN0, records=100, errors=0, size=50),
            RunRow(RUN0 + HOUR, records=20, errors=2, size=5),
        ]
    )
    assert runs == [
        RunTotals(RUN0, 100, 0, 50),
        RunTotals(RUN0 + HOUR, 30, 3, 10),
    ]


def test_run_ids_that_are_epoch_ms_give_a_start_time() -> None:
    """Run ids in the epoch-ms range decode to UTC times; small ids are just ids."""
    assert run_started_at(RUN0) == datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    assert run_started_at(42) is None


def test_a_normal_run_has_a_baseline_and_no_flags() -> None:
    """A run like its predecessors is not flagged, and its ratio is about one."""
    latest = assess_runs(totals([100, 110, 90, 105, 100]))[0]
    assert latest.baseline is not None
    assert latest.baseline.runs == 4
    assert latest.baseline.median_records == 102.5
    assert latest.flags == ()
    assert latest.records_ratio == pytest.approx(100 / 102.5)


@pytest.mark.parametrize(
    ("records", "errors", "flags"),
    [
        pytest.param([100, 100, 100, 40], None, ("records_drop",), id="drop"),
        pytest.param([100, 100, 100, 0], None, ("records_zero",), id="zero"),
        pytest.param([100, 100, 100, 500], None, ("records_spike",), id="spike"),
        pytest.param([100, 100, 100, 100], [0, 0, 0, 1], ("error_spike",), id="first-errors"),
        pytest.param([100, 100, 100, 100], [5, 5, 5, 10], (), id="errors-as-usual"),
        pytest.param([100, 100, 100, 100], [5, 5, 5, 11], ("error_spike",), id="errors-doubled"),
        pytest.param(
            [100, 100, 100, 0], [0, 0, 0, 100], ("records_zero", "error_spike"), id="both"
        ),
    ],
)
def test_abnormal_runs_are_flagged(
    records: list[int], errors: list[int] | None, flags: tuple[str, ...]
) -> None:
    """Each departure from the trailing median raises its own flag."""
    assert assess_runs(totals(records, errors))[0].flags == flags


def test_runs_without_enough_history_get_no_baseline() -> None:
    """The first runs of a flow are new, not abnormal."""
    assessments = assess_runs(totals([100, 0, 0]), min_history=3)
    assert all(a.baseline is None and a.flags == () for a in assessments)
    assert [a.status for a in assessments] == ["empty", "empty", "success"]


def test_baseline_uses_only_the_trailing_window() -> None:
    """Old history outside the window does not dilute the median."""
    latest = assess_runs(totals([1000] * 10 + [10, 10, 10, 10]), window=3)[0]
    assert latest.baseline is not None
    assert latest.baseline.median_records == 10
    assert latest.flags == ()


def test_invalid_window_is_rejected() -> None:
    """A zero window is a programming error, not an empty answer."""
    with pytest.raises(ValueError):
        assess_runs(totals([1]), window=0)


def test_streak_reports_since_when_a_resource_has_been_failing() -> None:
    """Three failed/partial runs after a success: failing since the first of them."""
    runs = totals([100, 100, 0, 50, 0], [0, 0, 9, 1, 9])
    streak = streak_of(runs)
    assert streak.consecutive_failures == 3
    assert streak.failing_since == runs[2]
    assert streak.last_success == runs[1]
    assert streak.latest == runs[-1]
    assert streak.streak_is_complete


def test_streak_of_a_healthy_or_always_failing_resource() -> None:
    """A healthy latest run has no streak; all-failed history says the start may be older."""
    assert streak_of(totals([1, 2])).failing_since is None
    always = streak_of(totals([0, 0], [1, 1]))
    assert always.consecutive_failures == 2
    assert always.last_success is None
    assert not always.streak_is_complete
    assert streak_of([]).latest is None


def test_flow_totals_sum_errors_everywhere_and_count_delivered_records() -> None:
    """Errors add up over all resources; records are what the destinations wrote."""
    by_run = {
        str(RUN0 + HOUR): {
            "data_sources": [{"id": 1, "metric": {"records": 100, "errors": 0, "size": 10}}],
            "data_sets": [{"id": 2, "metric": {"records": 0, "errors": 100, "size": 0}}],
            "data_sinks": [],
        },
        str(RUN0): {
            "data_sources": [{"id": 1, "metric": {"records": 100, "errors": 0, "size": 10}}],
            "data_sets": [{"id": 2, "metric": {"records": 100, "errors": 0, "size": 9}}],
            "data_sinks": [{"id": 3, "metric": {"records": 98, "errors": 2, "size": 8}}],
        },
        "meta": {"ignored": True},
    }
    runs = flow_run_totals(by_run)
    assert runs == [RunTotals(RUN0, 98, 2, 8), RunTotals(RUN0 + HOUR, 100, 100, 10)]
    assert [run.status for run in runs] == ["partial", "failed"]


NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "records", "errors", "age_hours", "health"),
    [
        pytest.param("ACTIVE", [100, 100], [0, 0], 1, "ok", id="ok"),
        pytest.param("ACTIVE", [100, 0], [0, 5], 1, "failing", id="failing"),
        pytest.param("PAUSED", [100, 0], [0, 5], 40, "failing", id="paused-after-failures"),
        pytest.param("ACTIVE", [0, 100], [5, 0], 1, "degraded", id="recovered-but-recent-errors"),
        pytest.param("ACTIVE", [100, 100], [0, 3], 1, "degraded", id="partial"),
        pytest.param("PAUSED", [100, 100], [0, 0], 90, "paused", id="paused"),
        pytest.param("ACTIVE", [100, 100], [0, 0], 30, "stale", id="stale"),
        pytest.param("INIT", [], [], 0, "idle", id="never-ran"),
    ],
)
def test_flow_health_reads_status_and_recent_runs(
    status: str, records: list[int], errors: list[int], age_hours: int, health: str
) -> None:
    """One word per flow, most urgent first: failing, degraded, paused, idle, stale, ok."""
    latest_ms = int((NOW - timedelta(hours=age_hours)).timestamp() * 1000)
    runs = [
        RunTotals(latest_ms - (len(records) - 1 - i) * HOUR, r, e, 0)
        for i, (r, e) in enumerate(zip(records, errors, strict=True))
    ]
    assert flow_health(status, runs, now=NOW) == health
