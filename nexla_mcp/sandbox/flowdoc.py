"""The flow document (fact sheet §6.2): origin nodes with nested children plus side-loads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nexla_mcp.sandbox import history, views, views_downstream
from nexla_mcp.sandbox.http import iso
from nexla_mcp.sandbox.model import DATA_SETS, NODE_TYPE, SINKS, SOURCES, Flow, Node
from nexla_mcp.sandbox.profiles import outcome
from nexla_mcp.sandbox.store import ORG, USERS
from nexla_mcp.sandbox.views import Ctx, View

_ID_KEY = {SOURCES: "data_source_id", DATA_SETS: "data_set_id", SINKS: "data_sink_id"}
SIDE_LOADS = (
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
)


def _node(ctx: Ctx, node: Node, *, origin_only: bool) -> View:
    view: View = {
        "id": node.id,
        "parent_node_id": node.parent_id,
        "origin_node_id": node.origin_id,
        _ID_KEY[node.resource_type]: node.resource_id,
        "runtime_status": "IDLE",
        "node_type": NODE_TYPE[node.resource_type],
    }
    if node.parent_id is None:
        flow = ctx.store.flows[node.id]
        last = history.last_run(flow, ctx.now_ms)
        view.update(
            {
                "status": ctx.store.flow_status(flow),
                "project_id": None,
                "flow_type": flow.flow_type,
                "name": flow.name,
                "description": flow.description,
                "managed": False,
                "ingestion_mode": None,
                "last_run_id": last.run_id if last else None,
            }
        )
    if not origin_only:
        view["children"] = [
            _node(ctx, ctx.store.nodes[child], origin_only=False) for child in node.children
        ]
        view["flow_triggers"] = []
        if node.parent_id is None:
            view["linked_flows"] = []
    return view


def flow_document(
    ctx: Ctx,
    flows: Iterable[Flow],
    *,
    flows_only: bool = False,
    origin_only: bool = False,
    run_metrics: bool = False,
) -> View:
    flows = list(flows)
    document: View = {
        "flows": [_node(ctx, ctx.store.nodes[flow.id], origin_only=origin_only) for flow in flows],
        "triggered_flows": [],
        "triggering_flows": [],
        "linked_flows": [],
    }
    if not flows_only:
        document.update(_side_loads(ctx, flows))
    if run_metrics:
        document["status"] = 200
        document["metrics"] = [_latest_metrics(ctx, flow) for flow in flows]
    return document


def _side_loads(ctx: Ctx, flows: list[Flow]) -> View:
    store = ctx.store
    loads: dict[str, list[View]] = {name: [] for name in SIDE_LOADS}
    credential_ids: dict[int, None] = {}
    container_ids: dict[int, None] = {}
    for flow in flows:
        for node in store.subtree(flow.id):
            resource = store.node_resource(node)
            if node.resource_type == SOURCES:
                loads["data_sources"].append(views.source_element(ctx, resource))
            elif node.resource_type == DATA_SETS:
                loads["data_sets"].append(views_downstream.data_set_element(ctx, resource))
                if resource.code_container_id:
                    container_ids[resource.code_container_id] = None
            else:
                loads["data_sinks"].append(views_downstream.sink_element(ctx, resource))
            credential_id = getattr(resource, "credential_id", None)
            if credential_id is not None and credential_id in store.credentials:
                credential_ids[credential_id] = None
    loads["data_credentials"] = [
        views.credential_element(ctx, store.credentials[cid]) for cid in credential_ids
    ]
    loads["code_containers"] = [
        views.code_container_element(ctx, store.code_containers[cid])
        for cid in container_ids
        if cid in store.code_containers
    ]
    loads["orgs"] = [
        {
            "id": ORG["id"],
            "name": ORG["name"],
            "description": None,
            "email_domain": ORG["email_domain"],
            "email": None,
        }
    ]
    owners = {
        resource["owner_id"]
        for key in ("data_sources", "data_sets", "data_sinks")
        for resource in loads[key]
    }
    loads["users"] = [
        {"id": uid, "email": USERS[uid].email, "name": USERS[uid].full_name}
        for uid in sorted(owners)
        if uid in USERS
    ]
    return loads


def _latest_metrics(ctx: Ctx, flow: Flow) -> dict[str, Any]:
    run = history.last_run(flow, ctx.now_ms)
    if run is None:
        return {
            "origin_node_id": flow.id,
            "records": 0,
            "size": 0,
            "errors": 0,
            "reporting_date": iso(ctx.now_ms),
            "run_id": 0,
        }
    result = outcome(ctx.store, flow, run)
    source = ctx.store.source_of(flow)
    metric = result.metric_for(SOURCES, source.id)
    return {
        "origin_node_id": flow.id,
        "records": metric.records if metric else 0,
        "size": metric.size if metric else 0,
        "errors": result.errors,
        "reporting_date": iso(run.run_id),
        "run_id": run.run_id,
    }
