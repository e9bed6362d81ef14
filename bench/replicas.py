"""Load through 1 and N HTTP replicas sharing one state store: tool calls per second and p95.

    .venv/bin/python bench/replicas.py [--calls 400] [--sessions 12] [--replicas 1 3]
                                       [--warmup 10] [--state-url postgresql://...] [--out FILE]

The sandbox runs as its own process (``nexla-mcp sandbox``), each replica as its own
``python -m nexla_mcp --transport http`` process talking to it, all sharing a state store (a
SQLite directory by default, PostgreSQL with ``--state-url``) and ``NEXLA_MCP_SECRET``.
``--sessions`` MCP clients (streamable HTTP, 2026-07-28, bearer token) are spread round-robin
over the replicas and call tools one after another until ``--calls`` calls are done: three in
four ``get_flow`` (reads), one in four a ``pause_flow`` plan (a read plus one audit record in
the shared store). ``--warmup`` calls per session (default ten) are not counted. Prints
calls/s, p50 and p95 for each replica count and the ratio to one replica. Everything is on
this machine, so the replicas compete with the sandbox and the clients for the same cores: on
2 cores the ratio says what replicas cost, not what they would gain on separate hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

SECRET = "bench-replicas-secret-0123456789abcdef"
TOKEN = "bench-replicas-token-0123456789"
SERVICE_KEY = "nxsk_sbx_4f9e2c7a1b8d4e6f9a3c5b7d1e0f2a4c6b8d0e2f"  # the sandbox's default key
FLOWS = (9001, 9005, 9008)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _processes(started: list[tuple[list[str], str]], env: dict[str, str]) -> Iterator[None]:
    """Start every ``(command, ready_url)`` at once, wait until each ready URL answers, and
    stop them all on exit (started together, they import in parallel where cores allow)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command, _ in started:
            processes.append(
                subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        deadline = time.monotonic() + 60
        for process, (command, ready_url) in zip(processes, started, strict=True):
            while True:
                try:
                    if httpx.get(ready_url).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(command)} did not start")
                time.sleep(0.1)
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def _session_loop(url: str, latencies: list[float], quota: list[int], warmup: int) -> None:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        )
        client = await stack.enter_async_context(
            Client(streamable_http_client(url, http_client=http), mode="auto")
        )
        n = 0
        while True:
            counted = n >= warmup
            if counted:
                if quota[0] <= 0:
                    return
                quota[0] -= 1
            flow_id = FLOWS[n % len(FLOWS)]
            name = "pause_flow" if n % 4 == 3 else "get_flow"
            start = time.perf_counter()
            result = await client.call_tool(name, {"flow_id": flow_id})
            elapsed = time.perf_counter() - start
            if result.is_error:
                raise RuntimeError(f"{name} failed: {result.content}")
            if counted:
                latencies.append(elapsed)
            n += 1


async def _drive(urls: list[str], calls: int, sessions: int, warmup: int) -> dict[str, float]:
    latencies: list[float] = []
    quota = [calls]
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for n in range(sessions):
            group.start_soon(_session_loop, urls[n % len(urls)], latencies, quota, warmup)
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "calls": len(ordered),
        "calls_per_s": round(len(ordered) / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
    }


def measure(
    replicas: int, args: argparse.Namespace, api_url: str, state_dir: str
) -> dict[str, Any]:
    """Start ``replicas`` server processes, drive them, stop them; the figures."""
    env = {
        **os.environ, "NEXLA_API_URL": api_url, "NEXLA_SERVICE_KEY": SERVICE_KEY,
        "NEXLA_MCP_HTTP_TOKEN": TOKEN, "NEXLA_MCP_SECRET": SECRET,
        "NEXLA_MCP_STATE_DIR": state_dir, "NEXLA_MCP_WRITE_RATE_LIMIT": "10000",
        "NEXLA_MCP_LOG_LEVEL": "ERROR",
    }  # fmt: skip
    if args.state_url:
        env["NEXLA_MCP_STATE_URL"] = args.state_url
    ports = [_free_port() for _ in range(replicas)]
    started = [
        ([sys.executable, "-m", "nexla_mcp", "--transport", "http", "--port", str(port),
          "--toolsets", "flows,control"], f"http://127.0.0.1:{port}/healthz")
        for port in ports
    ]  # fmt: skip
    with _processes(started, env):
        urls = [f"http://127.0.0.1:{port}/mcp" for port in ports]
        figures = anyio.run(_drive, urls, args.calls, args.sessions, args.warmup)
    return {"replicas": replicas, **figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--warmup", type=int, default=10, help="uncounted calls per session")
    parser.add_argument("--state-url", help="postgresql:// URL (default: SQLite in a temp dir)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    port = _free_port()
    sandbox = [sys.executable, "-m", "nexla_mcp", "sandbox", "--port", str(port)]
    api_url = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory() as state_dir,
        _processes([(sandbox, api_url)], dict(os.environ)),
    ):
        rows = [measure(count, args, api_url, state_dir) for count in args.replicas]
    base = rows[0]
    engine = "postgresql" if args.state_url else "sqlite"
    print(f"\nTool calls through HTTP replicas ({engine} state store, {args.sessions} sessions, "
          f"3/4 get_flow + 1/4 pause_flow plans)")  # fmt: skip
    print(
        f"{'replicas':>8} {'calls/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'x calls/s':>9} {'x p95':>6}"
    )
    for row in rows:
        row["ratio_calls_per_s"] = round(row["calls_per_s"] / base["calls_per_s"], 2)
        row["ratio_p95"] = round(row["p95_ms"] / base["p95_ms"], 2)
        cells = (row["replicas"], row["calls_per_s"], row["p50_ms"], row["p95_ms"],
                 row["ratio_calls_per_s"], row["ratio_p95"])  # fmt: skip
        widths = (8, 8, 7, 7, 9, 6)
        print(" ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
    if args.out:
        args.out.write_text(json.dumps({"engine": engine, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
