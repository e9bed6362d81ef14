"""Accessors (fact sheet §15) and audit logs (§16) for any resource collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.http import (
    Query,
    day_start_ms,
    iso,
    json_response,
    paginate,
    path_id,
    read_json,
)
from nexla_mcp.sandbox.model import ACCESS_ROLES, AuditEntry, Team
from nexla_mcp.sandbox.store import OPS_USER, ORG, USERS, Store

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

_ITEM_TYPES = {
    "data_sources": "DataSource",
    "data_sets": "DataSet",
    "data_sinks": "DataSink",
    "data_credentials": "DataCredentials",
    "code_containers": "CodeContainer",
}
# The fact sheet (§15) and the reference brief both grant "owner" through accessors.
_GRANTABLE = tuple(ACCESS_ROLES)


def _target(store: Store, request: Request, collection: str) -> tuple[str, int, int]:
    """(collection key, id, created_ms) of the resource the request names; 404 if unknown."""
    resource_id = path_id(request)
    if collection == "flows":
        node = store.nodes.get(resource_id)
        if node is None:
            raise ApiError(404)
        return "flows", node.origin_id, store.flows[node.origin_id].created_ms
    key = "code_containers" if collection == "transforms" else collection
    resource = store.table(key).get(resource_id)
    if resource is None:
        raise ApiError(404)
    return key, resource_id, resource.created_ms


def _owner_entry(created_ms: int) -> dict[str, Any]:
    return {
        "type": "USER",
        "id": OPS_USER.id,
        "email": OPS_USER.email,
        "accessor_org_id": ORG["id"],
        "access_roles": ["owner"],
        "created_at": iso(created_ms),
        "updated_at": iso(created_ms),
    }


def _resolve(item: Any, teams: dict[int, Team], now_ms: int) -> dict[str, Any]:
    """Validate one requested accessor and turn it into its stored form."""
    if not isinstance(item, dict):
        raise bad_request("Each accessor must be an object")
    kind = item.get("type")
    roles = item.get("access_roles", [])
    if not isinstance(roles, list) or not all(role in _GRANTABLE for role in roles):
        raise bad_request(f"access_roles must be a list of: {', '.join(_GRANTABLE)}")
    stamp = {
        "accessor_org_id": ORG["id"],
        "access_roles": roles,
        "created_at": iso(now_ms),
        "updated_at": iso(now_ms),
    }
    if kind == "USER":
        user = USERS.get(item["id"]) if type(item.get("id")) is int else None
        if user is None and isinstance(item.get("email"), str):
            user = next(
                (known for known in USERS.values() if known.email == item["email"].lower()), None
            )
        if user is None:
            raise bad_request("USER accessor needs the id or email of a user of this org")
        return {"type": "USER", "id": user.id, "email": user.email, **stamp}
    if kind == "TEAM":
        team = teams.get(item["id"]) if type(item.get("id")) is int else None
        if team is None and isinstance(item.get("name"), str):
            team = next((known for known in teams.values() if known.name == item["name"]), None)
        if team is None:
            raise bad_request("TEAM accessor needs the id (or name) of a team of this org")
        return {"type": "TEAM", "id": team.id, "name": team.name, **stamp}
    if kind == "ORG":
        if item.get("id", ORG["id"]) != ORG["id"]:
            raise bad_request("ORG accessor must name this org")
        return {
            "type": "ORG",
            "id": ORG["id"],
            "email_domain": ORG["email_domain"],
            "client_identifier": None,
            **stamp,
        }
    raise bad_request("Accessor type must be USER, TEAM or ORG")


async def _requested(
    request: Request, teams: dict[int, Team], now_ms: int, *, required: bool
) -> list[dict[str, Any]] | None:
    body = await read_json(request, required=required)
    if body is None:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("accessors"), list):
        raise bad_request('Body must be {"accessors": [...]}')
    resolved = [_resolve(item, teams, now_ms) for item in body["accessors"]]
    if required and not all(entry["access_roles"] for entry in resolved):
        raise bad_request("Each accessor needs at least one access role")
    return resolved


async def accessors(request: Request, sandbox: Sandbox, collection: str) -> Response:
    """GET lists; PUT adds or merges; POST replaces all; DELETE removes some (all if no body)."""
    store, now = sandbox.store, sandbox.now_ms()
    key, resource_id, created_ms = _target(store, request, collection)
    current = list(store.accessors.get((key, resource_id), [_owner_entry(created_ms)]))
    if request.method == "GET":
        return json_response(current)
    requested = await _requested(request, store.teams, now, required=request.method != "DELETE")
    owner, others = current[0], current[1:]
    # The owner's own entry is implicit and cannot be changed or removed through accessors.
    requested = [
        entry for entry in requested or [] if (entry["type"], entry["id"]) != ("USER", owner["id"])
    ]
    named = {(entry["type"], entry["id"]) for entry in requested}
    if request.method == "POST":
        others = requested
    elif request.method == "PUT":
        others = [
            entry for entry in others if (entry["type"], entry["id"]) not in named
        ] + requested
    elif named:
        others = [entry for entry in others if (entry["type"], entry["id"]) not in named]
    else:
        others = []
    current = [owner, *others]
    store.accessors[(key, resource_id)] = current
    store.touch()
    return json_response(current)


def _entry_view(store: Store, collection: str, entry: AuditEntry) -> dict[str, Any]:
    user = store.user(entry.user_id)
    return {
        "id": entry.id,
        "item_type": _ITEM_TYPES.get(collection, collection),
        "item_id": entry.item_id,
        "event": entry.event,
        "change_summary": sorted(entry.object_changes),
        "object_changes": entry.object_changes,
        "request_ip": entry.request_ip,
        "request_user_agent": entry.user_agent,
        "request_url": f"/{collection}/{entry.item_id}",
        "user": {"id": user.id, "email": user.email, "full_name": user.full_name},
        "org_id": ORG["id"],
        "owner_id": OPS_USER.id,
        "owner_email": OPS_USER.email,
        "created_at": iso(entry.created_ms),
        "association_resource": None,
        "impersonator_id": None,
    }


def _entries_for(
    store: Store, collection: str, resource_id: int, created_ms: int
) -> list[AuditEntry]:
    """Stored entries plus the implicit creation entry of resources the seed created."""
    stored = store.audit.get((collection, resource_id), [])
    if any(entry.event == "create" for entry in stored):
        return list(stored)
    created = AuditEntry(
        10_000_000 * (1 + list(_ITEM_TYPES).index(collection)) + resource_id,
        collection,
        resource_id,
        "create",
        {"id": [None, resource_id]},
        OPS_USER.id,
        created_ms,
    )
    return [created, *stored]


async def audit_log(request: Request, sandbox: Sandbox, collection: str) -> Response:
    """`GET /{collection}/{id}/audit_log`, newest first; a flow's log covers all its resources."""
    store = sandbox.store
    key, resource_id, created_ms = _target(store, request, collection)
    query = Query(request)
    start, end = query.day("from"), query.day("to")
    event_filter, change_filter = query.text("event_filter"), query.text("change_filter")
    if key == "flows":
        entries = [
            entry
            for node in store.subtree(resource_id)
            for entry in _entries_for(
                store, node.resource_type, node.resource_id, store.node_resource(node).created_ms
            )
        ]
    else:
        entries = _entries_for(store, key, resource_id, created_ms)
    since = day_start_ms(start) if start else None
    until = day_start_ms(end) + 86_400_000 - 1 if end else None
    kept = [
        entry
        for entry in entries
        if (event_filter is None or entry.event == event_filter)
        and (change_filter is None or change_filter in entry.object_changes)
        and (since is None or entry.created_ms >= since)
        and (until is None or entry.created_ms <= until)
    ]
    kept.sort(key=lambda entry: (entry.created_ms, entry.id), reverse=True)
    page, headers = paginate(request, kept)
    return json_response(
        [_entry_view(store, entry.collection, entry) for entry in page], headers=headers
    )
