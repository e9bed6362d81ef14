"""Flow endpoints (fact sheet §6): list, get, activate/pause, delete, run status."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import history, lifecycle
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.flowdoc import flow_document
from nexla_mcp.sandbox.http import Query, empty_response, iso, json_response, paginate, path_id
from nexla_mcp.sandbox.model import ACCESS_ROLES, ACTIVE, PAUSED, SINKS, Flow, Node
from nexla_mcp.sandbox.profiles import outcome
from nexla_mcp.sandbox.store import Store
from nexla_mcp.sandbox.tasks import start_task, wrapped_task

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

_SORT_KEYS = ("id", "created_at", "updated_at", "name", "run_id", "last_run_id")


def actor_of(request: Request) -> lifecycle.Actor:
    agent = request.headers.get("user-agent", "unknown")[:80]
    return lifecycle.Actor(user_agent=agent)


def flow_node(store: Store, request: Request) -> Node:
    node = store.nodes.get(path_id(request))
    if node is None:
        raise ApiError(404)
    return node


def resource_node(store: Store, request: Request, resource_type: str) -> Node:
    resource = store.table(resource_type).get(path_id(request))
    if resource is None:
        raise ApiError(404)
    return store.nodes[resource.node_id]


def _document_options(query: Query) -> dict[str, bool]:
    query.choice("access_role", ACCESS_ROLES)
    return {
        "flows_only": query.boolean("flows_only"),
        "origin_only": query.boolean("origin_only"),
        "run_metrics": query.boolean("include_run_metrics"),
    }


async def list_flows(request: Request, sandbox: Sandbox) -> Response:
    query = Query(request)
    options = _document_options(query)
    if query.has("org_id"):
        raise ApiError(405, "Only super users may list flows of another org")
    ctx, store = sandbox.ctx(), sandbox.store
    name = (query.text("name") or "").lower()
    status = (query.text("status") or "").lower()
    flow_type = (query.text("flow_type") or "").lower()
    sort_by = query.choice("sort_by", _SORT_KEYS, "run_id" if options["run_metrics"] else "id")
    descending = query.choice("sort_order", ("asc", "desc"), "desc") == "desc"
    flows: list[Flow] = []
    for flow in store.flows.values():
        if (
            name
            and name not in flow.name.lower()
            and name not in store.source_of(flow).name.lower()
        ):
            continue
        if status and store.flow_status(flow).lower() != status:
            continue
        if flow_type and flow.flow_type != flow_type:
            continue
        flows.append(flow)
    if options["run_metrics"]:
        flows = [flow for flow in flows if history.last_run(flow, ctx.now_ms) is not None]
    flows.sort(key=_sort_key(ctx.now_ms, sort_by), reverse=descending)
    page, headers = paginate(
        request, flows, default_per_page=20 if options["run_metrics"] else None
    )
    return json_response(flow_document(ctx, page, **options), headers=headers)


def _sort_key(now_ms: int, sort_by: str) -> Callable[[Flow], Any]:
    if sort_by in ("run_id", "last_run_id"):

        def by_run(flow: Flow) -> tuple[int, int]:
            run = history.last_run(flow, now_ms)
            return (run.run_id if run else 0, flow.id)

        return by_run
    if sort_by == "name":
        return lambda flow: (flow.name.lower(), flow.id)
    if sort_by == "created_at":
        return lambda flow: (flow.created_ms, flow.id)
    if sort_by == "updated_at":
        return lambda flow: (flow.updated_ms, flow.id)
    return lambda flow: flow.id


def _render_one(request: Request, sandbox: Sandbox, node: Node) -> Response:
    options = _document_options(Query(request))
    flow = sandbox.store.flow_of_node(node.id)
    return json_response(flow_document(sandbox.ctx(), [flow], **options))


async def get_flow(request: Request, sandbox: Sandbox) -> Response:
    return _render_one(request, sandbox, flow_node(sandbox.store, request))


async def get_flow_by_resource(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    return _render_one(request, sandbox, resource_node(sandbox.store, request, resource_type))


def _change(request: Request, sandbox: Sandbox, node: Node, status: str) -> Response:
    query = Query(request)
    whole = query.boolean("all") or query.boolean("full_tree")
    query.boolean("run_now")
    if status == PAUSED and query.has("request_id"):
        return json_response(wrapped_task(sandbox, query.integer("request_id", 0) or 0))
    run_async = status == PAUSED and query.boolean("async")
    if run_async and not whole:
        raise bad_request("async pause requires all=1 or full_tree=1")
    lifecycle.cascade(
        sandbox.store, node.id, status, sandbox.now_ms(), actor_of(request), from_origin=whole
    )
    if run_async:
        task = start_task(sandbox, "BulkPauseFlows", {"id": node.id}, priority=1)
        return json_response(wrapped_task(sandbox, task.id))
    return json_response(flow_document(sandbox.ctx(), [sandbox.store.flow_of_node(node.id)]))


async def activate_flow(request: Request, sandbox: Sandbox) -> Response:
    return _change(request, sandbox, flow_node(sandbox.store, request), ACTIVE)


async def pause_flow(request: Request, sandbox: Sandbox) -> Response:
    return _change(request, sandbox, flow_node(sandbox.store, request), PAUSED)


async def change_flow_by_resource(
    request: Request, sandbox: Sandbox, resource_type: str, status: str
) -> Response:
    return _change(request, sandbox, resource_node(sandbox.store, request, resource_type), status)


def _delete(request: Request, sandbox: Sandbox, node: Node) -> Response:
    query = Query(request)
    top = (
        sandbox.store.nodes[node.origin_id]
        if query.boolean("all") or query.boolean("full_tree")
        else node
    )
    lifecycle.delete_scope(sandbox.store, top, sandbox.now_ms(), actor_of(request))
    return empty_response()


async def delete_flow(request: Request, sandbox: Sandbox) -> Response:
    return _delete(request, sandbox, flow_node(sandbox.store, request))


async def delete_flow_by_resource(
    request: Request, sandbox: Sandbox, resource_type: str
) -> Response:
    return _delete(request, sandbox, resource_node(sandbox.store, request, resource_type))


async def run_status(request: Request, sandbox: Sandbox) -> Response:
    """Per-sink status of one run (the entry shape is the simulator's own, §6.10)."""
    store, now = sandbox.store, sandbox.now_ms()
    flow = store.flow_of_node(flow_node(store, request).id)
    sinks = [
        store.sinks[node.resource_id]
        for node in store.subtree(flow.id)
        if node.resource_type == SINKS
    ]
    raw = request.path_params["run_id"]
    if raw == "latest":
        run = history.last_run(flow, now)
        if run is None:
            label = f"data sink {sinks[0].id}" if sinks else f"flow {flow.id}"
            raise ApiError(404, f"No runs found for {label}")
    elif raw.isdigit() and len(raw) <= 16:
        run = history.find_run(flow, int(raw), now)
        if run is None:
            raise ApiError(404, f"Run not found for: {raw}")
    else:
        raise bad_request("run_id must be an integer or 'latest'")
    result = outcome(store, flow, run)
    first_error = next((line.text for line in result.logs if line.severity == "ERROR"), None)
    entries = []
    for sink in sinks:
        metric = result.metric_for(SINKS, sink.id)
        written, errors = (metric.records, metric.errors) if metric else (0, 0)
        state = (
            "COMPLETED"
            if metric and not result.errors
            else ("COMPLETED_WITH_ERRORS" if written else "FAILED")
        )
        output = {
            "sink_id": sink.id,
            "run_id": run.run_id,
            "state": state,
            "records_written": written,
            "errors": errors,
            "started_at": iso(run.run_id),
            "finished_at": iso(result.finished_ms),
        }
        if state != "COMPLETED" and first_error:
            output["error"] = first_error
        entries.append({"status": "ok", "output": output})
    return json_response(entries)
