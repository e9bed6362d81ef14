"""Token budgets: the advertised tool contract and the default responses stay small.

Tokens are counted with the o200k_base encoding (``bpe-openai``, tiktoken-compatible) over
compact JSON, the way a host bills them: tools/list as its ``tools`` array, a tool result as
its text content plus its ``structuredContent``. A count is a pure function of the contract
or of the seeded sandbox, so these are behaviour tests, not timing tests. Raising a budget is
a decision: say why in the commit, with ``python bench/run.py`` numbers.

Targets (reliability-security-performance.md, C3): responses <= 2,000 tokens by default,
errors <= 150, <= 60 tokens per flow row, descriptions <= 1 KB. Where a committed budget is
above its target, the constant says by how much and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mcp import Client

from nexla_mcp.runbooks.org import DEFAULT_PROBLEMS
from nexla_mcp.sandbox import create_app
from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.testing import billed_tokens, model_visible, wire_tools
from nexla_mcp.server.testing import o200k_tokens as tokens
from nexla_mcp.settings import Settings
from nexla_mcp.tools.profiles import tools_of

pytestmark = pytest.mark.anyio

# Per profile: (model-visible, wire) tokens of tools/list. Model-visible is what a host forwards
# to the model (name, description, inputSchema); wire is every tool's whole entry, output schema
# and annotations included. Targets (issue 13): default with discovery's enable_toolset
# <= 2,500 model-visible, all <= 8,000; those two budgets are the targets themselves.
# Measured: default 12 tools 2,308 / 6,242 (with enable_toolset 2,479 / 6,514), operator 30
# tools 5,901 / 15,166, all 34 tools 7,190 / 18,113, since descriptions are one line per
# paragraph (a wrapped line cost a token), ids are advertised without exclusiveMinimum and
# strings without minLength 1 (the server still refuses 0 and "" by name) and get_run_metrics,
# list_credentials, list_accessors, get_nexset_samples and org_health took max_tokens
# (get_credential's active_flow_count and left_out: +16 / +37). The
# other budgets leave ~3 % headroom.
PROFILE_BUDGETS: dict[str, tuple[int, int]] = {
    "default": (2_350, 6_400),
    "default + discovery": (2_500, 6_650),
    "operator": (6_000, 15_500),
    "all": (8_000, 18_500),
}
# The heaviest tool (diagnose_flow, 774 after its output schema was trimmed; was 1,061; 903
# since it names the resource, the recovery and the other overlapping causes, issue 10).
MAX_TOOL_TOKENS = 910
MAX_DESCRIPTION_BYTES = 1024
MAX_DESCRIPTION_LINES = 15
RESPONSE_BUDGET = 2_000
# Envelopes measure 84-127 and a 5xx with its request id 143 (a 404: 105-113, down from 132-155
# while it carried Nexla's request id and longer hints), less since null keys are left out.
# The C3 target.
ERROR_BUDGET = 150
# list_flows rows average ~59 tokens on the seeded org (a failing row ~65, a healthy one ~54,
# as zero recent_errors/failed_runs are left out).
FLOW_ROW_BUDGET = 60


@pytest.fixture
async def scenarios(sandbox_http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The seeded sandbox scenarios, by kind."""
    reply = await sandbox_http.get("http://sandbox.test/_sandbox/scenarios")
    return {row["kind"]: row for row in reply.json()["scenarios"]}


def _per_tool(tools: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['name']}={tokens(t)}" for t in sorted(tools, key=tokens, reverse=True))


@pytest.mark.parametrize("profile", sorted(PROFILE_BUDGETS))
async def test_each_profile_tools_list_stays_within_its_token_budgets(profile: str) -> None:
    """What the model sees and what travels stay within the profile's two budgets (and the
    default's with dynamic discovery's extra tool)."""
    visible_budget, wire_budget = PROFILE_BUDGETS[profile]
    name, dynamic = profile.removesuffix(" + discovery"), profile.endswith("discovery")
    settings = Settings(sandbox=True, profile=name, dynamic_toolsets=dynamic)  # type: ignore[arg-type]
    tools = await wire_tools(build_server(settings))
    assert len(tools) == len(tools_of(name)) + dynamic  # type: ignore[arg-type]
    visible, wire = tokens(model_visible(tools)), tokens(tools)
    assert visible <= visible_budget, (
        f"{profile}: {visible} > {visible_budget}: {_per_tool(model_visible(tools))}"
    )
    assert wire <= wire_budget, f"{profile}: {wire} > {wire_budget}: {_per_tool(tools)}"


async def test_no_single_tool_costs_more_than_its_share() -> None:
    """Description, input and output schema of any one tool fit in MAX_TOOL_TOKENS."""
    for tool in await wire_tools(build_server(Settings(sandbox=True, profile="all"))):
        assert tokens(tool) <= MAX_TOOL_TOKENS, (tool["name"], tokens(tool))


async def test_every_description_fits_in_one_kilobyte_and_fifteen_lines() -> None:
    """Hosts cut long descriptions; each tool says what it does in 1 KB and 15 lines."""
    for tool in await wire_tools(build_server(Settings(sandbox=True, profile="all"))):
        description = tool["description"]
        assert len(description.encode()) <= MAX_DESCRIPTION_BYTES, tool["name"]
        assert description.count("\n") < MAX_DESCRIPTION_LINES, tool["name"]


async def test_optional_arguments_are_advertised_without_null_branches() -> None:
    """No anyOf [T, null] is left in any input schema: an optional argument is just omitted."""
    for tool in await wire_tools(build_server(Settings(sandbox=True, profile="all"))):
        assert '{"type":"null"}' not in json.dumps(tool, separators=(",", ":")), tool["name"]


def representative_calls(scenarios: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The calls of a troubleshooting session, on the flow whose credential expired."""
    broken = scenarios["credential_expired"]
    return [
        ("list_flows", {}),
        ("list_flows", {"has_recent_errors": True}),
        ("get_flow", {"flow_id": broken["flow_id"]}),
        ("get_flow", {"flow_id": scenarios["transform_error"]["flow_id"], "detail": "full"}),
        (
            "get_run_metrics",
            {"resource_type": "data_sources", "resource_id": broken["data_source_id"]},
        ),  # fmt: skip
        ("get_flow_logs", {"flow_id": broken["flow_id"]}),
        ("probe_credential", {"credential_id": broken["data_credentials_id"]}),
        ("diagnose_flow", {"flow_id": broken["flow_id"]}),
        ("pause_flow", {"flow_id": broken["flow_id"]}),
    ]


async def test_default_responses_of_a_troubleshooting_session_stay_within_budget(
    server: NexlaMCPServer, scenarios: dict[str, dict[str, Any]]
) -> None:
    """Each call an assistant makes while troubleshooting costs at most RESPONSE_BUDGET."""
    over = {}
    async with Client(server) as client:
        for name, arguments in representative_calls(scenarios):
            result = await client.call_tool(name, arguments)
            assert not result.is_error, (name, result.content)
            if billed_tokens(result) > RESPONSE_BUDGET:
                over[name] = billed_tokens(result)
    assert not over, f"over {RESPONSE_BUDGET} tokens: {over}"


async def test_flow_rows_stay_within_their_per_row_budget(server: NexlaMCPServer) -> None:
    """A list_flows row costs at most FLOW_ROW_BUDGET tokens on average."""
    async with Client(server) as client:
        result = await client.call_tool("list_flows", {})
    rows = (result.structured_content or {})["flows"]
    assert len(rows) >= 10
    assert tokens(rows) / len(rows) <= FLOW_ROW_BUDGET


# get_daily_metrics over its longest range (92 days): 135 tokens on the seeded sandbox,
# columnar; 300 as one object per day, more than the 202 of the raw Nexla JSON it read.
DAILY_METRICS_BUDGET = 160


async def test_daily_metrics_over_the_longest_range_cost_less_than_the_raw_json(
    server: NexlaMCPServer, scenarios: dict[str, dict[str, Any]]
) -> None:
    """A count per day and the days with errors, not an object per day."""
    source = scenarios["credential_expired"]["data_source_id"]
    start = (datetime.now(UTC) - timedelta(days=91)).date().isoformat()
    arguments = {"resource_type": "data_sources", "resource_id": source, "from_date": start}
    async with Client(server) as client:
        result = await client.call_tool("get_daily_metrics", arguments)
    assert not result.is_error and (result.structured_content or {})["errors_per_day"]
    assert billed_tokens(result) <= DAILY_METRICS_BUDGET


# Big enough to hold more problems than org_health lists by default (about 37), small enough
# to scan in well under a second; a 10,000-flow org answers within a few tokens of it.
GENERATED_FLOWS = 1_000


async def test_org_health_on_a_generated_org_stays_within_budget() -> None:
    """org_health lists DEFAULT_PROBLEMS of the many problems and says how many it left out."""
    app = create_app(flows=GENERATED_FLOWS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        async with Client(build_server(Settings(sandbox=True), http_client=http)) as client:
            result = await client.call_tool("org_health", {})
    report = result.structured_content or {}
    assert not result.is_error and len(report["problems"]) == DEFAULT_PROBLEMS
    assert report["truncated"] and report["flows_with_problems"] > DEFAULT_PROBLEMS
    assert billed_tokens(result) <= RESPONSE_BUDGET


FAILURES: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "not-found": ("get_flow", lambda flow: {"flow_id": 999_999}),
    "upstream-404": (
        "get_resource",
        lambda flow: {"resource_type": "data_sinks", "resource_id": 1},
    ),  # fmt: skip
    "bad-argument": ("get_flow_logs", lambda flow: {"flow_id": flow, "from_time": "yesterday"}),
    "unknown-argument": ("get_flow_logs", lambda flow: {"flow": flow}),
    "write-refused": (
        "pause_flow",
        lambda flow: {"flow_id": flow, "confirm": True, "plan_token": "forged"},
    ),  # fmt: skip
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
async def test_error_envelopes_stay_within_the_error_budget(
    server: NexlaMCPServer, scenarios: dict[str, dict[str, Any]], failure: str
) -> None:
    """Every kind of failure costs at most ERROR_BUDGET."""
    name, arguments = FAILURES[failure]
    async with Client(server) as client:
        result = await client.call_tool(name, arguments(scenarios["healthy"]["flow_id"]))
    assert result.is_error
    assert billed_tokens(result) <= ERROR_BUDGET, result.content


async def test_a_server_error_with_its_request_id_stays_within_the_error_budget(
    server: NexlaMCPServer, sandbox_http: httpx.AsyncClient, scenarios: dict[str, dict[str, Any]]
) -> None:
    """A 5xx keeps Nexla's request id (to report it) and still costs at most ERROR_BUDGET."""
    faults = {"error_rate": 1.0, "error_status": 501, "paths": ["/data_sources"]}
    await sandbox_http.post("http://sandbox.test/_sandbox/faults", json=faults)
    source = scenarios["credential_expired"]["data_source_id"]
    async with Client(server) as client:
        result = await client.call_tool(
            "get_run_metrics", {"resource_type": "data_sources", "resource_id": source}
        )
    assert result.is_error and '"request_id"' in result.content[0].text  # type: ignore[union-attr]
    assert billed_tokens(result) <= ERROR_BUDGET, result.content


async def test_an_unknown_argument_costs_at_most_the_error_budget_on_every_tool(
    server: NexlaMCPServer,
) -> None:
    """The unknown-argument envelope lists what the tool accepts; even the tool with the most
    arguments stays within ERROR_BUDGET."""
    async with Client(server) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        costs = {}
        for name in names:
            result = await client.call_tool(name, {"unknown_argument": 1})
            assert result.is_error, name
            costs[name] = billed_tokens(result)
    assert max(costs.values()) <= ERROR_BUDGET, costs


async def test_diagnose_flow_on_a_ten_thousand_line_failing_run_stays_within_budget(
    server: NexlaMCPServer, sandbox_http: httpx.AsyncClient
) -> None:
    """A failing run whose 10,000 log lines bury its one ERROR at the end: the ERROR is found
    (it decides the category and is listed) and the answer costs no more than RESPONSE_BUDGET.
    (Its wall time against the 45 s deadline is measured by bench/drills.py.)"""
    noise = {"lines": 9998, "severity": "INFO", "messages": ["Fetched page {n} of changes"]}
    drill = {"flow_id": 9035, "timeline": [{"profile": "resource_conflict", "runs": 2}],
             "noise": [noise]}  # fmt: skip
    reply = await sandbox_http.post("http://sandbox.test/_sandbox/drills", json=drill)
    assert reply.status_code == 200
    async with Client(server) as client:
        result = await client.call_tool("diagnose_flow", {"flow_id": 9035})
    assert not result.is_error
    found = result.structured_content or {}
    assert found["category"] == "resource_conflict"
    assert any("duplicate key" in error.get("example", "") for error in found["errors"])
    assert billed_tokens(result) <= RESPONSE_BUDGET
