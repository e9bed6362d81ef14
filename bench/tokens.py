"""Token cost (o200k_base) of the tool contract and of the answers, against raw Nexla JSON.

tools/list is counted per profile in two measures: model-visible (each tool's name,
description and inputSchema: what a host forwards to the model) and wire (the whole ``tools``
array, output schemas and annotations included); and per tool and per part. A tool result is
counted as a host bills it: text plus structuredContent. Its baseline is the raw Nexla JSON
the tool read to answer, in two measures: every API response it read (what an assistant with
a raw-API tool would have to read for the same answer), and only the first one (the plain
GET a passthrough tool would return, which alone lacks the derived health, run status and
clusters).
"""

from __future__ import annotations

from typing import Any

from harness import billed_tokens, stack, tokens
from mcp import Client

from nexla_mcp.server.app import build_server
from nexla_mcp.settings import Settings

__all__ = ["response_tokens", "tools_list_tokens"]


async def _wire_tools(settings: Settings) -> list[dict[str, Any]]:
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def _model_visible(tool: dict[str, Any]) -> dict[str, Any]:
    return {key: tool[key] for key in ("name", "description", "inputSchema")}


# Each profile as a server would list it; "default + discovery" is the default profile with
# NEXLA_MCP_DYNAMIC_TOOLSETS (its tools plus enable_toolset).
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"profile": "default"},
    "default + discovery": {"profile": "default", "dynamic_toolsets": True},
    "operator": {"profile": "operator"},
    "all": {"profile": "all"},
    "all, read-only": {"profile": "all", "read_only": True},
}


async def tools_list_tokens() -> dict[str, Any]:
    """tools/list per profile: model-visible tokens (name + description + inputSchema, what a
    host forwards to the model) and wire tokens (the whole entries), and every tool's parts."""
    profiles = {}
    for label, options in PROFILES.items():
        tools = await _wire_tools(Settings(sandbox=True, **options))
        profiles[label] = {
            "tools": len(tools),
            "model_visible": tokens([_model_visible(tool) for tool in tools]),
            "wire": tokens(tools),
        }
    tools = await _wire_tools(Settings(sandbox=True, profile="all"))
    per_tool = {
        tool["name"]: {
            "model_visible": tokens(_model_visible(tool)),
            "wire": tokens(tool),
            "description": tokens(tool["description"]),
            "input": tokens(tool["inputSchema"]),
            "output": tokens(tool.get("outputSchema", {})),
            "description_bytes": len(tool["description"].encode()),
        }
        for tool in tools
    }
    return {
        "profiles": profiles,
        "max_description_bytes": max(p["description_bytes"] for p in per_tool.values()),
        "per_tool": dict(sorted(per_tool.items(), key=lambda kv: -kv[1]["wire"])),
    }


def _calls(scenarios: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    broken = scenarios["credential_expired"]
    source = {"resource_type": "data_sources", "resource_id": broken["data_source_id"]}
    return [
        ("list_flows", {}),
        ("list_flows", {"has_recent_errors": True}),
        ("get_flow", {"flow_id": broken["flow_id"]}),
        ("get_flow", {"flow_id": broken["flow_id"], "detail": "full"}),
        ("get_run_metrics", source),
        ("get_daily_metrics", source),
        ("get_flow_logs", {"flow_id": broken["flow_id"]}),
        ("get_flow_logs", {"flow_id": scenarios["high_error_rate"]["flow_id"]}),
        ("probe_credential", {"credential_id": broken["data_credentials_id"]}),
        ("list_resources", {"resource_type": "data_sinks"}),
        ("diagnose_flow", {"flow_id": broken["flow_id"]}),
        ("org_health", {}),
        ("pause_flow", {"flow_id": broken["flow_id"]}),
        ("get_flow", {"flow_id": 999_999}),
        ("get_flow_logs", {"flow": broken["flow_id"]}),
    ]


async def response_tokens() -> dict[str, Any]:
    """Tokens of representative results (errors included) and their compression ratios."""
    rows = []
    async with stack(keep_bodies=True) as s:
        scenarios = {row["kind"]: row for row in (await s.control("GET", "scenarios"))["scenarios"]}
        for tool, arguments in _calls(scenarios):
            s.recorder.calls.clear()
            result = await s.mcp.call_tool(tool, arguments)
            bodies = [c.body for c in s.recorder.api_calls() if c.body is not None]
            billed = billed_tokens(result)
            row: dict[str, Any] = {
                "tool": tool,
                "arguments": arguments,
                "error": bool(result.is_error),
                "tokens": billed,
                "upstream_calls": len(s.recorder.api_calls()),
            }
            if bodies and not result.is_error:
                raw_all, raw_first = tokens(bodies), tokens(bodies[0])
                row |= {
                    "raw_tokens": raw_all,
                    "vs_raw": round(billed / raw_all, 3),
                    "first_raw_tokens": raw_first,
                    "vs_first_raw": round(billed / raw_first, 3),
                }
            flows = (result.structured_content or {}).get("flows")
            if tool == "list_flows" and flows:
                row["tokens_per_flow_row"] = round(tokens(flows) / len(flows), 1)
            rows.append(row)
    return {"rows": rows}
