"""The requests an operation step can make, each named by a JSON-able ``action`` dict.

Steps are stored as data (``{"op": "set_credential", ...}``) so that a restarted process can
redo or undo them from the journal alone. Every action is safe to repeat once it has taken
effect (setting a value twice, pausing a paused flow, deleting what is gone), which is what
makes a step left ``started`` by a crash recoverable: redo it, or undo it. A create is the one
exception: it tags what it creates with the operation's marker, and ``find_created`` looks the
marker up before anything is created again.

A value ``{"$from": <seq>}`` inside an action stands for the id that step ``seq`` created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nexla_mcp.errors import CredentialError, NexlaError, NotFoundError, ValidationError
from nexla_mcp.nexla import NexlaClient

__all__ = ["ACTIONS", "ActionContext", "StepFailedError", "find_created", "resolve"]

_UPDATE = {"data_sources": "update_source", "data_sinks": "update_destination"}
_PAUSE = {
    "data_sources": "pause_source",
    "data_sets": "pause_nexset",
    "data_sinks": "pause_destination",
}
_ACTIVATE = {
    "data_sources": "activate_source",
    "data_sets": "activate_nexset",
    "data_sinks": "activate_destination",
}
_DELETE = {"data_sets": "delete_nexset", "data_sinks": "delete_destination"}
# What a finished probe's result says when the external system accepted the credential.
_PROBE_OK = frozenset({"200", "ok", "success"})


class StepFailedError(NexlaError):
    """A step's own check failed (a probe, a sample validation); nothing was sent by it."""

    default_hint = "The operation was rolled back; see details for what failed."


@dataclass
class ActionContext:
    """What actions need besides their arguments: the client, and the body of a credential
    this server creates (read from the server host only when the step runs, never stored)."""

    client: NexlaClient
    credential_body: Callable[[str], dict[str, Any]] | None = None
    checks: Mapping[str, Callable[..., Awaitable[dict[str, Any]]]] | None = None
    task_timeout_s: float = 120.0
    task_poll_s: float = 1.0
    dry_run: bool = False
    """A client that sends no change (shadow writes): probe with the plain GET, which it
    passes through, rather than by creating an async task, which it would only record."""


Action = Callable[[ActionContext, dict[str, Any]], Awaitable[dict[str, Any]]]


def resolve(value: Any, results: Mapping[int, dict[str, Any]]) -> Any:
    """Replace each ``{"$from": seq}`` with the id step ``seq`` created."""
    if isinstance(value, dict):
        if set(value) == {"$from"}:
            created = results.get(value["$from"], {}).get("id")
            if created is None:
                raise ValidationError(f"step {value['$from']} created nothing to refer to")
            return created
        return {key: resolve(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, results) for item in value]
    return value


async def _probe(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    """Probe through a ``CallProbe`` async task (fact sheet §14), polled until it finishes or
    ``task_timeout_s`` passes: a probe can take as long as the external system does."""
    credential_id = action["credential_id"]
    if ctx.dry_run:
        await ctx.client.probe_credential(credential_id)  # raises CredentialError on a 403
        return {}
    task = await ctx.client.create_async_task(
        "CallProbe", {"type": "DataCredentials", "id": credential_id, "action": "authenticate"}
    )
    done = await ctx.client.wait_for_async_task(
        task.id, timeout=ctx.task_timeout_s, poll_interval=ctx.task_poll_s
    )
    result = done.result if isinstance(done.result, dict) else {}
    status = str(result.get("status", "")).lower()
    if status not in _PROBE_OK:
        raise CredentialError(
            f"The probe of credential {credential_id} failed ({status or 'no status'}): "
            f"{result.get('message') or 'no message'}",
            operation="probe_credential", resource_type="data_credentials",
            resource_id=credential_id, details={"task_id": task.id},
        )  # fmt: skip
    return {"task_id": task.id}


async def _create_credential(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    if ctx.credential_body is None:
        raise ValidationError("this server has no new-credentials file configured")
    body = {**ctx.credential_body(action["entry"]), "tags": [action["marker"]]}
    created = await ctx.client.create_credential(body)
    return {"id": created.id}


async def _delete_credential(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    try:
        await ctx.client.delete_credential(action["credential_id"])
    except NotFoundError:
        pass  # already gone: the goal of the step holds
    return {}


async def _set_credential(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    method = getattr(ctx.client, _UPDATE[action["resource_type"]])
    await method(action["resource_id"], {"data_credentials_id": action["credential_id"]})
    return {}


async def _pause_flow(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    """Pause the flow's active resources one by one, source first, so that exactly they (and
    not resources that were paused or never started) are what ``restore_flow`` activates."""
    for key in action["resources"]:
        resource_type, resource_id = key.split("/")
        await getattr(ctx.client, _PAUSE[resource_type])(int(resource_id))
    return {}


async def _restore_flow(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    """Activate the same resources again, destinations first and the source last, so that the
    run the source starts finds everything downstream ready."""
    for key in reversed(action["resources"]):
        resource_type, resource_id = key.split("/")
        await getattr(ctx.client, _ACTIVATE[resource_type])(int(resource_id))
    return {}


async def _set_resource_status(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    table = _ACTIVATE if action["status"] == "ACTIVE" else _PAUSE
    await getattr(ctx.client, table[action["resource_type"]])(action["resource_id"])
    return {}


async def _create_nexset(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    created = await ctx.client.create_nexset({**action["body"], "tags": [action["marker"]]})
    return {"id": created.id}


async def _create_destination(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    created = await ctx.client.create_destination({**action["body"], "tags": [action["marker"]]})
    return {"id": created.id}


async def _delete_resource(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    resource_type, resource_id = action["resource_type"], action["resource_id"]
    try:
        if resource_type == "data_sinks":
            # Nexla refuses to delete an active destination; pausing first is the undo's job.
            await ctx.client.pause_destination(resource_id)
        await getattr(ctx.client, _DELETE[resource_type])(resource_id)
    except NotFoundError:
        pass
    return {}


async def _check(ctx: ActionContext, action: dict[str, Any]) -> dict[str, Any]:
    """A read-only check a runbook supplies (e.g. validating samples); raises to abort."""
    if ctx.checks is None or action["check"] not in ctx.checks:
        raise ValidationError(f"unknown check {action['check']!r}")
    return await ctx.checks[action["check"]](ctx.client, action)


ACTIONS: dict[str, Action] = {
    "probe_credential": _probe,
    "create_credential": _create_credential,
    "delete_credential": _delete_credential,
    "set_credential": _set_credential,
    "pause_flow": _pause_flow,
    "restore_flow": _restore_flow,
    "set_resource_status": _set_resource_status,
    "create_nexset": _create_nexset,
    "create_destination": _create_destination,
    "delete_resource": _delete_resource,
    "check": _check,
}

CREATES = {
    "create_credential": ("data_credentials", "list_credentials"),
    "create_nexset": ("data_sets", "list_nexsets"),
    "create_destination": ("data_sinks", "list_destinations"),
}


async def find_created(client: NexlaClient, action: dict[str, Any]) -> int | None:
    """The id of what a create step made before a crash cut it short, found by its marker."""
    _, method = CREATES[action["op"]]
    marker = action["marker"]
    page = 1
    while True:
        found = await getattr(client, method)(page=page, per_page=100)
        for item in found.items:
            if marker in (item.tags or []):
                return int(item.id)
        if len(found.items) < 100:
            return None
        page += 1
