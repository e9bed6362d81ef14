"""Status changes and deletions with Nexla's cascade and refusal rules (fact sheet §4.3, §20)."""

from __future__ import annotations

from dataclasses import dataclass

from nexla_mcp.sandbox import history
from nexla_mcp.sandbox.builder import add_detected
from nexla_mcp.sandbox.errors import ApiError
from nexla_mcp.sandbox.model import (
    ACTIVE,
    DATA_SETS,
    SINKS,
    SOURCES,
    Flow,
    Node,
    Source,
)
from nexla_mcp.sandbox.store import OPS_USER, Store


@dataclass(frozen=True)
class Actor:
    """Who a write is attributed to in audit entries."""

    user_id: int = OPS_USER.id
    user_agent: str = "nexla-api-client"


def run_profile(store: Store, flow: Flow) -> str:
    """How the flow's runs behave from now on; a broken credential overrides everything."""
    source = store.source_of(flow)
    credential = store.credentials.get(source.credential_id or -1)
    if credential is not None and credential.health == "expired":
        return "credential_expired"
    if credential is not None and credential.health == "forbidden":
        return "permission_denied"
    return flow.profile


def reschedule(store: Store, flow: Flow, now_ms: int) -> None:
    """Let runs after `now_ms` follow the flow's current profile (after a credential change)."""
    history.switch_profile(flow, now_ms, run_profile(store, flow))


def set_status(store: Store, node: Node, status: str, now_ms: int, actor: Actor) -> None:
    """Give one node's resource a new status, with the run and audit side effects."""
    resource = store.node_resource(node)
    previous = resource.status
    if previous == status:
        return
    resource.status = status
    resource.updated_ms = now_ms
    store.touch()
    store.audit_event(
        node.resource_type,
        resource.id,
        "update",
        {"status": [previous, status]},
        actor.user_id,
        now_ms,
        user_agent=actor.user_agent,
    )
    if isinstance(resource, Source):
        _source_status_changed(store, store.flows[node.origin_id], resource, status, now_ms)


def _source_status_changed(
    store: Store, flow: Flow, source: Source, status: str, now_ms: int
) -> None:
    verb = "activated" if status == ACTIVE else "paused"
    store.notify("INFO", "SOURCE", source.id, f"Data source '{source.name}' {verb}", now_ms)
    if status != ACTIVE:
        history.stop_schedule(flow, now_ms)
        return
    profile = run_profile(store, flow)
    history.add_manual_run(flow, now_ms, profile)
    history.start_schedule(flow, now_ms, profile)
    if not store.nodes[flow.id].children:
        add_detected(store, flow, now_ms)  # the first run detects the schema (§20.2)


def cascade(
    store: Store, node_id: int, status: str, now_ms: int, actor: Actor, *, from_origin: bool
) -> None:
    """Activate or pause a node and everything downstream (or the whole flow)."""
    start = store.nodes[node_id].origin_id if from_origin else node_id
    for node in list(store.subtree(start)):
        set_status(store, node, status, now_ms, actor)


def ensure_deletable(store: Store, top: Node) -> None:
    """Refuse (405) to delete a scope that still has ACTIVE resources, listing them by type."""
    active: dict[str, list[int]] = {SOURCES: [], DATA_SETS: [], SINKS: []}
    for node in store.subtree(top.id):
        if store.node_resource(node).status == ACTIVE:
            active[node.resource_type].append(node.resource_id)
    if any(active.values()):
        message = "Active flow resources must be paused before flow deletion!"
        raise ApiError(405, body={**active, "message": message})


def delete_scope(store: Store, top: Node, now_ms: int, actor: Actor) -> None:
    ensure_deletable(store, top)
    inline = {
        store.data_sets[node.resource_id].code_container_id
        for node in store.subtree(top.id)
        if node.resource_type == DATA_SETS and node.resource_id in store.data_sets
    }
    for node in store.subtree(top.id):
        store.audit_event(
            node.resource_type,
            node.resource_id,
            "destroy",
            {},
            actor.user_id,
            now_ms,
            user_agent=actor.user_agent,
        )
    store.remove_subtree(top.id)
    _drop_inline_transforms(store, inline)


def _drop_inline_transforms(store: Store, container_ids: set[int | None]) -> None:
    """An inline transform (a non-reusable code container) belongs to its nexset: it goes
    when no nexset uses it any more; reusable transforms stay."""
    in_use = {data_set.code_container_id for data_set in store.data_sets.values()}
    for container_id in container_ids - in_use:
        container = store.code_containers.get(container_id or -1)
        if container is not None and not container.reusable:
            del store.code_containers[container.id]
            store.touch()


def delete_resource(
    store: Store, resource_type: str, resource_id: int, now_ms: int, actor: Actor
) -> None:
    """`DELETE /{rt}/{id}`: the resource and whatever hangs below it in its flow."""
    resource = store.table(resource_type)[resource_id]
    if resource.status == ACTIVE and resource_type in (SOURCES, SINKS):
        noun = "Data source" if resource_type == SOURCES else "Data sink"
        raise ApiError(405, f"{noun} must be paused before deletion")
    delete_scope(store, store.nodes[resource.node_id], now_ms, actor)
