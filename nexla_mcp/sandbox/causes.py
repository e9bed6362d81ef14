"""The changes that break a flow in the sandbox, made the way Nexla's audit log shows them.

A credential swapped for the flow's own broken copy, a transform edited to read a field that
does not exist, an upstream schema change, a pause: each is audited when it happens, and a
credential or transform that other flows share is copied first so they stay healthy.
:mod:`nexla_mcp.sandbox.incidents` and :mod:`nexla_mcp.sandbox.breakage` place them in time.
"""

from __future__ import annotations

from typing import Any

from nexla_mcp.sandbox import builder
from nexla_mcp.sandbox.model import (
    ACTIVE,
    DATA_SETS,
    PAUSED,
    SINKS,
    SOURCES,
    CodeContainer,
    Credential,
    DataSet,
    Flow,
    Sink,
)
from nexla_mcp.sandbox.samples import domain
from nexla_mcp.sandbox.store import DANA, SYSTEM_USER, Store

__all__ = [
    "break_transform",
    "change_schema",
    "domain_field",
    "first_sink",
    "heal_own_credential",
    "own_credential",
    "pause_all",
    "users_of",
]


def users_of(store: Store, credential_id: int) -> set[int]:
    """Flows whose source or sinks use the credential."""
    using = {
        store.nodes[source.node_id].origin_id
        for source in store.sources.values()
        if source.credential_id == credential_id
    }
    using |= {
        store.nodes[sink.node_id].origin_id
        for sink in store.sinks.values()
        if sink.credential_id == credential_id
    }
    return using


def own_credential(store: Store, flow: Flow, swapped_ms: int) -> Credential:
    """The source's credential, cloned first if other flows share it (so they stay healthy).

    The clone is swapped in at `swapped_ms`, and audited then, as the change a person made
    just before the runs started failing.
    """
    source = store.source_of(flow)
    credential = store.credentials.get(source.credential_id or -1)
    if credential is not None and users_of(store, credential.id) <= {flow.id}:
        return credential
    template_type = credential.credentials_type if credential else source.source_type
    clone = builder.add_credential(
        store,
        f"{source.name}-credential",
        template_type,
        dict(credential.non_secure) if credential else {},
        swapped_ms,
        secrets=dict(credential.secrets) if credential else None,
    )
    previous = source.credential_id
    source.credential_id = clone.id
    store.audit_event(
        SOURCES,
        source.id,
        "update",
        {"data_credentials_id": [previous, clone.id]},
        DANA.id,
        swapped_ms,
    )
    return clone


def heal_own_credential(store: Store, flow: Flow) -> None:
    credential = store.credentials.get(store.source_of(flow).credential_id or -1)
    # Scanning for other users is O(org); only broken credentials need the check.
    if credential is not None and credential.health != "valid":
        if users_of(store, credential.id) <= {flow.id}:
            credential.health = "valid"


def _own_container(store: Store, target: DataSet, changed_ms: int) -> CodeContainer:
    """The nexset's transform, copied first if other nexsets use it (so they stay healthy).

    A nexset with no transform gets a pass-through one. A new or copied transform is switched
    in at `changed_ms`, audited then.
    """
    container = store.code_containers.get(target.code_container_id or -1)
    if container is not None and not any(
        other.code_container_id == container.id and other.id != target.id
        for other in store.data_sets.values()
    ):
        return container
    own = builder.add_code_container(
        store,
        f"{target.name}-transform",
        container.code if container else builder.python_transform("def transform(r): return r"),
        changed_ms,
        reusable=False,
        code_type=container.code_type if container else "python",
    )
    store.audit_event(
        DATA_SETS,
        target.id,
        "update",
        {"code_container_id": [target.code_container_id, own.id]},
        DANA.id,
        changed_ms,
    )
    target.code_container_id = own.id
    return own


def break_transform(store: Store, flow: Flow, target: DataSet, changed_at: int) -> CodeContainer:
    """Edit the nexset's transform (its own copy) to read a field that does not exist."""
    container = _own_container(store, target, changed_at)
    field = f"{domain_field(flow)}_cents"
    new_code = builder.python_transform(
        f"def transform(r):\n    r['total'] = r['{field}'] / 100\n    return r"
    )
    changes: dict[str, list[Any]] = {"code": [container.code, new_code]}
    if container.code_type != "python":
        changes["code_type"] = [container.code_type, "python"]
    store.audit_event("code_containers", container.id, "update", changes, DANA.id, changed_at)
    container.code, container.version = new_code, container.version + 1
    container.code_type = "python"
    container.updated_ms = changed_at
    return container


def change_schema(store: Store, flow: Flow, target: DataSet, changed_at: int) -> DataSet:
    """The schema detector turns the numeric field into a string upstream of `target`, which
    validates it; returns the nexset whose schema changed."""
    detected = next(
        (
            store.data_sets[store.nodes[child].resource_id]
            for child in store.nodes[flow.id].children
            if store.nodes[child].resource_type == DATA_SETS
        ),
        target,
    )
    field = domain_field(flow)
    old = detected.output_schema
    new = {**old, "properties": {**old.get("properties", {}), field: {"type": "string"}}}
    store.audit_event(
        DATA_SETS,
        detected.id,
        "update",
        {"output_schema": [old, new]},
        SYSTEM_USER.id,
        changed_at,
        user_agent="nexla-schema-detector",
    )
    detected.output_schema, detected.version = new, detected.version + 1
    target.validation_enabled = True
    return detected


def pause_all(store: Store, flow: Flow, at_ms: int, user_id: int, user_agent: str) -> None:
    for node in store.subtree(flow.id):
        resource = store.node_resource(node)
        resource.status = PAUSED
        store.audit_event(
            node.resource_type,
            resource.id,
            "update",
            {"status": [ACTIVE, PAUSED]},
            user_id,
            at_ms,
            user_agent=user_agent,
        )


def first_sink(store: Store, flow: Flow) -> Sink | None:
    for node in store.subtree(flow.id):
        if node.resource_type == SINKS:
            return store.sinks[node.resource_id]
    return None


def domain_field(flow: Flow) -> str:
    return domain(flow.domain).numeric_field
