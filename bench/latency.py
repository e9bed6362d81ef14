"""Timing benchmarks, each against a baseline measured in the same run.

- ``mcp_overhead``: one tool call through the in-memory MCP client and server against the
  same ``NexlaClient`` call made directly, interleaved, both with injected upstream latency.
- ``diagnose``: ``diagnose_flow`` on every seeded scenario, against the upstream calls it made
  (their sum, the slowest one, and the longest chain of calls that waited for each other:
  the critical path no scheduling could beat).
- ``large_org``: ``org_health`` and ``list_flows(has_recent_errors=true)`` on a generated org.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

from harness import billed_tokens, critical_path, peak_in_flight, percentile, stack

__all__ = ["diagnose", "large_org", "mcp_overhead"]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _spread(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": _ms(percentile(samples, 0.5)), "p95_ms": _ms(percentile(samples, 0.95))}


async def mcp_overhead(calls: int, latency_ms: int) -> dict[str, Any]:
    """``get_resource`` (one upstream GET) through MCP vs ``NexlaClient.get_resource``."""
    report: dict[str, Any] = {"calls": calls, "latency_ms": latency_ms, "tool": "get_resource"}
    for mode, era in (("auto", "2026-07-28"), ("legacy", "2025-11-25")):
        async with stack(mode=mode) as s:
            sink = (await s.control("GET", "scenarios"))["scenarios"][0]["data_sink_ids"][0]
            arguments = {"resource_type": "data_sinks", "resource_id": sink}
            await s.latency(latency_ms)
            direct, via_mcp = [], []
            for _ in range(calls):
                started = time.perf_counter()
                await s.direct.get_resource("data_sinks", sink, expand=True)
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                result = await s.mcp.call_tool("get_resource", arguments)
                via_mcp.append(time.perf_counter() - started)
                assert not result.is_error, result.content
            upstream = len(s.recorder.api_calls())
        added = [m - d for m, d in zip(via_mcp, direct, strict=True)]
        report[era] = {
            "direct": _spread(direct),
            "mcp": _spread(via_mcp),
            "added": _spread(added),
            "ratio_p50": round(percentile(via_mcp, 0.5) / percentile(direct, 0.5), 3),
            "upstream_calls_per_call": upstream / (2 * calls),
        }
    return report


async def diagnose(latency_ms: int) -> dict[str, Any]:
    """``diagnose_flow`` on each seeded scenario with ``latency_ms`` on every upstream call."""
    rows = []
    async with stack() as s:
        scenarios = (await s.control("GET", "scenarios"))["scenarios"]
        await s.latency(latency_ms)
        for scenario in scenarios:
            s.recorder.calls.clear()
            started = time.perf_counter()
            result = await s.mcp.call_tool("diagnose_flow", {"flow_id": scenario["flow_id"]})
            wall = time.perf_counter() - started
            assert not result.is_error, result.content
            calls = s.recorder.api_calls()
            slowest = max(c.seconds for c in calls)
            chain, chain_seconds = critical_path(calls)
            rows.append({
                "kind": scenario["kind"],
                "category": (result.structured_content or {}).get("category"),
                "calls": len(calls),
                "in_flight": peak_in_flight(calls),
                "chain": chain,
                "wall_ms": _ms(wall),
                "serial_ms": _ms(sum(c.seconds for c in calls)),
                "wall_over_serial": round(wall / sum(c.seconds for c in calls), 2),
                "wall_over_slowest": round(wall / slowest, 2),
                "wall_over_chain": round(wall / chain_seconds, 2),
                "tokens": billed_tokens(result),
            })  # fmt: skip
    return {
        "latency_ms": latency_ms,
        "flows": len(rows),
        "max_calls": max(r["calls"] for r in rows),
        "max_in_flight": max(r["in_flight"] for r in rows),
        "median_chain": statistics.median(r["chain"] for r in rows),
        "median_wall_ms": statistics.median(r["wall_ms"] for r in rows),
        "median_wall_over_serial": statistics.median(r["wall_over_serial"] for r in rows),
        "median_wall_over_slowest": statistics.median(r["wall_over_slowest"] for r in rows),
        "median_wall_over_chain": statistics.median(r["wall_over_chain"] for r in rows),
        "rows": rows,
    }


async def large_org(flows: int) -> dict[str, Any]:
    """``org_health`` and one ``list_flows(has_recent_errors=true)`` page on ``flows`` flows."""
    started = time.perf_counter()
    async with stack(flows=flows) as s:
        ready = time.perf_counter() - started
        report: dict[str, Any] = {"flows": flows, "sandbox_and_server_ready_s": round(ready, 2)}
        for tool, arguments in (("org_health", {}), ("list_flows", {"has_recent_errors": True})):
            s.recorder.calls.clear()
            started = time.perf_counter()
            result = await s.mcp.call_tool(tool, arguments)
            wall = time.perf_counter() - started
            assert not result.is_error, result.content
            content = result.structured_content or {}
            report[tool] = {
                "wall_s": round(wall, 2),
                "upstream_calls": len(s.recorder.api_calls()),
                "tokens": billed_tokens(result),
            }
            if tool == "org_health":
                counts = ("flows_scanned", "deep_checked", "flows_with_problems")
                report[tool] |= {k: content.get(k) for k in counts}
            else:
                report[tool] |= {"returned": len(content.get("flows", [])),
                                 "examined": content.get("examined"),
                                 "truncated": content.get("truncated")}  # fmt: skip
        sources = await s.mcp.call_tool("list_resources", {"resource_type": "data_sources"})
        source = (sources.structured_content or {})["resources"][0]["resource_id"]
        calls = [("list_flows", {"limit": 100}, "flows"),
                 ("list_credentials", {"limit": 100}, "credentials"),
                 ("get_run_metrics", {"resource_type": "data_sources", "resource_id": source,
                                      "limit": 50}, "runs")]  # fmt: skip
        report["budgets"] = []
        for (tool, arguments, rows), budget in itertools.product(calls, BUDGETS):
            result = await s.mcp.call_tool(tool, {**arguments, "max_tokens": budget})
            content = result.structured_content or {}
            report["budgets"].append({
                "tool": tool,
                "max_tokens": budget,
                "rows": len(content.get(rows, [])),
                "real_tokens": billed_tokens(result),
                "estimate": content.get("tokens"),
            })  # fmt: skip
    return report


# list_flows and list_credentials (limit=100) and a source's get_run_metrics (limit=50) on the
# large org, each cut to these token budgets.
BUDGETS = (500, 1_000, 2_000)
