"""The benchmark runs end to end: bench/run.py at tiny sizes exits 0 and writes every section.

It is a smoke test of the command the README documents, not a measurement: nothing here
asserts a timing, only that each benchmark ran and reported what the README's table reads.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench_runner import run_bench

SECTIONS = {"tools_list", "responses", "mcp_overhead", "diagnose_flow", "large_org", "cold_start"}
TINY = ["--calls", "3", "--flows", "200", "--cold-starts", "0", "--latency-ms", "0"]


def test_the_benchmark_runs_at_tiny_sizes_and_writes_every_section(tmp_path: Path) -> None:
    """Exit 0, a results file with each benchmark's section, and the numbers each one reports."""
    stdout, results = run_bench("run.py", TINY, tmp_path / "results.json", timeout=120)
    assert SECTIONS <= set(results)
    assert results["options"]["flows"] == 200
    profiles = results["tools_list"]["profiles"]
    assert profiles["all"]["tools"] >= 20 and profiles["default"]["tools"] >= 10
    assert all(0 < p["model_visible"] < p["wire"] for p in profiles.values())
    rows = results["responses"]["rows"]
    assert {row["tool"] for row in rows} >= {"list_flows", "diagnose_flow", "get_daily_metrics"}
    assert all(row["tokens"] > 0 for row in rows)
    assert {"2026-07-28", "2025-11-25"} <= set(results["mcp_overhead"])
    assert results["diagnose_flow"]["flows"] == len(results["diagnose_flow"]["rows"]) > 0
    assert results["large_org"]["org_health"]["flows_scanned"] > 200
    assert results["cold_start"]["runs"] == 0
    assert "Total" in stdout
