from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from nexla_mcp.sandbox import PLANTED_SECRETS

from .conftest import FAULTS, Sandbox

pytestmark = pytest.mark.anyio


class Recorder:
    """Calls tools and keeps every result's text and structured content."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.results: list[tuple[str, CallToolResult]] = []

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(name, arguments)
        self.results.append((name, result))
        return result.structured_content or {}

    def leaks(self) -> list[tuple[str, str]]:
        found = []
        for name, result in self.results:
            text = " ".join(b.text for b in result.content if isinstance(b, TextContent))
            text += json.dumps(result.structured_content or {}, ensure_ascii=False)
            found += [(name, secret[:12]) for secret in PLANTED_SECRETS if secret in text]
        return found


async def test_no_planted_secret_reaches_any_tool_result(
    mcp_client: Client, sandbox: Sandbox
) -> None:
    """Every tool over every seeded flow, at full detail and INFO logs: zero planted secrets."""
    calls = Recorder(mcp_client)
    await calls.call("list_flows", {"limit": 100})
    await calls.call("list_credentials", {"limit": 100})
    for kind in ("data_sources", "data_sets", "data_sinks"):
        await calls.call("list_resources", {"resource_type": kind, "limit": 100})
    for scenario in await sandbox.scenarios():
        flow = await calls.call("get_flow", {"flow_id": scenario["flow_id"], "detail": "full"})
        await calls.call(
            "get_flow_logs", {"flow_id": scenario["flow_id"], "severity": "INFO", "limit": 100}
        )
        resources = [("data_sources", scenario["data_source_id"])]
        resources += [("data_sets", nexset) for nexset in scenario["data_set_ids"]]
        resources += [("data_sinks", sink) for sink in scenario["data_sink_ids"]]
        for resource_type, resource_id in resources:
            arguments = {"resource_type": resource_type, "resource_id": resource_id}
            await calls.call("get_resource", {**arguments, "detail": "full"})
            await calls.call("get_run_metrics", {**arguments, "limit": 3})
        await calls.call(
            "get_daily_metrics",
            {"resource_type": "data_sources", "resource_id": scenario["data_source_id"]},
        )
        for nexset in scenario["data_set_ids"]:
            await calls.call("get_nexset_samples", {"resource_id": nexset, "limit": 20})
        for credential in flow.get("credentials", []):
            await calls.call("probe_credential", {"credential_id": credential["credential_id"]})
            await calls.call("get_credential", {"credential_id": credential["credential_id"]})
        for nexset in flow.get("nexsets", []):
            if "transform_id" in nexset:
                await calls.call(
                    "get_transform", {"transform_id": nexset["transform_id"], "detail": "full"}
                )
    assert len(calls.results) > 100
    assert not [name for name, result in calls.results if result.is_error]
    assert calls.leaks() == []


# Rate limiting is left out: its retries make the test slow and its envelope carries no body.
@pytest.mark.parametrize("error_type", ["AuthenticationError", "AuthorizationError", "ServerError"])
async def test_no_planted_secret_reaches_an_error_envelope(
    mcp_client: Client, sandbox: Sandbox, error_type: str
) -> None:
    """Failing calls about the flows whose logs and probes echo secrets leak none of them."""
    calls = Recorder(mcp_client)
    targets = [
        await sandbox.scenario(kind)
        for kind in ("credential_expired", "network_timeout", "permission_denied", "rate_limited")
    ]
    await sandbox.faults(**FAULTS[error_type])
    for scenario in targets:
        await calls.call("get_flow_logs", {"flow_id": scenario["flow_id"], "severity": "INFO"})
        await calls.call("probe_credential", {"credential_id": scenario["data_credentials_id"]})
    assert all(result.is_error for _, result in calls.results)
    assert calls.leaks() == []
