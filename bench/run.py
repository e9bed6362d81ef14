"""nexla-mcp benchmarks: tokens, MCP overhead, runbook fan-out, scale and cold start.

    .venv/bin/python bench/run.py [--calls 100] [--latency-ms 50] [--flows 10000]
                                  [--cold-starts 5] [--out bench/results.json]

Every number is a ratio against a baseline measured in the same run, in process or on
loopback, on the deterministic sandbox (no network, no randomness beyond the machine's own
timing). Prints one table per benchmark and writes everything to ``--out`` as JSON.
Takes about 40 s on 2 cores with the defaults; ``--cold-starts 0`` skips the stdio spawns
(``tests/test_bench.py`` runs it that way, at tiny sizes, in a few seconds). Targets:
reliability-security-performance.md, section C3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cold_start
import latency
import tokens

RESULTS = Path(__file__).resolve().parent / "results.json"


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Print ``rows`` under ``header`` as an aligned plain-text table."""
    cells = [header, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        pairs = zip(row, widths, strict=True)
        aligned = [cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(pairs)]
        print("  " + "  ".join(aligned))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def show_tools_list(report: dict[str, Any]) -> None:
    table(
        "tools/list per profile: model-visible (name + description + inputSchema) and wire "
        "tokens",
        ["profile", "tools", "model-visible", "wire"],
        [[label, p["tools"], p["model_visible"], p["wire"]]
         for label, p in report["profiles"].items()],
    )  # fmt: skip
    table(
        "tools/list per tool (every tool)",
        ["tool", "model-visible", "wire", "description", "input", "output", "desc bytes"],
        [[name, p["model_visible"], p["wire"], p["description"], p["input"], p["output"],
          p["description_bytes"]] for name, p in report["per_tool"].items()],
    )  # fmt: skip


def show_responses(report: dict[str, Any]) -> None:
    table(
        "Responses: tokens billed (text + structuredContent) vs the raw Nexla JSON read",
        ["call", "tokens", "raw (all reads)", "ratio", "raw (first GET)", "ratio", "per row"],
        [[f"{r['tool']}{'' if not r['arguments'] else ' ' + json.dumps(r['arguments'])}"
          f"{' (error)' if r['error'] else ''}", r["tokens"], r.get("raw_tokens", "-"),
          r.get("vs_raw", "-"), r.get("first_raw_tokens", "-"), r.get("vs_first_raw", "-"),
          r.get("tokens_per_flow_row", "")] for r in report["rows"]],
    )  # fmt: skip


def show_overhead(report: dict[str, Any]) -> None:
    table(
        f"MCP overhead: {report['tool']} via in-memory MCP vs NexlaClient directly, "
        f"{report['calls']} interleaved pairs, {report['latency_ms']} ms upstream latency",
        ["era", "direct p50", "direct p95", "MCP p50", "MCP p95", "added p50", "added p95",
         "ratio p50"],
        [[era, r["direct"]["p50_ms"], r["direct"]["p95_ms"], r["mcp"]["p50_ms"],
          r["mcp"]["p95_ms"], r["added"]["p50_ms"], r["added"]["p95_ms"], r["ratio_p50"]]
         for era, r in report.items() if isinstance(r, dict)],
    )  # fmt: skip


def show_diagnose(report: dict[str, Any]) -> None:
    table(
        f"diagnose_flow, {report['latency_ms']} ms per upstream call: median wall "
        f"{report['median_wall_ms']} ms = {report['median_wall_over_serial']} x the calls one "
        f"after another, {report['median_wall_over_slowest']} x the slowest call, "
        f"{report['median_wall_over_chain']} x its critical path (the calls that waited "
        "for each other)",
        ["scenario", "category", "calls", "in flight", "chain", "wall ms", "serial ms",
         "/serial", "/slowest", "/chain", "tokens"],
        [[r["kind"], r["category"], r["calls"], r["in_flight"], r["chain"], r["wall_ms"],
          r["serial_ms"], r["wall_over_serial"], r["wall_over_slowest"], r["wall_over_chain"],
          r["tokens"]] for r in report["rows"]],
    )  # fmt: skip


def show_large_org(report: dict[str, Any]) -> None:
    table(
        f"{report['flows']:,} generated flows (sandbox + server ready in "
        f"{report['sandbox_and_server_ready_s']} s), in process, no injected latency",
        ["call", "wall s", "upstream calls", "tokens", "result"],
        [["org_health", report["org_health"]["wall_s"], report["org_health"]["upstream_calls"],
          report["org_health"]["tokens"],
          f"{report['org_health']['flows_scanned']} scanned, "
          f"{report['org_health']['deep_checked']} deep-checked, "
          f"{report['org_health']['flows_with_problems']} with problems"],
         ["list_flows has_recent_errors", report["list_flows"]["wall_s"],
          report["list_flows"]["upstream_calls"], report["list_flows"]["tokens"],
          f"{report['list_flows']['returned']} returned of {report['list_flows']['examined']} "
          f"examined, truncated={report['list_flows']['truncated']}"]],
    )  # fmt: skip


def show_budgets(report: dict[str, Any]) -> None:
    table(
        f"max_tokens on {report['flows']:,} flows (list_flows and list_credentials limit=100, "
        "get_run_metrics limit=50): rows kept, real o200k tokens and the reported estimate",
        ["tool", "max_tokens", "rows", "real tokens", "reported estimate", "real / budget"],
        [[b["tool"], b["max_tokens"], b["rows"], b["real_tokens"], b["estimate"],
          round(b["real_tokens"] / b["max_tokens"], 2)] for b in report["budgets"]],
    )  # fmt: skip


def show_cold_start(report: dict[str, Any]) -> None:
    if not report["runs"]:
        print("\nstdio cold start: skipped (--cold-starts 0)")
        return
    table(
        f"stdio cold start, median of {report['runs']} interleaved spawns (load average "
        f"{report['load_average_1m']}): initialize, tools/list, first tools/call (list_flows on "
        "the sandbox; ping on the bare server), and the child's CPU time",
        ["subject", "initialize", "tools/list", "first result", "cpu", "first result vs bare",
         "vs bare GC paused", "cpu vs bare", "over bare"],
        [[name, f"{s['initialize_s']} s", f"{s['tools_list_s']} s", f"{s['first_call_s']} s",
          f"{s['cpu_s']} s", f"{s['first_call_vs_bare']} x",
          f"{s['first_call_vs_bare_gc_paused']} x", f"{s['cpu_vs_bare']} x",
          f"{s['over_bare_s']:+} s"] for name, s in report["subjects"].items()],
    )  # fmt: skip
    sdk = report["sdk_import"]
    print(
        f"  of the bare server's first result, importing the SDK alone takes {sdk['wall_s']} s "
        f"({sdk['share_of_bare']:.0%}; {sdk['cpu_s']} s CPU)"
    )


async def main(options: argparse.Namespace) -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {"options": vars(options) | {"out": str(options.out)}}
    steps: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[Any], None]]] = [
        ("tools_list", tokens.tools_list_tokens, show_tools_list),
        ("responses", tokens.response_tokens, show_responses),
        ("mcp_overhead", lambda: latency.mcp_overhead(options.calls, options.latency_ms),
         show_overhead),
        ("diagnose_flow", lambda: latency.diagnose(options.latency_ms), show_diagnose),
        ("large_org", lambda: latency.large_org(options.flows),
         lambda r: (show_large_org(r), show_budgets(r))),
        ("cold_start", lambda: cold_start.cold_start(options.cold_starts), show_cold_start),
    ]  # fmt: skip
    for name, run, show in steps:
        step_started = time.perf_counter()
        results[name] = await run()
        results[name]["bench_s"] = round(time.perf_counter() - step_started, 1)
        show(results[name])
    results["total_s"] = round(time.perf_counter() - started, 1)
    options.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nTotal {results['total_s']} s; results in {options.out}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="MCP overhead call pairs")
    parser.add_argument("--latency-ms", type=int, default=50, help="injected upstream latency")
    parser.add_argument("--flows", type=int, default=10_000, help="generated org size")
    parser.add_argument("--cold-starts", type=int, default=5, help="stdio spawns to time")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    anyio.run(main, parse())
