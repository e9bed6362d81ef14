"""Tests for nexla_mcp.tools._log_views: the shape and wording of what get_flow_logs returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nexla_mcp.nexla import LogEntry
from nexla_mcp.tools._log_views import (
    SHORT_CHARS,
    ClusterView,
    FlowLogs,
    LineView,
    line_view,
    logs_left_out,
    logs_summary,
    short_cluster,
    short_line,
)

AT = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def flow_logs(**fields: Any) -> FlowLogs:
    """A one-run result with 3 ERROR lines read in full, overridden by ``fields``."""
    base: dict[str, Any] = {
        "flow_id": 9021,
        "run_id": 1741082400000,
        "run_selection": "latest",
        "min_severity": "ERROR",
        "clusters_total": 0,
        "returned": 3,
        "available": 3,
        "fetched": 3,
        "upstream_total": 3,
        "complete": True,
        "truncated": False,
    }
    return FlowLogs(**{**base, **fields})


def test_a_line_names_its_resource_and_defaults_to_info() -> None:
    """Resource kind and id read as "DATASET 6110"; a line without severity is INFO."""
    entry = LogEntry(
        timestamp=AT, message="KeyError: 'amount'", resource_type="dataset", resource_id=6110
    )
    view = line_view(entry)
    assert (view.resource, view.severity, view.message) == ("DATASET 6110", "INFO", entry.message)
    assert line_view(LogEntry(timestamp=AT, message="x")).resource is None


def test_the_summary_says_which_run_was_read_and_why() -> None:
    """The run, the reason it was chosen, and how many lines matched lead the summary."""
    text = logs_summary(flow_logs(run_selection="latest_with_errors"))
    assert text == "Flow 9021, run 1741082400000 (newest run with errors): 3 ERROR+ lines; " + (
        "showing 3 raw lines."
    )


def test_the_summary_admits_what_was_not_read_or_shown() -> None:
    """An incomplete read and a truncated page are both stated."""
    text = logs_summary(flow_logs(complete=False, truncated=True, upstream_total=5000))
    assert "read 3 of 5000 lines" in text and "more with next_cursor" in text


def test_a_flow_without_runs_says_so() -> None:
    """No run, no counts: one plain sentence."""
    view = flow_logs(run_id=None, run_selection="no_runs")
    assert logs_summary(view) == "Flow 9021 has no runs to read logs from."


def test_short_forms_cut_templates_examples_and_lines_with_an_ellipsis() -> None:
    """A tight budget cuts long text to SHORT_CHARS, marking the cut; short text is kept."""
    long = "x" * (SHORT_CHARS + 50)
    cluster = ClusterView(template=long, severity="ERROR", count=7, example="short")
    cut = short_cluster(cluster)
    assert len(cut.template) == SHORT_CHARS and cut.template.endswith("…")
    assert cut.example == "short" and cut.count == 7
    line = short_line(LineView(at="t", severity="ERROR", message=long))
    assert len(line.message) == SHORT_CHARS and line.message.endswith("…")


def test_left_out_names_each_thing_dropped_to_fit_the_budget() -> None:
    """Dropped lines, dropped templates and the cut text are each listed; nothing dropped is
    no note."""
    note = logs_left_out(2, 5, True, 400)
    assert note is not None and note.startswith("To fit max_tokens=400: ")
    assert "5 raw lines" in note and "the 2 rarest templates" in note and "120 characters" in note
    assert logs_left_out(0, 0, False, 400) is None
