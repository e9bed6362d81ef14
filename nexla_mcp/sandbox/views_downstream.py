"""JSON views of nexsets and destinations (fact sheet §6.2, §8, §9).

`parent_data_set_id` appears only in the flow side-load element; show and list views carry
`parent_data_set_ids` / `parent_data_sets` instead (§19 #17).
"""

from __future__ import annotations

from nexla_mcp.sandbox import connectors
from nexla_mcp.sandbox.http import iso
from nexla_mcp.sandbox.model import DATA_SETS, SINKS, DataSet, Sink, Source
from nexla_mcp.sandbox.store import ORG
from nexla_mcp.sandbox.views import (
    ACCESS_ROLES,
    Ctx,
    View,
    common_fields,
    credential_show,
    org_full,
    org_index,
    owner,
)

# nexsets


def _parent_brief(ctx: Ctx, data_set: DataSet) -> list[View]:
    parent = ctx.store.data_sets.get(data_set.parent_id or -1)
    if parent is None:
        return []
    return [
        {
            "id": parent.id,
            "owner_id": parent.owner_id,
            "org_id": ORG["id"],
            "name": parent.name,
            "description": parent.description,
            "updated_at": iso(parent.updated_ms),
            "created_at": iso(parent.created_ms),
        }
    ]


def _child_sinks(ctx: Ctx, data_set: DataSet) -> list[Sink]:
    node = ctx.store.nodes[data_set.node_id]
    return [
        ctx.store.sinks[ctx.store.nodes[child].resource_id]
        for child in node.children
        if ctx.store.nodes[child].resource_type == SINKS
    ]


def _upstream_source(ctx: Ctx, data_set: DataSet) -> Source:
    return ctx.store.source_of(ctx.store.flow_of_node(data_set.node_id))


def data_set_element(ctx: Ctx, data_set: DataSet) -> View:
    return {
        "id": data_set.id,
        "owner_id": data_set.owner_id,
        "org_id": ORG["id"],
        "flow_node_id": data_set.node_id,
        "origin_node_id": ctx.store.nodes[data_set.node_id].origin_id,
        "name": data_set.name,
        "description": data_set.description,
        "status": data_set.status,
        "runtime_status": "IDLE",
        "data_source_id": data_set.data_source_id,
        "parent_data_set_id": data_set.parent_id,
        "data_credentials_id": None,
        "code_container_id": data_set.code_container_id,
        "data_sink_ids": [sink.id for sink in _child_sinks(ctx, data_set)],
        "public": False,
        "managed": False,
        "node_type": "data_set",
        **common_fields(data_set),
    }


def data_set_index(ctx: Ctx, data_set: DataSet) -> View:
    source = _upstream_source(ctx, data_set)
    flow = ctx.store.flow_of_node(data_set.node_id)
    view: View = {
        "id": data_set.id,
        "origin_node_id": flow.id,
        "flow_node_id": data_set.node_id,
        "owner": owner(ctx, data_set.owner_id, verified=False),
        "org": org_index(),
        "name": data_set.name,
        "description": data_set.description,
        "status": data_set.status,
        "data_credentials_id": None,
        "runtime_status": "IDLE",
        "public": False,
        "managed": False,
        "data_source_id": data_set.data_source_id,
        "parent_data_sets": _parent_brief(ctx, data_set),
        "data_sinks": [
            {
                "id": sink.id,
                "owner_id": sink.owner_id,
                "org_id": ORG["id"],
                "name": sink.name,
                "description": sink.description,
            }
            for sink in _child_sinks(ctx, data_set)
        ],
        "transform_id": data_set.code_container_id,
        "output_schema": data_set.output_schema,
        "source_config": dict(source.config),
        "connector_type": source.source_type,
        "connector": connectors.connector(source.source_type),
        "flow_type": flow.flow_type,
        **common_fields(data_set),
    }
    if data_set.data_source_id is not None:
        view["data_source"] = {
            "id": source.id,
            "owner_id": source.owner_id,
            "org_id": ORG["id"],
            "name": source.name,
            "description": source.description,
            "status": source.status,
            "runtime_status": "IDLE",
            "source_type": source.source_type,
            "connector": connectors.connector(source.source_type),
            "vendor_id": None,
        }
    return view


def data_set_show(ctx: Ctx, data_set: DataSet, *, expand: bool = False) -> View:
    source = _upstream_source(ctx, data_set)
    flow = ctx.store.flow_of_node(data_set.node_id)
    node = ctx.store.nodes[data_set.node_id]
    parents = _parent_brief(ctx, data_set)
    view: View = {
        "id": data_set.id,
        "origin_node_id": flow.id,
        "flow_node_id": data_set.node_id,
        "parent_node_id": node.parent_id,
        "owner": owner(ctx, data_set.owner_id),
        "org": org_full(),
        "version": data_set.version,
        "name": data_set.name,
        "description": data_set.description,
        "access_roles": list(ACCESS_ROLES),
        "status": data_set.status,
        "data_credentials_id": None,
        "sample_service_id": None,
        "source_path": None,
        "public": False,
        "managed": False,
        "data_source_id": data_set.data_source_id,
        "nexset_api_config": None,
        "api_keys": [],
        "parent_data_set_ids": [parent["id"] for parent in parents],
        "parent_data_sets": parents,
        "data_sinks": [
            {
                "id": sink.id,
                "owner_id": sink.owner_id,
                "org_id": ORG["id"],
                "name": sink.name,
                "status": sink.status,
                "sink_type": sink.sink_type,
            }
            for sink in _child_sinks(ctx, data_set)
        ],
        "sharers": [],
        "external_sharers": [],
        "has_custom_transform": data_set.code_container_id is not None,
        "source_config": dict(source.config),
        "connector_type": source.source_type,
        "connector": connectors.connector(source.source_type),
        "output_schema_validation_enabled": data_set.validation_enabled,
        "custom_config": None,
        "runtime_config": None,
        "flow_type": flow.flow_type,
        "runtime_status": "IDLE",
        "tags": list(data_set.tags),
        "copied_from_id": None,
        "created_at": iso(data_set.created_ms),
        "updated_at": iso(data_set.updated_ms),
    }
    if expand:
        container = ctx.store.code_containers.get(data_set.code_container_id or -1)
        view.update(
            {
                "transform_id": data_set.code_container_id,
                "transform": {"version": container.version, "code": container.code}
                if container
                else None,
                "output_schema": data_set.output_schema,
                "output_validation_schema": data_set.output_schema
                if data_set.validation_enabled
                else None,
                "child_data_sets": [
                    ctx.store.nodes[child].resource_id
                    for child in node.children
                    if ctx.store.nodes[child].resource_type == DATA_SETS
                ],
            }
        )
    return view


# destinations


def sink_element(ctx: Ctx, sink: Sink) -> View:
    return {
        "id": sink.id,
        "owner_id": sink.owner_id,
        "org_id": ORG["id"],
        "flow_node_id": sink.node_id,
        "origin_node_id": ctx.store.nodes[sink.node_id].origin_id,
        "name": sink.name,
        "description": sink.description,
        "status": sink.status,
        "runtime_status": "IDLE",
        "data_credentials_id": sink.credential_id,
        "data_credentials_group_id": None,
        "data_set_id": sink.data_set_id,
        "data_source_id": None,
        "managed": False,
        "ingestion_mode": None,
        "sink_type": sink.sink_type,
        "connector_type": sink.sink_type,
        "connection_type": sink.sink_type,
        "template_config": None,
        "sink_config": dict(sink.config),
        "vendor": None,
        "node_type": "data_sink",
        **common_fields(sink),
    }


def sink_index(ctx: Ctx, sink: Sink) -> View:
    flow = ctx.store.flow_of_node(sink.node_id)
    data_set = ctx.store.data_sets[sink.data_set_id]
    return {
        "id": sink.id,
        "origin_node_id": flow.id,
        "flow_node_id": sink.node_id,
        "name": sink.name,
        "description": sink.description,
        "status": sink.status,
        "runtime_status": "IDLE",
        "data_set_id": sink.data_set_id,
        "data_map_id": None,
        "data_source_id": None,
        "sink_format": sink.sink_format,
        "sink_schedule": None,
        "in_memory": False,
        "managed": False,
        "ingestion_mode": None,
        "sink_type": sink.sink_type,
        "connector_type": sink.sink_type,
        "connector": connectors.connector(sink.sink_type),
        "owner": owner(ctx, sink.owner_id, verified=False),
        "org": org_index(),
        "data_set": {
            "id": data_set.id,
            "owner_id": data_set.owner_id,
            "org_id": ORG["id"],
            "name": data_set.name,
            "description": data_set.description,
            "status": data_set.status,
            "copied_from_id": None,
            "created_at": iso(data_set.created_ms),
            "updated_at": iso(data_set.updated_ms),
        },
        "data_map": None,
        "flow_type": flow.flow_type,
        **common_fields(sink),
    }


def sink_show(ctx: Ctx, sink: Sink) -> View:
    node = ctx.store.nodes[sink.node_id]
    data_set = ctx.store.data_sets[sink.data_set_id]
    credential = ctx.store.credentials.get(sink.credential_id or -1)
    view = sink_index(ctx, sink)
    view.update(
        {
            "parent_node_id": node.parent_id,
            "owner": owner(ctx, sink.owner_id),
            "org": org_full(),
            "sink_config": dict(sink.config),
            "data_set": {"id": data_set.id, "name": data_set.name},
            "data_credentials": credential_show(ctx, credential) if credential else None,
            "data_credentials_group_id": None,
            "flow_triggers": [],
        }
    )
    return view
