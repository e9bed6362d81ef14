"""Credentials (fact sheet §10): CRUD without ever returning secrets, and the probe endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import builder, connectors, probes, views, writes
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.http import (
    Query,
    empty_response,
    json_response,
    paginate,
    path_id,
    read_object,
)
from nexla_mcp.sandbox.model import ACCESS_ROLES, Credential
from nexla_mcp.sandbox.routes_flows import actor_of
from nexla_mcp.sandbox.tasks import start_task, wrapped_task

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox


def _credential(sandbox: Sandbox, request: Request) -> Credential:
    credential = sandbox.store.credentials.get(path_id(request))
    if credential is None:
        raise ApiError(404)
    return credential


async def list_credentials(request: Request, sandbox: Sandbox) -> Response:
    query = Query(request)
    query.choice("access_role", ACCESS_ROLES)
    wanted_type = (query.text("credentials_type") or "").lower()
    validity = query.choice("validity", ("valid", "invalid"))
    name = (query.text("name") or "").lower()
    brief, expand = query.boolean("brief"), query.boolean("expand")
    found = []
    for credential in sandbox.store.credentials.values():
        if wanted_type and wanted_type not in (
            credential.credentials_type,
            connectors.connector(credential.credentials_type)["name"].lower(),
        ):
            continue
        if name and name not in credential.name.lower():
            continue
        valid = (credential.verified_status or "").startswith("200")
        if validity is not None and valid != (validity == "valid"):
            continue
        found.append(credential)
    found.sort(key=lambda item: (item.created_ms, item.id), reverse=True)
    page, headers = paginate(request, found)
    ctx = sandbox.ctx()
    render = (
        views.credential_brief
        if brief
        else views.credential_show
        if expand
        else views.credential_index
    )
    return json_response([render(ctx, credential) for credential in page], headers=headers)


async def get_credential(request: Request, sandbox: Sandbox) -> Response:
    Query(request).boolean("expand")
    return json_response(views.credential_show(sandbox.ctx(), _credential(sandbox, request)))


async def create_credential(request: Request, sandbox: Sandbox) -> Response:
    body = await read_object(request)
    name = writes.text_field(body, "name", required=True) or ""
    credentials_type = writes.text_field(body, "credentials_type", required=True) or ""
    if not connectors.is_known(credentials_type):
        raise bad_request("Invalid connector type")
    values = writes.dict_field(body, "credentials")
    if values is None:
        raise bad_request("credentials is required")
    description = writes.text_field(body, "description", max_len=2000)
    tags = writes.tags_field(body)
    secrets, visible = builder.split_secrets(values)
    now = sandbox.now_ms()
    credential = builder.add_credential(
        sandbox.store,
        name,
        credentials_type,
        visible,
        now,
        secrets=secrets,
        description=description,
    )
    credential.verified_status, credential.verified_ms = None, None
    credential.tags = tags or []
    actor = actor_of(request)
    sandbox.store.audit_event(
        "data_credentials",
        credential.id,
        "create",
        {"name": [None, name]},
        actor.user_id,
        now,
        user_agent=actor.user_agent,
    )
    return json_response(views.credential_show(sandbox.ctx(), credential))


async def update_credential(request: Request, sandbox: Sandbox) -> Response:
    credential = _credential(sandbox, request)
    body = await read_object(request)
    name = writes.text_field(body, "name")
    description = writes.text_field(body, "description", max_len=2000)
    values = writes.dict_field(body, "credentials")
    now, actor, store = sandbox.now_ms(), actor_of(request), sandbox.store
    changes: dict[str, list[object]] = {}
    if name is not None and name != credential.name:
        changes["name"], credential.name = [credential.name, name], name
    if description is not None and description != credential.description:
        changes["description"], credential.description = (
            [credential.description, description],
            description,
        )
    if values is not None:
        # The whole credentials object is replaced (no merge), and never echoed in the audit.
        credential.secrets, credential.non_secure = builder.split_secrets(values)
        changes["credentials"] = ["[FILTERED]", "[FILTERED]"]
        writes.resolve_credentials(store, credential.id, now)
    if changes:
        credential.updated_ms = now
        store.touch()
        store.audit_event(
            "data_credentials",
            credential.id,
            "update",
            changes,
            actor.user_id,
            now,
            user_agent=actor.user_agent,
        )
    return json_response(views.credential_show(sandbox.ctx(), credential))


async def delete_credential(request: Request, sandbox: Sandbox) -> Response:
    credential = _credential(sandbox, request)
    store = sandbox.store
    users = {
        "data_sources": [
            source.id for source in store.sources.values() if source.credential_id == credential.id
        ],
        "data_sinks": [
            sink.id for sink in store.sinks.values() if sink.credential_id == credential.id
        ],
        "data_sets": [],
        "gen_ai_configs": [],
        "catalog_configs": [],
        "code_containers": [],
    }
    if users["data_sources"] or users["data_sinks"]:
        raise ApiError(405, body={**users, "message": "Data credentials in use"})
    del store.credentials[credential.id]
    store.accessors.pop(("data_credentials", credential.id), None)
    store.touch()
    actor = actor_of(request)
    store.audit_event(
        "data_credentials",
        credential.id,
        "destroy",
        {},
        actor.user_id,
        sandbox.now_ms(),
        user_agent=actor.user_agent,
    )
    return empty_response()


def _async_probe(
    request: Request, sandbox: Sandbox, credential: Credential, action: str
) -> Response | None:
    query = Query(request)
    if query.has("request_id"):
        return json_response(wrapped_task(sandbox, query.integer("request_id", 0) or 0))
    if not query.boolean("async"):
        return None
    arguments = {"type": "DataCredentials", "id": credential.id, "action": action}
    if action == "read_sample":
        arguments["input"] = {}
    return json_response(
        wrapped_task(sandbox, start_task(sandbox, "CallProbe", arguments, priority=1).id)
    )


async def probe(request: Request, sandbox: Sandbox) -> Response:
    """`GET /data_credentials/{id}/probe` (and `/probe/authenticate`)."""
    credential = _credential(sandbox, request)
    deferred = _async_probe(request, sandbox, credential, "authenticate")
    if deferred is not None:
        return deferred
    status, body = probes.authenticate(credential)
    return json_response(body, status=status)


async def probe_tree(request: Request, sandbox: Sandbox) -> Response:
    credential = _credential(sandbox, request)
    body = await read_object(request)
    depth = body.get("depth")
    if type(depth) is not int or depth < 0:
        raise bad_request("depth is required and must be a non-negative integer")
    for key in ("path", "database", "table"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad_request(f"{key} must be a string")
    deferred = _async_probe(request, sandbox, credential, "authenticate")
    if deferred is not None:
        return deferred
    status, result = probes.tree(sandbox.store, credential, body)
    return json_response(result, status=status)


async def probe_sample(request: Request, sandbox: Sandbox) -> Response:
    credential = _credential(sandbox, request)
    body = await read_object(request, required=False)
    query = Query(request)
    query.integer("page")
    query.integer("per_page")
    deferred = _async_probe(request, sandbox, credential, "read_sample")
    if deferred is not None:
        return deferred
    status, result = probes.sample(sandbox.store, credential, body)
    return json_response(result, status=status)
