"""Runbook timings against the in-process sandbox (not a test: numbers vary with the machine).

    .venv/bin/python bench/bench_runbooks.py [--latency-ms 50] [--flows 10000]

diagnose_flow: for each seeded incident kind, with ``latency_ms`` injected on every upstream
call, the wall time against the sum of the upstream calls' own durations (what a one-by-one
runbook would wait), the number of calls and the most in flight at once. org_health: the
wall time to scan a generated org of ``flows`` flows and how many got a deep check.
Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from statistics import median

import anyio
import httpx

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.diagnose import diagnose_flow
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.org import org_health
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app

API_URL = "http://sandbox.bench"


class Timed(httpx.AsyncBaseTransport):
    """Records (path, start, end) of every request."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.calls = inner, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.calls.append((request.url.path, start, time.perf_counter()))


def peak(calls: list[tuple[str, float, float]]) -> int:
    events = sorted([(s, 1) for _, s, _ in calls] + [(e, -1) for _, _, e in calls])
    level = top = 0
    for _, step in events:
        level += step
        top = max(top, level)
    return top


async def bench_diagnose(latency_ms: int) -> None:
    app = create_app()
    timed = Timed(httpx.ASGITransport(app=app))
    async with httpx.AsyncClient(transport=timed) as http:
        rows = (await http.get(f"{API_URL}/_sandbox/scenarios")).json()["scenarios"]
        await http.post(f"{API_URL}/_sandbox/faults", json={"latency_ms": latency_ms})
        async with NexlaClient(
            api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http
        ) as client:
            await client.list_flows(page=1, per_page=1)
            ratios = []
            for row in rows:
                timed.calls.clear()
                started = time.perf_counter()
                report = await diagnose_flow(
                    client, FlowTarget(flow_id=row["flow_id"]), now=datetime.now(UTC)
                )
                wall = time.perf_counter() - started
                calls = [c for c in timed.calls if not c[0].startswith(("/token", "/_sandbox"))]
                serial = sum(end - start for _, start, end in calls)
                slowest = max(end - start for _, start, end in calls)
                ratios.append(wall / serial)
                print(
                    json.dumps(
                        {
                            "bench": "diagnose_flow",
                            "kind": row["kind"],
                            "latency_ms": latency_ms,
                            "category": report.category,
                            "calls": len(calls),
                            "in_flight": peak(calls),
                            "wall_ms": round(wall * 1000),
                            "serial_ms": round(serial * 1000),
                            "wall_over_slowest_call": round(wall / slowest, 2),
                        }
                    )
                )
            print(
                json.dumps(
                    {
                        "bench": "diagnose_flow",
                        "latency_ms": latency_ms,
                        "median_wall_over_serial": round(median(ratios), 2),
                    }
                )
            )


async def bench_org(flows: int) -> None:
    started = time.perf_counter()
    app = create_app(flows=flows)
    built = time.perf_counter() - started
    timed = Timed(httpx.ASGITransport(app=app))
    async with (
        httpx.AsyncClient(transport=timed) as http,
        NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http) as client,
    ):
        started = time.perf_counter()
        report = await org_health(client, now=datetime.now(UTC))
        wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bench": "org_health",
                "flows": report.flows_scanned,
                "sandbox_build_s": round(built, 2),
                "wall_s": round(wall, 2),
                "calls": len(timed.calls),
                "deep_checked": report.deep_checked,
                "problems": report.flows_with_problems,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--flows", type=int, default=10_000)
    options = parser.parse_args()
    anyio.run(bench_diagnose, options.latency_ms)
    anyio.run(bench_org, options.flows)


if __name__ == "__main__":
    main()
