"""Transforms and code containers (fact sheet §13), notifications (§12) and rate limits (§4.4).

A transform's code can be replaced (``PUT /transforms/{id}``); every other write is elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import healing, views
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.http import (
    Query,
    empty_response,
    iso,
    json_response,
    paginate,
    path_id,
    read_json,
    read_object,
)
from nexla_mcp.sandbox.model import ACCESS_ROLES, Notification
from nexla_mcp.sandbox.routes_flows import actor_of
from nexla_mcp.sandbox.store import OPS_USER
from nexla_mcp.sandbox.writes import text_field

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "RECOVERED", "RESOLVED")
NOTIFICATION_RESOURCE_TYPES = ("SOURCE", "DATASET", "SINK")


async def list_transforms(request: Request, sandbox: Sandbox, collection: str) -> Response:
    """`GET /transforms`: reusable ones unless `reusable=0|all`; `/code_containers`: all."""
    query = Query(request)
    query.choice("access_role", ACCESS_ROLES)
    query.boolean("expand")
    reusable: bool | None = None
    if collection == "transforms":
        raw = query.text("reusable", "1") or "1"
        reusable = None if raw.lower() == "all" else query.boolean("reusable", True)
    found = [
        container
        for container in sandbox.store.code_containers.values()
        if reusable is None or container.reusable == reusable
    ]
    found.sort(key=lambda container: container.id, reverse=True)
    page, headers = paginate(request, found)
    ctx = sandbox.ctx()
    return json_response(
        [views.code_container_show(ctx, container) for container in page], headers=headers
    )


async def public_transforms(request: Request, sandbox: Sandbox) -> Response:
    return json_response([], headers={"X-Total-Count": "0"})


_CODE_TYPES = ("jolt_standard", "jolt_custom", "python", "javascript", "sql")
_CODE_ENCODINGS = ("none", "base64")


async def update_transform(request: Request, sandbox: Sandbox) -> Response:
    """`PUT /transforms/{id}`: new code (or name, description) for a code container (§13).

    Every nexset using it runs the new code from the next run on; a flow whose incident the
    new code fixes heals (``healing``).
    """
    store = sandbox.store
    container = store.code_containers.get(path_id(request))
    if container is None:
        raise ApiError(404)
    body = await read_object(request)
    code = body.get("code")
    if code is not None and (
        not isinstance(code, list) or not code or not all(isinstance(op, dict) for op in code)
    ):
        raise bad_request("code must be a non-empty list of operations")
    if body.get("code_type") not in (None, *_CODE_TYPES):
        raise bad_request("Unknown code_type")
    if body.get("code_encoding") not in (None, *_CODE_ENCODINGS):
        raise bad_request("Unknown code_encoding")
    name = text_field(body, "name")
    description = text_field(body, "description", max_len=2000)
    changes: dict[str, list[Any]] = {}
    for key, value in (
        ("name", name),
        ("description", description),
        ("code", code),
        ("code_type", body.get("code_type")),
        ("code_encoding", body.get("code_encoding")),
    ):
        if value is not None and value != getattr(container, key):
            changes[key] = [getattr(container, key), value]
            setattr(container, key, value)
    if changes:
        now = sandbox.now_ms()
        container.updated_ms = now
        if "code" in changes:
            container.version += 1
        healing.after_transform_change(store, container, now)
        store.touch()
        actor = actor_of(request)
        store.audit_event(
            "code_containers", container.id, "update", changes, actor.user_id, now,
            user_agent=actor.user_agent,
        )  # fmt: skip
    return json_response(views.code_container_show(sandbox.ctx(), container))


async def get_transform(request: Request, sandbox: Sandbox) -> Response:
    container = sandbox.store.code_containers.get(path_id(request))
    if container is None:
        raise ApiError(404)
    Query(request).boolean("expand")
    return json_response(views.code_container_show(sandbox.ctx(), container))


def _note_view(sandbox: Sandbox, note: Notification) -> dict[str, Any]:
    ctx = sandbox.ctx()
    return {
        "id": note.id,
        "owner": views.owner(ctx, note.owner_id),
        "org": {"id": views.org_full()["id"], "name": views.org_full()["name"]},
        "access_roles": ["owner"],
        "level": note.level,
        "resource_id": note.resource_id,
        "resource_type": note.resource_type,
        "message_id": note.message_id,
        "message": note.message,
        "read_at": iso(note.ts_ms) if note.read else None,
        "updated_at": iso(note.ts_ms),
        "created_at": iso(note.ts_ms),
        "ts": note.ts_ms // 1000,
    }


def _epoch_filter(query: Query, name: str) -> int | None:
    raw = query.text(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise bad_request(f"Invalid '{name}' date format") from None
    if abs(value) > 2**53:
        raise bad_request(f"Invalid '{name}' date format")
    return value if abs(value) >= 100_000_000_000 else value * 1000


def _filtered(request: Request, sandbox: Sandbox) -> list[Notification]:
    query = Query(request)
    level = query.choice("level", LEVELS)
    read = query.choice("read", ("0", "1"))
    since, until = _epoch_filter(query, "from"), _epoch_filter(query, "to")
    resource_type = query.choice("resource_type", NOTIFICATION_RESOURCE_TYPES)
    resource_id = query.integer("resource_id")
    if (resource_type is None) != (resource_id is None):
        raise bad_request("resource_type and resource_id must be given together")
    query.choice("sort_by", ("timestamp", "ts", "created_at", "id"))
    descending = query.choice("sort_order", ("asc", "desc"), "desc") == "desc"
    found = [
        note
        for note in sandbox.store.notifications.values()
        if (level is None or note.level == level)
        and (read is None or note.read == (read == "1"))
        and (since is None or note.ts_ms >= since)
        and (until is None or note.ts_ms <= until)
        and (
            resource_type is None
            or (note.resource_type, note.resource_id) == (resource_type, resource_id)
        )
        and (resource_type is not None or note.owner_id == OPS_USER.id)
    ]
    found.sort(key=lambda note: (note.ts_ms, note.id), reverse=descending)
    return found


async def list_notifications(request: Request, sandbox: Sandbox) -> Response:
    page, headers = paginate(request, _filtered(request, sandbox))
    return json_response([_note_view(sandbox, note) for note in page], headers=headers)


async def count_notifications(request: Request, sandbox: Sandbox) -> Response:
    return json_response({"count": len(_filtered(request, sandbox))})


def _note(request: Request, sandbox: Sandbox) -> Notification:
    note = sandbox.store.notifications.get(path_id(request))
    if note is None:
        raise ApiError(404)
    return note


async def get_notification(request: Request, sandbox: Sandbox) -> Response:
    return json_response(_note_view(sandbox, _note(request, sandbox)))


async def delete_notification(request: Request, sandbox: Sandbox) -> Response:
    del sandbox.store.notifications[_note(request, sandbox).id]
    return empty_response()


async def delete_all_notifications(request: Request, sandbox: Sandbox) -> Response:
    sandbox.store.notifications.clear()
    return empty_response()


async def mark_notifications(request: Request, sandbox: Sandbox, read: bool) -> Response:
    """`PUT /notifications/mark_read|mark_unread`: a JSON array of ids, or `notification_id=all`."""
    notes = sandbox.store.notifications
    if Query(request).text("notification_id") == "all":
        chosen = list(notes.values())
    else:
        ids = await read_json(request)
        if not isinstance(ids, list) or not all(type(note_id) is int for note_id in ids):
            raise bad_request("Body must be a JSON array of notification ids")
        chosen = [notes[note_id] for note_id in ids if note_id in notes]
    for note in chosen:
        note.read = read
    return json_response({"count": len(chosen)})


async def limits(request: Request, sandbox: Sandbox) -> Response:
    bucket = {
        "common": {"limit": 20, "count": 1},
        "light": {"limit": 10, "count": 0},
        "medium": {"limit": 5, "count": 0},
        "high": {"limit": 1, "count": 0},
    }
    daily = {
        "common": {"limit": 200000, "count": 1523},
        "light": {"limit": 100000, "count": 12},
        "medium": {"limit": 50000, "count": 40},
        "high": {"limit": 1000, "count": 2},
    }
    return json_response({"second": bucket, "day": daily})
