"""Caller token budgets: list_flows and get_flow_logs cut their answer to max_tokens (checked
with the real o200k tokenizer), say what they left out and resume where they cut; the cheap
estimate every such answer reports errs high on every kind of result."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp import Client

from nexla_mcp.sandbox import create_app
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, billed_tokens, call_ok, o200k_tokens
from nexla_mcp.settings import Settings
from nexla_mcp.tools._budget import estimate_tokens

pytestmark = pytest.mark.anyio

BUDGETS = [300, 600, 1_200, 2_500]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def large_org() -> AsyncIterator[Client]:
    """An MCP client on a server over the generated 10,000-flow org (built once per module)."""
    app = create_app(flows=10_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        server = build_server(
            Settings(sandbox=True, profile="all"), http_client=http, retry_policy=NO_BACKOFF
        )
        async with Client(server) as client:
            yield client


@pytest.mark.parametrize("budget", BUDGETS)
async def test_list_flows_on_ten_thousand_flows_fits_any_budget(
    large_org: Client, budget: int
) -> None:
    """At most `budget` real tokens, the estimate it reports is at least the real count, and
    it says what it left out."""
    result = await large_org.call_tool("list_flows", {"limit": 100, "max_tokens": budget})
    page = result.structured_content or {}
    assert not result.is_error
    assert billed_tokens(result) <= page["tokens"] <= budget
    assert len(page.get("flows", [])) < 100 and "To fit max_tokens" in page["left_out"]
    if budget >= 600:
        assert page["flows"]


async def test_a_cut_page_resumes_at_the_first_flow_it_left_out(large_org: Client) -> None:
    whole = await call_ok(large_org, "list_flows", {"limit": 30})
    cut = await call_ok(large_org, "list_flows", {"limit": 30, "max_tokens": 700})
    shown = len(cut["flows"])
    assert 0 < shown < 30
    assert [row["flow_id"] for row in cut["flows"]] == [
        r["flow_id"] for r in whole["flows"][:shown]
    ]
    rest = await call_ok(large_org, "list_flows", {"limit": 30, "cursor": cut["next_cursor"]})
    assert rest["flows"][0]["flow_id"] == whole["flows"][shown]["flow_id"]


async def test_a_budget_that_holds_the_whole_page_changes_nothing_but_the_estimate(
    large_org: Client,
) -> None:
    plain = await call_ok(large_org, "list_flows", {"limit": 5})
    roomy = await call_ok(large_org, "list_flows", {"limit": 5, "max_tokens": 5_000})
    assert "left_out" not in roomy
    assert {k: v for k, v in roomy.items() if k != "tokens"} == {
        k: v for k, v in plain.items() if k != "tokens"
    }


@pytest.mark.parametrize("budget", [300, 700])
async def test_flow_logs_drop_raw_lines_then_templates_to_fit(
    mcp_client: Client, sandbox: Any, budget: int
) -> None:
    flow = (await sandbox.scenario("high_error_rate"))["flow_id"]
    whole = await mcp_client.call_tool("get_flow_logs", {"flow_id": flow, "limit": 50})
    assert billed_tokens(whole) > budget
    result = await mcp_client.call_tool(
        "get_flow_logs", {"flow_id": flow, "limit": 50, "max_tokens": budget}
    )
    logs = result.structured_content or {}
    assert billed_tokens(result) <= logs["tokens"] <= budget
    assert "raw lines" in logs["left_out"] and logs["returned"] < 50
    if logs["returned"]:
        rest = await call_ok(
            mcp_client,
            "get_flow_logs",
            {"flow_id": flow, "limit": 50, "cursor": logs["next_cursor"]},
        )
        assert rest["lines"][0] == (whole.structured_content or {})["lines"][logs["returned"]]


async def test_the_estimate_errs_high_on_every_kind_of_result(
    mcp_client: Client, sandbox: Any
) -> None:
    """Each result's text and structured content, estimated and really counted: the estimate
    is never below the real count and at most 1.5 times it (budgets are not wasted)."""
    broken = await sandbox.scenario("transform_error")
    calls = [
        ("list_flows", {"limit": 100}),
        ("list_resources", {"resource_type": "data_sets", "limit": 100}),
        ("list_credentials", {"limit": 100}),
        ("get_flow", {"flow_id": broken["flow_id"], "detail": "full"}),
        ("get_flow_logs", {"flow_id": broken["flow_id"], "limit": 100}),
        ("diagnose_flow", {"flow_id": broken["flow_id"]}),
        ("org_health", {}),
        ("get_flow", {"flow_id": 999_999}),
    ]
    for name, arguments in calls:
        result = await mcp_client.call_tool(name, arguments)
        for part in [block.text for block in result.content] + [  # type: ignore[union-attr]
            json.dumps(result.structured_content, separators=(",", ":"))
        ] * (result.structured_content is not None):
            real, estimate = o200k_tokens(part), estimate_tokens(part)
            assert real <= estimate <= 1.5 * real + 5, (name, real, estimate, part[:80])


def test_the_estimate_errs_high_on_text_outside_ascii() -> None:
    for text in [
        "Überweisung fehlgeschlagen: ungültiges Zertifikat",
        "接続がタイムアウトしました",
        "🚨 sink down 🚨",
    ]:
        assert estimate_tokens(text) >= o200k_tokens(text), text


async def test_list_resources_fits_a_budget_and_resumes_where_it_cut(large_org: Client) -> None:
    arguments = {"resource_type": "data_sets", "limit": 60}
    whole = await call_ok(large_org, "list_resources", arguments)
    result = await large_org.call_tool("list_resources", {**arguments, "max_tokens": 600})
    cut = result.structured_content or {}
    shown = len(cut["resources"])
    assert billed_tokens(result) <= cut["tokens"] <= 600 and 0 < shown < 60
    assert "more data_sets" in cut["left_out"]
    rest = await call_ok(large_org, "list_resources", {**arguments, "cursor": cut["next_cursor"]})
    assert rest["resources"][0] == whole["resources"][shown]
