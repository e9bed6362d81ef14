"""Sources, nexsets and destinations (fact sheet §7–§9): list, get, create, update, delete,
resource-only activate/pause, and nexset samples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import connectors, history, lifecycle, views, views_downstream, writes
from nexla_mcp.sandbox.errors import ApiError
from nexla_mcp.sandbox.http import (
    Query,
    empty_response,
    json_response,
    paginate,
    path_id,
    read_object,
)
from nexla_mcp.sandbox.model import ACCESS_ROLES, ACTIVE, DATA_SETS, PAUSED, SINKS, SOURCES, DataSet
from nexla_mcp.sandbox.routes_flows import actor_of
from nexla_mcp.sandbox.samples import derive, domain, records

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

_SAMPLE_CACHE = 20


@dataclass(frozen=True)
class Kind:
    index: Callable[[views.Ctx, Any], dict[str, Any]]
    show: Callable[[views.Ctx, Any, bool], dict[str, Any]]
    type_field: str | None  # the connector-type attribute the list filter matches


KINDS: dict[str, Kind] = {
    SOURCES: Kind(
        views.source_index,
        lambda ctx, source, expand: views.source_show(ctx, source),
        "source_type",
    ),
    DATA_SETS: Kind(
        views_downstream.data_set_index,
        lambda ctx, data_set, expand: views_downstream.data_set_show(ctx, data_set, expand=expand),
        None,
    ),
    SINKS: Kind(
        views_downstream.sink_index,
        lambda ctx, sink, expand: views_downstream.sink_show(ctx, sink),
        "sink_type",
    ),
}


def _get(sandbox: Sandbox, request: Request, resource_type: str) -> Any:
    resource = sandbox.store.table(resource_type).get(path_id(request))
    if resource is None:
        raise ApiError(404)
    return resource


def _show(sandbox: Sandbox, request: Request, resource_type: str, resource: Any) -> Response:
    query = Query(request)
    expand = query.boolean("expand")
    view = KINDS[resource_type].show(sandbox.ctx(), resource, expand)
    if resource_type == DATA_SETS and query.boolean("include_samples"):
        view["data_samples"] = _samples(
            sandbox, resource, _SAMPLE_CACHE, live=False, with_metadata=True, output_only=True
        )
    return json_response(view)


def _filter(query: Query, resource_type: str) -> Callable[[Any], bool]:
    """The §3.3 list filters that matter here, parsed once into one predicate."""
    name = (query.text("name") or "").lower()
    status = (query.text("status") or "").lower()
    type_field = KINDS[resource_type].type_field
    wanted_types = query.text(type_field) or query.text("connector_type") if type_field else None
    types = {part.strip() for part in wanted_types.split(",")} if wanted_types else None
    wanted_id = query.integer("id")
    parent = query.integer("parent_data_set_id")
    source_id = query.integer("data_source_id")
    detected_only = query.boolean("source")
    data_set_id = query.integer("data_set_id")

    def keep(resource: Any) -> bool:
        checks = [
            not name or name in resource.name.lower(),
            not status or resource.status.lower() == status,
            types is None or getattr(resource, type_field or "") in types,
            wanted_id is None or resource.id == wanted_id,
        ]
        if resource_type == DATA_SETS:
            checks += [
                parent is None or resource.parent_id == parent,
                source_id is None or resource.data_source_id == source_id,
                not detected_only or resource.data_source_id is not None,
            ]
        if resource_type == SINKS:
            checks.append(data_set_id is None or resource.data_set_id == data_set_id)
        return all(checks)

    return keep


async def list_resources(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    query = Query(request)
    query.choice("access_role", ACCESS_ROLES)
    expand = query.boolean("expand")
    sort_by = query.choice("sort_by", ("created_at", "updated_at", "id", "name"), "created_at")
    descending = query.choice("sort_order", ("asc", "desc"), "desc") == "desc"
    keep = _filter(query, resource_type)
    found = [resource for resource in sandbox.store.table(resource_type).values() if keep(resource)]
    attribute = {"created_at": "created_ms", "updated_at": "updated_ms"}.get(
        sort_by or "", sort_by or "id"
    )
    found.sort(key=lambda item: (getattr(item, attribute), item.id), reverse=descending)
    page, headers = paginate(request, found)
    ctx, kind = sandbox.ctx(), KINDS[resource_type]
    rendered = [kind.show(ctx, item, True) if expand else kind.index(ctx, item) for item in page]
    return json_response(rendered, headers=headers)


async def get_resource(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    return _show(sandbox, request, resource_type, _get(sandbox, request, resource_type))


async def create_resource(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    body = await read_object(request)
    create = {
        SOURCES: writes.create_source,
        DATA_SETS: writes.create_data_set,
        SINKS: writes.create_sink,
    }
    resource = create[resource_type](sandbox.store, body, sandbox.now_ms(), actor_of(request))
    return _show(sandbox, request, resource_type, resource)


async def update_resource(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    resource = _get(sandbox, request, resource_type)
    body = await read_object(request)
    now, actor = sandbox.now_ms(), actor_of(request)
    if resource_type == SOURCES:
        query = Query(request)
        query.boolean("run_now")
        writes.update_source(
            sandbox.store, resource, body, now, actor, force=query.boolean("force")
        )
    elif resource_type == DATA_SETS:
        writes.update_data_set(sandbox.store, resource, body, now, actor)
    else:
        writes.update_sink(sandbox.store, resource, body, now, actor)
    return _show(sandbox, request, resource_type, resource)


async def delete_resource(request: Request, sandbox: Sandbox, resource_type: str) -> Response:
    resource = _get(sandbox, request, resource_type)
    lifecycle.delete_resource(
        sandbox.store, resource_type, resource.id, sandbox.now_ms(), actor_of(request)
    )
    return empty_response()


async def change_resource(
    request: Request, sandbox: Sandbox, resource_type: str, status: str
) -> Response:
    """`PUT /{rt}/{id}/activate|pause`: this resource only, answered with the resource (§19 #13)."""
    resource = _get(sandbox, request, resource_type)
    query = Query(request)
    for flag in ("all", "full_tree", "run_now"):
        query.boolean(flag)
    store, now, actor = sandbox.store, sandbox.now_ms(), actor_of(request)
    node = store.nodes[resource.node_id]
    if status == ACTIVE and query.boolean("force") and resource.status == ACTIVE:
        lifecycle.set_status(store, node, PAUSED, now, actor)
    lifecycle.set_status(store, node, status, now, actor)
    return _show(sandbox, request, resource_type, resource)


async def data_set_samples(request: Request, sandbox: Sandbox) -> Response:
    """`GET /data_sets/{id}/samples` in the shapes of fact sheet §8.4."""
    data_set = _get(sandbox, request, DATA_SETS)
    query = Query(request)
    count = query.integer("count", 0) or 0
    live, with_metadata = query.boolean("live"), query.boolean("include_metadata", True)
    output_only = query.boolean("output_only")
    if query.has("from"):
        query.epoch_ms("from")
    limit = _SAMPLE_CACHE if count <= 0 else min(count, _SAMPLE_CACHE)
    return json_response(
        _samples(
            sandbox,
            data_set,
            limit,
            live=live,
            with_metadata=with_metadata,
            output_only=output_only,
        )
    )


def _samples(
    sandbox: Sandbox,
    data_set: DataSet,
    limit: int,
    *,
    live: bool,
    with_metadata: bool,
    output_only: bool,
) -> list[Any]:
    store = sandbox.store
    flow = store.flow_of_node(data_set.node_id)
    run = history.last_run(flow, sandbox.now_ms())
    if run is None:
        return []
    source = store.source_of(flow)
    inputs = records(flow.domain, flow.seed + run.run_id // 86_400_000, limit)
    if run.profile == "schema_mismatch":
        field = domain(flow.domain).numeric_field
        for index, record in enumerate(inputs):
            if index % 2 == 0 and field in record:
                record[field] = str(record[field]).replace(".", ",")
    metadata = {
        "sourceType": source.source_type,
        "resourceType": "SOURCE",
        "resourceId": source.id,
        "runId": run.run_id,
        "ingestTime": run.run_id + 4000,
        "sourceKey": connectors.location(source.source_type, source.config),
    }
    derived = data_set.parent_id is not None
    outputs = [derive(record) for record in inputs] if derived else inputs
    if live:
        return [
            {"rawMessage": out, "nexlaMetaData": metadata} if with_metadata else out
            for out in outputs
        ]
    if derived and not output_only:
        return [
            {
                "input": {"rawMessage": raw, "nexlaMetaData": metadata},
                "output": {"rawMessage": out, "nexlaMetaData": metadata},
            }
            for raw, out in zip(inputs, outputs, strict=True)
        ]
    return [{"rawMessage": out, "nexlaMetaData": metadata} for out in outputs]
