"""bench/replicas.py runs end to end at tiny sizes, so the load figure in the README cannot rot.

A smoke test of the command, not a measurement: it starts the sandbox and two replica
processes as the benchmark does (one session on each), makes a handful of calls through them,
and checks the table and the results file have the shape the README reads. No timing is
asserted. One replica count only: each replica process costs a few seconds to start.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench_runner import run_bench

TINY = ["--calls", "4", "--sessions", "2", "--warmup", "1", "--replicas", "2"]
FIGURES = {"replicas", "calls", "calls_per_s", "p50_ms", "p95_ms", "ratio_calls_per_s",
           "ratio_p95"}  # fmt: skip


def test_the_replica_benchmark_runs_at_tiny_sizes_and_reports_every_figure(
    tmp_path: Path,
) -> None:
    """Exit 0; a row with every figure, the calls asked for, positive rates and latencies and
    the ratios; the printed table ends with that row."""
    stdout, results = run_bench("replicas.py", TINY, tmp_path / "replicas.json", timeout=180)
    assert results["engine"] == "sqlite"
    rows = results["rows"]
    assert [row["replicas"] for row in rows] == [2]
    (row,) = rows
    assert set(row) == FIGURES
    assert row["calls"] == 4
    assert row["calls_per_s"] > 0 and 0 < row["p50_ms"] <= row["p95_ms"]
    assert (row["ratio_calls_per_s"], row["ratio_p95"]) == (1.0, 1.0)  # against itself
    header, figures = stdout.splitlines()[-2:]
    assert header.split()[:4] == ["replicas", "calls/s", "p50", "ms"]
    assert figures.split() == [str(row[key]) for key in ("replicas", "calls_per_s", "p50_ms",
                               "p95_ms", "ratio_calls_per_s", "ratio_p95")]  # fmt: skip
