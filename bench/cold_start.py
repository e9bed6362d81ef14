"""stdio cold start: spawn -> ``initialize`` -> ``tools/list`` -> first ``tools/call``, as a host
does it, for this server and for a bare one-tool ``MCPServer`` (``bench/bare_server.py``),
spawned in turn so machine load hits them alike; medians of ``runs`` spawns each.

Besides wall time each spawn's CPU time (user + system, from the reaped child's rusage) is
kept: on a loaded machine it moves far less than wall time, so it shows where the time goes
when the wall ratio is noisy. A last subject only imports the SDK (``import
mcp.server.mcpserver``), which the bare server and this one share, so the table splits a start
into the SDK's import, the rest of the bare server, and what this server adds.

This server pauses the cyclic garbage collector while it starts (``nexla_mcp.startup_gc``),
which speeds the SDK's import too; the bare server started the same way (``--gc-paused``) is
the like-for-like baseline, reported beside the plain one.

The warm subjects share one state directory, whose tool-list cache (``nexla_mcp.server.
tool_cache``) an untimed first spawn fills, as any earlier start of the same host config
would; the "first start" subject gets an empty state directory every time.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.text import TextReceiveStream

__all__ = ["cold_start"]

BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"
BARE = "bare MCPServer, 1 tool"
BARE_GC_PAUSED = "bare MCPServer, GC paused at start as ours"
SDK_IMPORT = "SDK import only"
SERVE = ["-m", "nexla_mcp", "--sandbox"]
# name -> (arguments after python, first tool and its arguments, empty state dir per spawn).
SUBJECTS: dict[str, tuple[list[str], str | None, bool]] = {
    BARE: ([str(BARE_SERVER)], "ping", False),
    BARE_GC_PAUSED: ([str(BARE_SERVER), "--gc-paused"], "ping", False),
    "nexla-mcp default profile": (SERVE, "list_flows", False),
    "nexla-mcp --profile all": ([*SERVE, "--profile", "all"], "list_flows", False),
    "nexla-mcp default, first start (no cache)": (SERVE, "list_flows", True),
    SDK_IMPORT: (["-c", "import mcp.server.mcpserver"], None, False),
}


def _request(id_: int, method: str, params: dict[str, Any]) -> bytes:
    return (json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
            + "\n").encode()  # fmt: skip


async def _reply(lines: TextReceiveStream, buffer: list[str]) -> dict[str, Any]:
    while "\n" not in buffer[0]:
        buffer[0] += await lines.receive()
    line, buffer[0] = buffer[0].split("\n", 1)
    return json.loads(line)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _spawn(args: list[str], tool: str | None, state_dir: str) -> tuple[float, ...]:
    """Seconds from spawn to the initialize reply, the tools/list reply and the first
    tools/call reply (each the exit for a subject without a tool), then the child's CPU
    seconds."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    environment["NEXLA_MCP_STATE_DIR"] = state_dir
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    async with await anyio.open_process([sys.executable, *args], env=environment) as process:
        assert process.stdin and process.stdout
        if tool is None:
            await process.wait()
            wall = time.perf_counter() - started
            return wall, wall, wall, _children_cpu_s() - cpu_before
        lines, buffer = TextReceiveStream(process.stdout), [""]
        await process.stdin.send(_request(1, "initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"}}))  # fmt: skip
        assert "result" in await _reply(lines, buffer)
        initialized = time.perf_counter() - started
        await process.stdin.send(
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
            + _request(2, "tools/list", {})
        )
        assert (await _reply(lines, buffer))["result"]["tools"]
        listed = time.perf_counter() - started
        await process.stdin.send(_request(3, "tools/call", {"name": tool, "arguments": {}}))
        reply = await _reply(lines, buffer)
        assert not reply["result"].get("isError"), reply
        called = time.perf_counter() - started
        await process.stdin.aclose()
        await process.wait()
    return initialized, listed, called, _children_cpu_s() - cpu_before


async def cold_start(runs: int) -> dict[str, Any]:
    """Medians of ``runs`` spawns per subject (see the module docstring), each against the
    bare server's medians; with ``runs`` 0, nothing is spawned."""
    if runs == 0:
        return {"runs": 0}
    samples: dict[str, list[tuple[float, ...]]] = {name: [] for name in SUBJECTS}
    with tempfile.TemporaryDirectory(prefix="nexla-mcp-bench-") as shared:
        for args, tool, _ in SUBJECTS.values():  # fills the warm subjects' tool-list cache
            await _spawn(args, tool, shared)
        for _ in range(runs):
            for name, (args, tool, fresh) in SUBJECTS.items():
                with tempfile.TemporaryDirectory(prefix="nexla-mcp-bench-") as empty:
                    samples[name].append(await _spawn(args, tool, empty if fresh else shared))
    medians = {
        name: [statistics.median(sample[i] for sample in runs_) for i in range(4)]
        for name, runs_ in samples.items()
    }
    bare, sdk, like = medians[BARE], medians[SDK_IMPORT], medians[BARE_GC_PAUSED]
    return {
        "runs": runs,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "subjects": {
            name: {
                "initialize_s": round(initialize, 3),
                "tools_list_s": round(listed, 3),
                "first_call_s": round(first, 3),
                "cpu_s": round(cpu, 3),
                "initialize_vs_bare": round(initialize / bare[0], 3),
                "first_call_vs_bare": round(first / bare[2], 3),
                "first_call_vs_bare_gc_paused": round(first / like[2], 3),
                "cpu_vs_bare": round(cpu / bare[3], 3),
                "over_bare_s": round(first - bare[2], 3),
            }
            for name, (initialize, listed, first, cpu) in medians.items()
            if name != SDK_IMPORT
        },
        "sdk_import": {
            "wall_s": round(sdk[2], 3),
            "cpu_s": round(sdk[3], 3),
            "share_of_bare": round(sdk[2] / bare[2], 3),
        },  # fmt: skip
    }
