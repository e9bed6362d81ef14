"""Caller token budgets: every list and log tool (list_flows, list_resources, list_credentials,
list_accessors, get_run_metrics, get_flow_logs, get_nexset_samples, org_health) cuts its
answer to max_tokens (checked with the real o200k tokenizer), says what it left out and resumes
where it cut; the cheap estimate every such answer reports errs high on every kind of
result; get_credential, capped without a budget, fits the response target on the most shared
credential."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import httpx
import pytest
from mcp import Client

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.generator import FIRST_TEAM_ID
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, billed_tokens, call_error, call_ok, o200k_tokens
from nexla_mcp.settings import Settings
from nexla_mcp.tools._budget import estimate_tokens
from nexla_mcp.tools.credentials import MAX_ACTIVE_FLOWS_SHOWN, MAX_USERS_SHOWN
from tests.runbooks.sandbox_org import API_URL

pytestmark = pytest.mark.anyio

BUDGETS = [300, 600, 1_200, 2_500]
# The project's response target (tests/server/test_token_budget.py) for a tool without a budget.
RESPONSE_BUDGET = 2_000


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class LargeOrg(NamedTuple):
    """The generated 10,000-flow org: an MCP client on a server over it, a Nexla client for
    setting it up, and the sandbox app (its store is the truth to compare with)."""

    mcp: Client
    nexla: NexlaClient
    app: Any


@pytest.fixture(scope="module")
async def large_org_with_nexla() -> AsyncIterator[LargeOrg]:
    """Built once per module."""
    app = create_app(flows=10_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        server = build_server(
            Settings(sandbox=True, profile="all"), http_client=http, retry_policy=NO_BACKOFF
        )
        async with (
            Client(server) as client,
            NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http) as nx,
        ):
            yield LargeOrg(client, nx, app)


@pytest.fixture(scope="module")
def large_org(large_org_with_nexla: LargeOrg) -> Client:
    return large_org_with_nexla.mcp


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
        ("list_accessors", {"resource_type": "flows", "resource_id": broken["flow_id"]}),
        (
            "get_run_metrics",
            {"resource_type": "data_sources", "resource_id": broken["data_source_id"]},
        ),  # fmt: skip
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


def cut_within(result: Any, budget: int) -> dict[str, Any]:
    """The structured answer of a result that the budget cut: at most `budget` real tokens,
    no fewer than its own estimate says, and saying what it left out."""
    answer = result.structured_content or {}
    assert not result.is_error, result.content
    assert billed_tokens(result) <= answer["tokens"] <= budget
    assert "To fit max_tokens" in answer["left_out"]
    return answer


@pytest.mark.parametrize("budget", BUDGETS)
async def test_list_credentials_on_ten_thousand_flows_fits_any_budget(
    large_org: Client, budget: int
) -> None:
    whole = await call_ok(large_org, "list_credentials", {"limit": 100})
    assert len(whole["credentials"]) == 100
    result = await large_org.call_tool("list_credentials", {"limit": 100, "max_tokens": budget})
    cut = cut_within(result, budget)
    shown = cut.get("credentials", [])
    assert len(shown) < 100 and (shown or budget < 600)
    assert [row["credential_id"] for row in shown] == [
        row["credential_id"] for row in whole["credentials"][: len(shown)]
    ]
    rest = await call_ok(
        large_org, "list_credentials", {"limit": 100, "cursor": cut["next_cursor"]}
    )
    assert rest["credentials"][0] == whole["credentials"][len(shown)]


@pytest.fixture(scope="module")
async def busy_source(large_org: Client) -> int:
    """A source of the large org with at least 50 runs in its history."""
    page = await call_ok(
        large_org, "list_resources", {"resource_type": "data_sources", "limit": 20}
    )
    for row in page["resources"]:
        arguments = {"resource_type": "data_sources", "resource_id": row["resource_id"]}
        runs = await call_ok(large_org, "get_run_metrics", {**arguments, "limit": 1})
        if runs["total"] >= 50:
            return row["resource_id"]
    raise AssertionError("no source of the generated org has 50 runs")


@pytest.mark.parametrize("budget", BUDGETS)
async def test_run_metrics_on_ten_thousand_flows_fit_any_budget(
    large_org: Client, busy_source: int, budget: int
) -> None:
    arguments = {"resource_type": "data_sources", "resource_id": busy_source, "limit": 50}
    whole = await call_ok(large_org, "get_run_metrics", arguments)
    result = await large_org.call_tool("get_run_metrics", {**arguments, "max_tokens": budget})
    cut = cut_within(result, budget)
    shown = cut.get("runs", [])
    assert len(shown) < 50 and (shown or budget < 600)
    assert cut["consecutive_failures"] == whole["consecutive_failures"]
    assert [run["run_id"] for run in shown] == [r["run_id"] for r in whole["runs"][: len(shown)]]
    if "baseline medians" in cut["left_out"]:
        assert all("baseline_records" not in run for run in shown)
    rest = await call_ok(large_org, "get_run_metrics", {**arguments, "cursor": cut["next_cursor"]})
    assert rest["runs"][0]["run_id"] == whole["runs"][len(shown)]["run_id"]


@pytest.fixture(scope="module")
async def widely_shared_flow(large_org_with_nexla: LargeOrg) -> int:
    """A flow of the large org shared with all of its 200 teams."""
    org = large_org_with_nexla
    flow = (await call_ok(org.mcp, "list_flows", {"limit": 1}))["flows"][0]["flow_id"]
    teams = [
        {"type": "TEAM", "id": FIRST_TEAM_ID + n, "access_roles": ["collaborator"]}
        for n in range(200)
    ]
    await org.nexla.add_accessors("flows", flow, teams)
    return flow


@pytest.mark.parametrize("budget", BUDGETS)
async def test_list_accessors_of_a_widely_shared_flow_fits_any_budget(
    large_org: Client, widely_shared_flow: int, budget: int
) -> None:
    arguments = {"resource_type": "flows", "resource_id": widely_shared_flow}
    whole = await call_ok(large_org, "list_accessors", arguments)
    assert whole["total"] == 201 and len(whole["accessors"]) == 201
    result = await large_org.call_tool("list_accessors", {**arguments, "max_tokens": budget})
    cut = cut_within(result, budget)
    shown = cut.get("accessors", [])
    assert cut["total"] == 201 and len(shown) < 201 and (shown or budget < 600)
    assert [(a["type"], a["id"]) for a in shown] == [
        (a["type"], a["id"]) for a in whole["accessors"][: len(shown)]
    ]
    rest = await call_ok(large_org, "list_accessors", {**arguments, "cursor": cut["next_cursor"]})
    assert rest["accessors"][0] == whole["accessors"][len(shown)]
    assert len(shown) + len(rest["accessors"]) == 201 and "next_cursor" not in rest


async def test_an_accessor_cursor_for_another_resource_is_refused(
    large_org: Client, widely_shared_flow: int
) -> None:
    arguments = {"resource_type": "flows", "resource_id": widely_shared_flow, "max_tokens": 300}
    cut = await call_ok(large_org, "list_accessors", arguments)
    other = {"resource_type": "flows", "resource_id": widely_shared_flow + 1}
    result = await large_org.call_tool("list_accessors", {**other, "cursor": cut["next_cursor"]})
    assert result.is_error and "cursor" in result.content[0].text  # type: ignore[union-attr]


async def test_nexset_samples_drop_records_then_shorten_strings_to_fit(mcp_client: Client) -> None:
    """The seeded nexset with the widest records: 20 of them cost about 1,200 tokens."""
    nexsets = await call_ok(mcp_client, "list_resources", {"resource_type": "data_sets"})
    widest = max(
        [await mcp_client.call_tool("get_nexset_samples", {"resource_id": row["resource_id"],
                                                           "limit": 20})
         for row in nexsets["resources"]],
        key=billed_tokens,
    )  # fmt: skip
    whole = widest.structured_content or {}
    assert billed_tokens(widest) > 1_000 and whole["returned"] == 20
    for budget in (200, 400, 800):
        arguments = {"resource_id": whole["nexset_id"], "limit": 20, "max_tokens": budget}
        cut = cut_within(await mcp_client.call_tool("get_nexset_samples", arguments), budget)
        assert cut["returned"] < 20 and (cut["returned"] or budget < 400)
        assert "strings cut to 40 characters" in cut["left_out"]
        assert cut["fields"] == whole["fields"]
        for shown, full in zip(cut.get("records", []), whole["records"], strict=False):
            assert shown.keys() == full.keys()


@pytest.mark.parametrize("budget", [500, 700])
async def test_org_health_drops_its_least_urgent_problems_to_fit(
    mcp_client: Client, budget: int
) -> None:
    whole = await call_ok(mcp_client, "org_health", {"limit": 100})
    cut = cut_within(
        await mcp_client.call_tool("org_health", {"limit": 100, "max_tokens": budget}), budget
    )
    shown = cut.get("problems", [])
    assert len(shown) < len(whole["problems"]) and cut["truncated"]
    assert [p["flow_id"] for p in shown] == [p["flow_id"] for p in whole["problems"]][: len(shown)]
    assert cut["next_actions"] == whole["next_actions"]
    assert cut["flows_with_problems"] == whole["flows_with_problems"]


async def test_org_health_refuses_a_budget_below_its_unabridged_head(mcp_client: Client) -> None:
    """Counts and the three next actions are never cut (up to ~350 tokens): 500 at least."""
    error = await call_error(mcp_client, "org_health", {"max_tokens": 499})
    assert error["type"] == "InvalidArgumentsError" and "max_tokens" in error["message"]


async def test_org_health_on_ten_thousand_flows_fits_a_budget(large_org: Client) -> None:
    """262 problems, 100 asked for (about 7,900 tokens), 1,500 allowed."""
    result = await large_org.call_tool("org_health", {"limit": 100, "max_tokens": 1_500})
    cut = cut_within(result, 1_500)
    assert 10 <= len(cut["problems"]) < 100 and cut["flows_with_problems"] > 100
    assert "more problems" in cut["left_out"]


async def test_get_credential_of_the_most_shared_credential_fits_the_response_budget(
    large_org_with_nexla: LargeOrg,
) -> None:
    """306 users in 250 active flows (about 2,500 tokens listed in full): the first users and
    active flows are listed, the counts are whole, and left_out says how to list the rest."""
    store = large_org_with_nexla.app.state.sandbox.store
    users = Counter(
        row.credential_id
        for rows in (store.sources, store.sinks)
        for row in rows.values()
        if row.credential_id is not None
    )
    credential_id, total = users.most_common(1)[0]
    result = await large_org_with_nexla.mcp.call_tool(
        "get_credential", {"credential_id": credential_id}
    )
    view = result.structured_content or {}
    assert not result.is_error and billed_tokens(result) <= RESPONSE_BUDGET
    assert view["used_by_total"] == total > MAX_USERS_SHOWN == len(view["used_by"])
    assert view["active_flow_count"] > MAX_ACTIVE_FLOWS_SHOWN == len(view["active_flow_ids"])
    assert f"{total - MAX_USERS_SHOWN} of {total} users" in view["left_out"]
    assert f"list_resources with credential_id={credential_id}" in view["left_out"]
