"""Credential rotation: move every source and destination from one credential to another.

``observe_rotation`` reads everything the rotation depends on (both credentials, every user
of the old one across all pages, and the status of every resource of their flows) without
writing; its ``state`` is what a plan token binds. ``rotation_steps`` turns that into the
journaled steps: (create the new credential) → probe it → pause the affected active flows →
repoint every user → re-activate exactly what was active. ``verify_rotation`` probes again
and watches each re-activated flow's next run. Deleting the old credential is not a step: it
is its own, separately confirmed write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nexla_mcp.errors import NexlaError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.operations.new_credentials import NewCredentials
from nexla_mcp.operations.runner import StepSpec
from nexla_mcp.runbooks.recovery import watch_recovery
from nexla_mcp.runbooks.report import untrusted
from nexla_mcp.runbooks.usage import CredentialUser, credential_users

__all__ = [
    "FlowStatuses",
    "RotationView",
    "flow_statuses",
    "key_of",
    "observe_rotation",
    "rotation_steps",
    "verify_rotation",
]

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class FlowStatuses:
    """One flow's resources and their statuses, source first (tree order)."""

    flow_id: int
    name: str | None
    statuses: dict[str, str]

    @property
    def active(self) -> bool:
        """A flow runs while its source is active."""
        return next(iter(self.statuses.values()), None) == ACTIVE

    @property
    def active_resources(self) -> list[str]:
        return [key for key, status in self.statuses.items() if status == ACTIVE]

    def as_dict(self) -> dict[str, Any]:
        return {"flow_id": self.flow_id, "name": self.name, "statuses": self.statuses}


async def flow_statuses(client: NexlaClient, flow_id: int) -> FlowStatuses:
    """``GET /flows/{id}``: every resource of the flow with its status, in tree order."""
    document = await client.get_flow(flow_id)
    resources = {
        (kind, item.id): item
        for kind in ("data_sources", "data_sets", "data_sinks")
        for item in getattr(document, kind)
    }
    statuses: dict[str, str] = {}
    origin = document.flows[0] if document.flows else None
    for node in origin.iter_nodes() if origin is not None else ():
        if node.resource is None:
            continue
        resource = resources.get(node.resource)
        status = resource.status if resource is not None else node.status
        statuses[f"{node.resource[0]}/{node.resource[1]}"] = status or "UNKNOWN"
    name = untrusted(origin.name, 80) if origin is not None and origin.name else None
    return FlowStatuses(flow_id, name, statuses)


@dataclass
class RotationView:
    """What a rotation would do, read now (GET requests only)."""

    old: dict[str, Any]
    new: dict[str, Any]
    users: list[CredentialUser]
    flows: list[FlowStatuses]
    blocked_by: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def active_flows(self) -> list[FlowStatuses]:
        return [flow for flow in self.flows if flow.active]

    @property
    def new_credential_id(self) -> int | None:
        return self.new.get("id")

    def state(self) -> dict[str, Any]:
        """Everything the rotation depends on; a plan token binds its digest."""
        return {
            "old_credential": self.old,
            "new_credential": self.new,
            "users": [
                {
                    "resource": key_of(user),
                    "name": untrusted(user.name, 80),
                    "status": user.status,
                    "flow_id": user.flow_id,
                }
                for user in self.users
            ],
            "flows": [flow.as_dict() for flow in self.flows],
        }


def key_of(user: CredentialUser) -> str:
    """``data_sources/5105``: how steps and states name a user of the credential."""
    return f"{user.resource_type}/{user.resource_id}"


def _credential_view(credential: Any) -> dict[str, Any]:
    return {
        "id": credential.id,
        "name": untrusted(credential.name, 80),
        "credentials_type": credential.credentials_type,
    }


async def observe_rotation(
    client: NexlaClient,
    old_id: int,
    *,
    new_id: int | None,
    new_entry: str | None,
    new_credentials: NewCredentials,
) -> RotationView:
    """Read the rotation's state: credentials, every user of the old one, their flows.

    Raises:
        NotFoundError: either credential does not exist.
        ValidationError: the named new-credentials entry is unusable.
    """
    old = _credential_view(await client.get_credential(old_id))
    if new_id is not None:
        new = _credential_view(await client.get_credential(new_id))
    else:
        new = {"created_from": new_credentials.summary(new_entry or "")}
    users = await credential_users(client, old_id)
    flow_ids = sorted({user.flow_id for user in users if user.flow_id is not None})
    flows = [await flow_statuses(client, flow_id) for flow_id in flow_ids]
    view = RotationView(old, new, users, flows)
    new_type = new.get("credentials_type") or new.get("created_from", {}).get("credentials_type")
    if new_id == old_id:
        view.blocked_by = "The new credential is the old one."
    elif new_type != old["credentials_type"]:
        view.blocked_by = (
            f"The new credential is of type {new_type!r} but the old one is "
            f"{old['credentials_type']!r}; its users' connectors need the same type."
        )
    if any(user.flow_id is None for user in users):
        view.notes.append("Some users are not part of any flow; they are repointed only.")
    return view


def rotation_steps(view: RotationView, marker: str) -> list[StepSpec]:
    """The journaled steps, in order, each with its undo."""
    steps: list[StepSpec] = []
    new_id: Any = view.new_credential_id
    if new_id is None:
        entry = view.new["created_from"]["entry"]
        steps.append(
            StepSpec(
                f"create credential from entry '{entry}'",
                {"op": "create_credential", "entry": entry, "marker": marker},
                {"op": "delete_credential", "credential_id": {"$from": 0}},
            )
        )
        new_id = {"$from": 0}
    steps.append(
        StepSpec("probe the new credential", {"op": "probe_credential", "credential_id": new_id})
    )
    for flow in view.active_flows:
        resources = flow.active_resources
        steps.append(
            StepSpec(
                f"pause flow {flow.flow_id}",
                {"op": "pause_flow", "flow_id": flow.flow_id, "resources": resources},
                {"op": "restore_flow", "flow_id": flow.flow_id, "resources": resources},
            )
        )
    old_id = view.old["id"]
    for user in view.users:
        target = {"resource_type": user.resource_type, "resource_id": user.resource_id}
        steps.append(
            StepSpec(
                f"repoint {key_of(user)}",
                {"op": "set_credential", **target, "credential_id": new_id},
                {"op": "set_credential", **target, "credential_id": old_id},
            )
        )
    for flow in view.active_flows:
        resources = flow.active_resources
        steps.append(
            StepSpec(
                f"re-activate flow {flow.flow_id}",
                {"op": "restore_flow", "flow_id": flow.flow_id, "resources": resources},
                {"op": "pause_flow", "flow_id": flow.flow_id, "resources": resources},
            )
        )
    return steps


async def verify_rotation(
    client: NexlaClient,
    credential_id: int,
    flow_ids: list[int],
    *,
    since_ms: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Probe the new credential, then watch each re-activated flow's next run."""
    try:
        await client.probe_credential(credential_id)
        probe = "ok"
    except NexlaError as error:
        probe = f"failed: {type(error).__name__}"
    flows = [
        (await watch_recovery(client, flow_id, since_ms=since_ms, timeout_s=timeout_s)).as_dict()
        for flow_id in flow_ids
    ]
    return {"probe": probe, "flows": flows}
