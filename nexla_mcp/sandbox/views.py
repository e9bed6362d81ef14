"""JSON views of sources, credentials and transforms, shaped like the Rails jbuilder views.

Fact sheet §6.2, §7, §10 and §13; nexsets and destinations are in `views_downstream`.

Each resource has up to three shapes: the flow side-load element, the list (index) view and
the show view. Which keys appear where matters (§19 #16/#17): `data_credentials_id` and
`parent_data_set_id` are only in flow side-loads, show views nest `data_credentials`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexla_mcp.sandbox import connectors, history
from nexla_mcp.sandbox.http import iso
from nexla_mcp.sandbox.model import (
    CodeContainer,
    Credential,
    Source,
)
from nexla_mcp.sandbox.store import ORG, Store

View = dict[str, Any]
ACCESS_ROLES = ["owner"]


@dataclass(frozen=True)
class Ctx:
    store: Store
    now_ms: int


def owner(ctx: Ctx, user_id: int, *, verified: bool = True) -> View:
    user = ctx.store.user(user_id)
    view: View = {"id": user.id, "full_name": user.full_name, "email": user.email}
    if verified:
        view["email_verified_at"] = "2024-06-01T09:00:00.000Z"
    return view


def org_full() -> View:
    return {
        "id": ORG["id"],
        "name": ORG["name"],
        "cluster_id": 1,
        "new_cluster_id": None,
        "cluster_status": "ACTIVE",
        "status": "ACTIVE",
        "email_domain": ORG["email_domain"],
        "email": None,
        "client_identifier": None,
        "self_signup": False,
        "features_enabled": [],
        "org_tier": None,
    }


def org_index() -> View:
    return {
        "id": ORG["id"],
        "name": ORG["name"],
        "email_domain": ORG["email_domain"],
        "client_identifier": None,
        "cluster_id": 1,
        "new_cluster_id": None,
        "cluster_status": "ACTIVE",
    }


def common_fields(resource: Any) -> View:
    """Keys every resource view carries."""
    return {
        "access_roles": list(ACCESS_ROLES),
        "tags": list(resource.tags),
        "copied_from_id": None,
        "created_at": iso(resource.created_ms),
        "updated_at": iso(resource.updated_ms),
    }


def _last_run_id(ctx: Ctx, node_id: int) -> int | None:
    run = history.last_run(ctx.store.flow_of_node(node_id), ctx.now_ms)
    return run.run_id if run else None


def _run_ids(ctx: Ctx, source: Source) -> list[View]:
    recent = history.recent_runs(ctx.store.flow_of_node(source.node_id), ctx.now_ms, 5)
    return [{"id": run.run_id, "created_at": iso(run.run_id)} for run in reversed(recent)]


# sources


def source_element(ctx: Ctx, source: Source) -> View:
    return {
        "id": source.id,
        "owner_id": source.owner_id,
        "org_id": ORG["id"],
        "flow_node_id": source.node_id,
        "origin_node_id": source.node_id,
        "name": source.name,
        "description": source.description,
        "status": source.status,
        "runtime_status": "IDLE",
        "last_run_id": _last_run_id(ctx, source.node_id),
        "data_credentials_id": source.credential_id,
        "data_credentials_group_id": None,
        "data_sink_id": None,
        "auto_generated": False,
        "managed": False,
        "ingestion_mode": None,
        "adaptive_flow": False,
        "source_type": source.source_type,
        "connector_type": source.source_type,
        "connection_type": source.source_type,
        "template_config": None,
        "source_config": dict(source.config),
        "vendor": None,
        "node_type": "data_source",
        **common_fields(source),
    }


def _data_sets_brief(ctx: Ctx, source: Source) -> list[View]:
    node = ctx.store.nodes[source.node_id]
    briefs = []
    for child in node.children:
        data_set = ctx.store.data_sets[ctx.store.nodes[child].resource_id]
        briefs.append(
            {
                "version": data_set.version,
                "id": data_set.id,
                "owner_id": data_set.owner_id,
                "org_id": ORG["id"],
                "name": data_set.name,
                "description": data_set.description,
                "updated_at": iso(data_set.updated_ms),
                "created_at": iso(data_set.created_ms),
            }
        )
    return briefs


def source_index(ctx: Ctx, source: Source) -> View:
    flow = ctx.store.flow_of_node(source.node_id)
    return {
        "id": source.id,
        "origin_node_id": source.node_id,
        "flow_node_id": source.node_id,
        "name": source.name,
        "description": source.description,
        "status": source.status,
        "runtime_status": "IDLE",
        "ingest_method": source.ingest_method,
        "source_format": source.source_format,
        "managed": False,
        "code_container_id": None,
        "source_type": source.source_type,
        "connector_type": source.source_type,
        "connector": connectors.connector(source.source_type),
        "auto_generated": False,
        "owner": owner(ctx, source.owner_id, verified=False),
        "org": org_index(),
        "data_sets": _data_sets_brief(ctx, source),
        "run_ids": _run_ids(ctx, source),
        "flow_type": flow.flow_type,
        "ingestion_mode": None,
        **common_fields(source),
    }


def source_show(ctx: Ctx, source: Source) -> View:
    flow = ctx.store.flow_of_node(source.node_id)
    credential = ctx.store.credentials.get(source.credential_id or -1)
    view = source_index(ctx, source)
    view.update(
        {
            "parent_node_id": None,
            "owner": owner(ctx, source.owner_id),
            "org": org_full(),
            "source_config": dict(source.config),
            "poll_schedule": source.poll_schedule,
            "adaptive_flow": False,
            "api_keys": [],
            "data_credentials": credential_show(ctx, credential) if credential else None,
            "data_credentials_group_id": None,
            # vendor_endpoint/vendor/template_config appear only on templated connectors.
            "last_run_id": _last_run_id(ctx, source.node_id),
            "flow_triggers": [],
            "linked_flows": [],
            "flow_type": flow.flow_type,
        }
    )
    return view


# credentials


def credential_element(ctx: Ctx, credential: Credential) -> View:
    return {
        "id": credential.id,
        "owner_id": credential.owner_id,
        "org_id": ORG["id"],
        "name": credential.name,
        "description": credential.description,
        "credentials_type": credential.credentials_type,
        "verified_status": credential.verified_status,
        "managed": False,
        "template_config": None,
        "vendor": None,
        **common_fields(credential),
    }


def credential_index(ctx: Ctx, credential: Credential) -> View:
    return {
        "id": credential.id,
        "name": credential.name,
        "description": credential.description,
        "owner": owner(ctx, credential.owner_id, verified=False),
        "org": org_index(),
        "credentials_version": "1",
        "credentials_type": credential.credentials_type,
        "connector": connectors.connector(credential.credentials_type),
        "verified_status": credential.verified_status,
        "verified_at": iso(credential.verified_ms),
        **common_fields(credential),
    }


def credential_show(ctx: Ctx, credential: Credential) -> View:
    view = credential_index(ctx, credential)
    view.update(
        {
            "owner": owner(ctx, credential.owner_id),
            "org": org_full(),
            "managed": False,
            "api_keys": [],
            "credentials_non_secure_data": dict(credential.non_secure),
        }
    )
    return view


def credential_brief(ctx: Ctx, credential: Credential) -> View:
    return {
        "id": credential.id,
        "owner_id": credential.owner_id,
        "org_id": ORG["id"],
        "name": credential.name,
        "description": credential.description,
        "credentials_type": credential.credentials_type,
        "connector_type": credential.credentials_type,
        "api_key_id": None,
        "verified_status": credential.verified_status,
        "created_at": iso(credential.created_ms),
        "updated_at": iso(credential.updated_ms),
    }


# code containers (transforms)


def code_container_element(ctx: Ctx, container: CodeContainer) -> View:
    return {
        "id": container.id,
        "owner_id": container.owner_id,
        "org_id": ORG["id"],
        "name": container.name,
        "description": container.description,
        "data_credentials_id": None,
        "public": False,
        "managed": False,
        "reusable": container.reusable,
        "resource_type": "transform",
        "output_type": container.output_type,
        "code_type": container.code_type,
        "code_encoding": container.code_encoding,
        **common_fields(container),
    }


def code_container_show(ctx: Ctx, container: CodeContainer) -> View:
    users = [
        data_set.id
        for data_set in ctx.store.data_sets.values()
        if data_set.code_container_id == container.id
    ]
    return {
        "id": container.id,
        "name": container.name,
        "resource_type": "transform",
        "reusable": container.reusable,
        "public": False,
        "ai_function_type": None,
        "owner": owner(ctx, container.owner_id),
        "org": org_full(),
        "data_credentials": None,
        "runtime_data_credentials": None,
        "description": container.description,
        "code_type": container.code_type,
        "output_type": container.output_type,
        "code_config": {},
        "code_encoding": container.code_encoding,
        "repo_config": None,
        "code": container.code,
        "custom_config": {},
        "managed": False,
        "data_sets": users,
        **common_fields(container),
    }
