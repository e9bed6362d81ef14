"""Flow endpoints: the flow document, pagination headers, cascades, deletion, run status (§6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import START, FakeClock, scenario

pytestmark = pytest.mark.anyio

SIDE_LOADS = {
    "code_containers",
    "data_sources",
    "data_sets",
    "data_sinks",
    "data_credentials",
    "data_credentials_groups",
    "dependent_flow_nodes",
    "origin_data_sink_flow_nodes",
    "shared_data_sets",
    "orgs",
    "users",
    "projects",
}
RESOURCE_KEYS = {"data_source_id", "data_set_id", "data_sink_id"}


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(found for child in node.get("children", []) for found in walk(child))]


def statuses(document: dict[str, Any]) -> dict[tuple[str, int], str]:
    return {
        (kind, item["id"]): item["status"]
        for kind in ("data_sources", "data_sets", "data_sinks")
        for item in document[kind]
    }


async def test_list_flows_returns_one_document_with_side_loads_and_a_total(
    api: httpx.AsyncClient,
) -> None:
    """GET /flows is one object: origin nodes, every side-loaded array, and X-Total-Count."""
    reply = await api.get("/flows")
    body = reply.json()
    assert reply.status_code == 200
    assert SIDE_LOADS <= set(body) and {
        "triggered_flows",
        "triggering_flows",
        "linked_flows",
    } <= set(body)
    assert int(reply.headers["X-Total-Count"]) == len(body["flows"]) >= 15
    assert "X-Current-Page" not in reply.headers


async def test_flows_only_leaves_out_the_side_loads(api: httpx.AsyncClient) -> None:
    """flows_only=1 renders just the tree."""
    body = (await api.get("/flows", params={"flows_only": 1})).json()
    assert not SIDE_LOADS & set(body)
    assert body["flows"]


async def test_paginated_list_sends_the_paging_headers_and_link(api: httpx.AsyncClient) -> None:
    """page/per_page add X-Current-Page, X-Page-Count (items here), X-Total-Page-Count and Link."""
    first = await api.get("/flows", params={"page": 1, "per_page": 4, "flows_only": 1})
    total = int(first.headers["X-Total-Count"])
    assert len(first.json()["flows"]) == 4
    assert first.headers["X-Current-Page"] == "1" and first.headers["X-Page-Count"] == "4"
    assert first.headers["X-Total-Page-Count"] == str(-(-total // 4))
    assert 'rel="Next"' in first.headers["Link"] and "Previous" not in first.headers["Link"]
    second = await api.get("/flows", params={"page": 2, "per_page": 4, "flows_only": 1})
    assert 'rel="Previous"' in second.headers["Link"]
    ids = {flow["id"] for flow in first.json()["flows"]} | {
        flow["id"] for flow in second.json()["flows"]
    }
    assert len(ids) == 8
    past_end = await api.get("/flows", params={"page": 99, "per_page": 4, "flows_only": 1})
    assert past_end.json()["flows"] == [] and "Link" in past_end.headers


async def test_flows_are_ordered_by_id_descending_by_default(api: httpx.AsyncClient) -> None:
    """The default rendering order is id desc; sort_order=asc reverses it."""
    ids = [flow["id"] for flow in (await api.get("/flows?flows_only=1")).json()["flows"]]
    assert ids == sorted(ids, reverse=True)
    ascending = (await api.get("/flows?flows_only=1&sort_order=asc")).json()["flows"]
    assert [flow["id"] for flow in ascending] == sorted(ids)


async def test_flows_can_be_filtered_by_name_and_status(api: httpx.AsyncClient) -> None:
    """name is a case-insensitive substring; status is an exact (case-insensitive) match."""
    named = (await api.get("/flows", params={"name": "snowflake", "flows_only": 1})).json()["flows"]
    assert named and all("snowflake" in flow["name"].lower() for flow in named)
    paused = (await api.get("/flows", params={"status": "paused", "flows_only": 1})).json()["flows"]
    assert paused and all(flow["status"] == "PAUSED" for flow in paused)


async def test_nodes_carry_exactly_one_resource_key_and_only_origins_carry_status(
    api: httpx.AsyncClient,
) -> None:
    """Each node names one resource; child nodes have no status (§6.2)."""
    for origin in (await api.get("/flows?flows_only=1")).json()["flows"]:
        assert origin["parent_node_id"] is None and origin["id"] == origin["origin_node_id"]
        assert {"status", "name", "flow_type", "last_run_id"} <= set(origin)
        for node in walk(origin):
            assert len(RESOURCE_KEYS & set(node)) == 1
            assert node["origin_node_id"] == origin["id"]
            if node is not origin:
                assert "status" not in node


async def test_side_loads_carry_credential_and_parent_ids_that_show_views_do_not(
    api: httpx.AsyncClient,
) -> None:
    """§19 #16/#17: flow side-loads have data_credentials_id/parent_data_set_id; show views nest."""
    row = await scenario(api, "healthy")
    document = (await api.get(f"/flows/{row['flow_id']}")).json()
    source = document["data_sources"][0]
    assert source["data_credentials_id"] == row["data_credentials_id"]
    derived = [item for item in document["data_sets"] if item["parent_data_set_id"] is not None]
    assert derived
    shown = (await api.get(f"/data_sources/{source['id']}")).json()
    assert (
        "data_credentials_id" not in shown
        and shown["data_credentials"]["id"] == row["data_credentials_id"]
    )
    shown_set = (await api.get(f"/data_sets/{derived[0]['id']}")).json()
    assert "parent_data_set_id" not in shown_set
    assert shown_set["parent_data_set_ids"] == [derived[0]["parent_data_set_id"]]


async def test_any_node_id_renders_the_whole_flow_from_its_origin(api: httpx.AsyncClient) -> None:
    """GET /flows/{child node id} and GET /{rt}/{id}/flow all return the same origin."""
    row = await scenario(api, "healthy")
    whole = (await api.get(f"/flows/{row['flow_id']}?flows_only=1")).json()["flows"]
    for node in walk(whole[0]):
        by_node = (await api.get(f"/flows/{node['id']}?flows_only=1")).json()["flows"]
        assert by_node == whole
    for rt, ids in (
        ("data_sources", [row["data_source_id"]]),
        ("data_sets", row["data_set_ids"]),
        ("data_sinks", row["data_sink_ids"]),
    ):
        for resource_id in ids:
            by_resource = (await api.get(f"/{rt}/{resource_id}/flow?flows_only=1")).json()["flows"]
            assert by_resource == whole


async def test_unknown_flow_and_resource_ids_are_empty_404s(api: httpx.AsyncClient) -> None:
    """Unknown or non-numeric ids answer 404 with no body."""
    for path in ("/flows/123456789", "/flows/abc", "/data_sinks/42/flow", "/flows/-3"):
        reply = await api.get(path)
        assert (reply.status_code, reply.content) == (404, b""), path


async def test_pausing_a_node_pauses_it_and_everything_downstream_only(
    api: httpx.AsyncClient,
) -> None:
    """Pausing a nexset node pauses it and its sinks and leaves the source active."""
    row = await scenario(api, "healthy")
    document = (await api.get(f"/flows/{row['flow_id']}")).json()
    detected_node = document["flows"][0]["children"][0]
    reply = await api.put(f"/flows/{detected_node['id']}/pause")
    after = statuses(reply.json())
    assert after[("data_sources", row["data_source_id"])] == "ACTIVE"
    assert all(after[("data_sets", data_set)] == "PAUSED" for data_set in row["data_set_ids"])
    assert all(after[("data_sinks", sink)] == "PAUSED" for sink in row["data_sink_ids"])
    assert reply.json()["flows"][0]["status"] == "ACTIVE"


async def test_all_1_pauses_the_whole_flow_from_any_node(api: httpx.AsyncClient) -> None:
    """all=1 starts the cascade at the origin; the origin node's status mirrors the source."""
    row = await scenario(api, "healthy")
    sink_id = row["data_sink_ids"][0]
    reply = await api.put(f"/data_sinks/{sink_id}/flow/pause", params={"all": 1})
    assert set(statuses(reply.json()).values()) == {"PAUSED"}
    assert reply.json()["flows"][0]["status"] == "PAUSED"


async def test_activating_the_source_creates_a_run_now(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Activation of a flow's source starts a run whose id is the activation time in ms."""
    row = await scenario(api, "paused")
    before = (await api.get(f"/flows/{row['flow_id']}?flows_only=1")).json()["flows"][0]
    clock.advance(5)
    reply = await api.put(f"/flows/{row['flow_id']}/activate")
    origin = reply.json()["flows"][0]
    assert origin["status"] == "ACTIVE"
    assert origin["last_run_id"] == int((START + 5) * 1000) != before["last_run_id"]
    source = (await api.get(f"/data_sources/{row['data_source_id']}")).json()
    assert source["run_ids"][0]["id"] == origin["last_run_id"]


async def test_resource_only_activate_and_pause_return_the_resource_without_cascading(
    api: httpx.AsyncClient,
) -> None:
    """PUT /{rt}/{id}/pause changes only that resource and answers with it (§19 #13)."""
    row = await scenario(api, "healthy")
    reply = await api.put(f"/data_sources/{row['data_source_id']}/pause")
    assert reply.status_code == 200
    assert reply.json()["id"] == row["data_source_id"] and reply.json()["status"] == "PAUSED"
    assert "flows" not in reply.json()
    document = (await api.get(f"/flows/{row['flow_id']}")).json()
    assert all(item["status"] == "ACTIVE" for item in document["data_sinks"])
    again = await api.put(f"/data_sources/{row['data_source_id']}/activate")
    assert again.json()["status"] == "ACTIVE"


async def test_deleting_a_flow_with_active_resources_is_refused_with_their_ids(
    api: httpx.AsyncClient,
) -> None:
    """DELETE /flows/{id} with ACTIVE resources in scope is a 405 listing them per type."""
    row = await scenario(api, "healthy")
    reply = await api.delete(f"/flows/{row['flow_id']}")
    body = reply.json()
    assert reply.status_code == 405
    assert body["message"] == "Active flow resources must be paused before flow deletion!"
    assert body["data_sources"] == [row["data_source_id"]]
    assert sorted(body["data_sets"]) == sorted(row["data_set_ids"])
    assert body["data_sinks"] == row["data_sink_ids"]
    assert (await api.get(f"/flows/{row['flow_id']}")).status_code == 200


async def test_a_paused_flow_can_be_deleted_and_then_is_gone(api: httpx.AsyncClient) -> None:
    """After pausing everything, DELETE answers 200 with an empty body and the resources vanish."""
    row = await scenario(api, "paused")
    reply = await api.delete(f"/data_sources/{row['data_source_id']}/flow")
    assert (reply.status_code, reply.content) == (200, b"")
    assert (await api.get(f"/flows/{row['flow_id']}")).status_code == 404
    assert (await api.get(f"/data_sinks/{row['data_sink_ids'][0]}")).status_code == 404


async def test_run_status_reports_each_sink_for_latest_and_specific_runs(
    api: httpx.AsyncClient,
) -> None:
    """GET /flows/{id}/run_status/latest lists one entry per sink; unknown runs are 404."""
    row = await scenario(api, "healthy")
    latest = (await api.get(f"/flows/{row['flow_id']}/run_status/latest")).json()
    assert [entry["output"]["sink_id"] for entry in latest] == row["data_sink_ids"]
    assert latest[0]["output"]["state"] == "COMPLETED"
    run_id = latest[0]["output"]["run_id"]
    same = (await api.get(f"/flows/{row['flow_id']}/run_status/{run_id}")).json()
    assert same == latest
    missing = await api.get(f"/flows/{row['flow_id']}/run_status/12345")
    assert missing.status_code == 404 and "Run not found" in missing.json()["message"]
    assert (await api.get(f"/flows/{row['flow_id']}/run_status/soon")).status_code == 400


async def test_include_run_metrics_adds_status_and_latest_run_numbers(
    api: httpx.AsyncClient,
) -> None:
    """include_run_metrics=1 lists only flows that ran, with their latest run's numbers."""
    body = (await api.get("/flows", params={"include_run_metrics": 1, "flows_only": 1})).json()
    assert body["status"] == 200
    assert len(body["metrics"]) == len(body["flows"])
    assert all(flow["last_run_id"] for flow in body["flows"])
    assert {metric["origin_node_id"] for metric in body["metrics"]} == {
        flow["id"] for flow in body["flows"]
    }


async def test_async_pause_returns_a_wrapped_task_that_completes_on_the_clock(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """pause?all=1&async=1 answers a wrapped task; polling with request_id tracks it."""
    row = await scenario(api, "healthy")
    wrapped = (
        await api.put(f"/flows/{row['flow_id']}/pause", params={"all": 1, "async": 1})
    ).json()
    assert wrapped["status"] == "pending" and wrapped["request_id"]
    clock.advance(10)
    polled = await api.put(
        f"/flows/{row['flow_id']}/pause", params={"request_id": wrapped["request_id"]}
    )
    assert polled.json()["status"] == "completed" and "response" in polled.json()
    document = (await api.get(f"/flows/{row['flow_id']}")).json()
    assert set(statuses(document).values()) == {"PAUSED"}
