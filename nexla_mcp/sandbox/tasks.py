"""Async tasks (fact sheet §14): created now, finished a few seconds later on the injected clock.

A task's effect (a probe's verified_status, a bulk pause) is applied when it is created; what
moves with the clock is the status a client sees: pending, then running, then completed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import lifecycle, probes
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.http import (
    Query,
    empty_response,
    iso,
    json_response,
    paginate,
    path_id,
    read_object,
)
from nexla_mcp.sandbox.model import PAUSED, AsyncTask
from nexla_mcp.sandbox.store import OPS_USER

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

TASK_TYPES = (
    "BulkDeleteNotifications",
    "BulkMarkAsReadNotifications",
    "BulkPauseFlows",
    "CallProbe",
    "ChownUserResources",
    "DeactivateUser",
    "GetAuditLogs",
)
_EXPLAIN = {
    "CallProbe": {
        "type": "DataCredentials|DataSet|DataSink|DataSource|DataMap",
        "id": "entity id",
        "action": "authenticate (default) or read_sample",
        "input": "required for read_sample",
    },
    "BulkPauseFlows": {"id": "flow node id"},
    "BulkMarkAsReadNotifications": {"ids": "notification ids (omit for all)"},
    "BulkDeleteNotifications": {"ids": "notification ids (omit for all)"},
    "GetAuditLogs": {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},
}
_PROBE_ENTITIES = {
    "DataCredentials": "data_credentials",
    "DataSource": "data_sources",
    "DataSet": "data_sets",
    "DataSink": "data_sinks",
}


def _started_ms(task: AsyncTask) -> int:
    return task.created_ms + task.takes_ms // 3


def _finished_ms(task: AsyncTask) -> int:
    return task.created_ms + task.takes_ms


def status_of(task: AsyncTask, now_ms: int) -> str:
    if now_ms < _started_ms(task):
        return "pending"
    if now_ms < _finished_ms(task):
        return "running"
    return "failed" if task.error else "completed"


def _view(task: AsyncTask, now_ms: int) -> dict[str, Any]:
    status = status_of(task, now_ms)
    done = status in ("completed", "failed")
    return {
        "id": task.id,
        "task_type": task.task_type,
        "status": status,
        "progress": 100 if done else (50 if status == "running" else 0),
        "priority": task.priority,
        "created_at": iso(task.created_ms),
        "started_at": iso(_started_ms(task)) if status != "pending" else None,
        "stopped_at": iso(_finished_ms(task)) if done else None,
        "error": task.error if done else None,
        "arguments": task.arguments,
        "result": task.result if status == "completed" and not task.acknowledged else None,
        "result_url": None,
    }


def _run(sandbox: Sandbox, task_type: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Apply the task's effect now and return its result; bad arguments are 4xx."""
    store = sandbox.store
    if task_type == "CallProbe":
        collection = _PROBE_ENTITIES.get(str(arguments.get("type", "")))
        action = arguments.get("action", "authenticate")
        entity_id = arguments.get("id")
        if collection is None or action not in ("authenticate", "read_sample"):
            raise bad_request("Invalid CallProbe arguments: type or action")
        if action == "read_sample" and "input" not in arguments:
            raise bad_request("input is required for read_sample")
        if not isinstance(entity_id, int) or isinstance(entity_id, bool):
            raise bad_request("CallProbe argument 'id' must be an integer")
        entity = store.table(collection).get(entity_id)
        if entity is None:
            raise ApiError(404, "Entity not found")
        credential = (
            entity
            if collection == "data_credentials"
            else store.credentials.get(getattr(entity, "credential_id", None) or -1)
        )
        if credential is None:
            raise bad_request("Entity has no credential to probe")
        result = (
            probes.sample(store, credential, arguments.get("input") or {})
            if action == "read_sample"
            else probes.authenticate(credential)
        )
        credential.verified_status = probes.verified_status(result)
        credential.verified_ms = sandbox.now_ms() + sandbox.task_ms
        return {"status": result[0], **{k: v for k, v in result[1].items() if k != "status"}}
    if task_type == "BulkPauseFlows":
        node = (
            store.nodes.get(arguments.get("id")) if isinstance(arguments.get("id"), int) else None
        )
        if node is None:
            raise ApiError(404, "Entity not found")
        lifecycle.cascade(
            store, node.id, PAUSED, sandbox.now_ms(), lifecycle.Actor(), from_origin=True
        )
        return {"paused_flow_ids": [node.origin_id]}
    if task_type in ("BulkMarkAsReadNotifications", "BulkDeleteNotifications"):
        ids = arguments.get("ids") or list(store.notifications)
        if not isinstance(ids, list) or not all(type(note_id) is int for note_id in ids):
            raise bad_request("ids must be a list of notification ids")
        touched = [note_id for note_id in ids if note_id in store.notifications]
        for note_id in touched:
            if task_type == "BulkDeleteNotifications":
                del store.notifications[note_id]
            else:
                store.notifications[note_id].read = True
        return {"count": len(touched)}
    if task_type == "GetAuditLogs":
        return {"count": sum(len(entries) for entries in store.audit.values())}
    raise ApiError(403, f"{task_type} requires an org administrator of another org")


def start_task(
    sandbox: Sandbox, task_type: str, arguments: dict[str, Any], *, priority: int = 3
) -> AsyncTask:
    result = _run(sandbox, task_type, arguments)
    store = sandbox.store
    task = AsyncTask(
        store.next_id("async_tasks"),
        task_type,
        arguments,
        priority,
        sandbox.now_ms(),
        OPS_USER.id,
        result=result,
        takes_ms=sandbox.task_ms,
    )
    store.async_tasks[task.id] = task
    return task


def wrapped_task(sandbox: Sandbox, task_id: int) -> dict[str, Any]:
    """The wrapped async object returned by `async=1` calls and their `request_id` polls (§6.5)."""
    task = sandbox.store.async_tasks.get(task_id)
    if task is None:
        raise ApiError(404)
    now = sandbox.now_ms()
    status = status_of(task, now)
    wrapped: dict[str, Any] = {
        "status": "expired" if task.acknowledged else status,
        "request_id": task.id,
        "request_started_at": iso(task.created_ms),
    }
    if status == "running":
        wrapped["progress"] = 50
    if status in ("completed", "failed"):
        wrapped["request_completed_at"] = iso(_finished_ms(task))
        if status == "completed" and not task.acknowledged:
            wrapped["response"] = task.result
    return wrapped


def _task(sandbox: Sandbox, request: Request) -> AsyncTask:
    task = sandbox.store.async_tasks.get(path_id(request))
    if task is None:
        raise ApiError(404)
    return task


async def list_tasks(request: Request, sandbox: Sandbox) -> Response:
    query = Query(request)
    status = query.choice("status", ("pending", "running", "completed", "failed", "cancelled"))
    query.boolean("all")
    now = sandbox.now_ms()
    tasks = [
        task
        for task in reversed(sandbox.store.async_tasks.values())
        if status is None or status_of(task, now) == status
    ]
    page, headers = paginate(request, tasks, default_per_page=20)
    return json_response([_view(task, now) for task in page], headers=headers)


async def create_task(request: Request, sandbox: Sandbox) -> Response:
    body = await read_object(request)
    task_type = body.get("task_type", body.get("type"))
    if not task_type:
        raise bad_request("task_type is required")
    if task_type not in TASK_TYPES:
        raise bad_request(f"Invalid task_type: {str(task_type)[:60]}")
    arguments = body.get("arguments") or {}
    priority = body.get("priority", 3)
    if (
        not isinstance(arguments, dict)
        or not isinstance(priority, int)
        or isinstance(priority, bool)
    ):
        raise bad_request("arguments must be an object and priority an integer")
    task = start_task(sandbox, task_type, arguments, priority=priority)
    return json_response(_view(task, sandbox.now_ms()))


async def task_types(request: Request, sandbox: Sandbox) -> Response:
    return json_response(list(TASK_TYPES))


async def explain_arguments(request: Request, sandbox: Sandbox) -> Response:
    task_type = request.path_params["task_type"]
    if task_type not in TASK_TYPES:
        raise ApiError(404)
    return json_response(_EXPLAIN.get(task_type, {}))


async def get_task(request: Request, sandbox: Sandbox) -> Response:
    return json_response(_view(_task(sandbox, request), sandbox.now_ms()))


async def task_result(request: Request, sandbox: Sandbox) -> Response:
    """102 while pending or running (202 when served over a real socket, which cannot send 102)."""
    task = _task(sandbox, request)
    status = status_of(task, sandbox.now_ms())
    if status in ("pending", "running"):
        processing = 202 if request.scope.get("sandbox.served") else 102
        return json_response(_view(task, sandbox.now_ms()), status=processing)
    if status == "failed":
        raise bad_request(task.error or "Task failed")
    if task.acknowledged:
        raise bad_request("Task result has expired")
    return json_response(task.result)


async def delete_task(request: Request, sandbox: Sandbox) -> Response:
    task = _task(sandbox, request)
    if status_of(task, sandbox.now_ms()) in ("pending", "running"):
        raise bad_request("Task is running")
    del sandbox.store.async_tasks[task.id]
    return empty_response()


async def acknowledge_task(request: Request, sandbox: Sandbox) -> Response:
    task = _task(sandbox, request)
    task.acknowledged = True
    return json_response(_view(task, sandbox.now_ms()))
