"""Tests for nexla_mcp.sandbox.causes: the audited changes that break a flow, sparing its peers."""

from __future__ import annotations

from nexla_mcp.sandbox.causes import (
    break_transform,
    change_schema,
    domain_field,
    first_sink,
    own_credential,
    pause_all,
    users_of,
)
from nexla_mcp.sandbox.profiles import incident_data_set
from nexla_mcp.sandbox.store import DANA, Store

from .conftest import NOW_MS

HEALTHY_FLOW, OTHER_FLOW = 9001, 9005


def test_a_credential_only_this_flow_uses_is_broken_in_place(store: Store) -> None:
    """Nothing else depends on it, so no copy is made and nothing is audited."""
    flow = store.flows[HEALTHY_FLOW]
    source = store.source_of(flow)
    original = source.credential_id
    assert users_of(store, original or -1) == {HEALTHY_FLOW}
    assert own_credential(store, flow, NOW_MS).id == original
    assert ("data_sources", source.id) not in store.audit


def test_a_shared_credential_is_copied_and_the_swap_audited_when_it_happened(
    store: Store,
) -> None:
    """The other flow keeps the original; the source's audit shows the swap at `swapped_ms`."""
    flow, other = store.flows[HEALTHY_FLOW], store.flows[OTHER_FLOW]
    shared = store.source_of(flow).credential_id
    store.source_of(other).credential_id = shared
    assert users_of(store, shared or -1) == {HEALTHY_FLOW, OTHER_FLOW}
    swapped_ms = NOW_MS - 3_600_000
    clone = own_credential(store, flow, swapped_ms)
    source = store.source_of(flow)
    assert clone.id != shared and source.credential_id == clone.id
    assert store.source_of(other).credential_id == shared
    (swap,) = store.audit[("data_sources", source.id)]
    assert swap.object_changes == {"data_credentials_id": [shared, clone.id]}
    assert (swap.created_ms, swap.user_id) == (swapped_ms, DANA.id)


def test_breaking_a_shared_transform_edits_a_private_copy(store: Store) -> None:
    """The broken nexset gets its own edited transform; the other user keeps the original code."""
    flow = store.flows[HEALTHY_FLOW]
    target = incident_data_set(store, flow)
    assert target is not None and target.code_container_id is not None
    shared_id = target.code_container_id
    other = incident_data_set(store, store.flows[OTHER_FLOW])
    assert other is not None
    other.code_container_id = shared_id
    original_code = store.code_containers[shared_id].code
    edited = break_transform(store, flow, target, NOW_MS)
    assert edited.id != shared_id and target.code_container_id == edited.id
    assert store.code_containers[shared_id].code == original_code
    assert f"{domain_field(flow)}_cents" in str(edited.code)
    assert any(
        "code" in entry.object_changes for entry in store.audit[("code_containers", edited.id)]
    )


def test_a_schema_change_turns_the_numeric_field_into_a_string(store: Store) -> None:
    """The detected nexset's schema changes (audited as the schema detector) and the target
    starts validating."""
    flow = store.flows[HEALTHY_FLOW]
    target = incident_data_set(store, flow)
    assert target is not None
    detected = change_schema(store, flow, target, NOW_MS)
    assert detected.output_schema["properties"][domain_field(flow)] == {"type": "string"}
    assert target.validation_enabled
    (entry,) = store.audit[("data_sets", detected.id)]
    assert entry.user_agent == "nexla-schema-detector"


def test_pausing_a_flow_pauses_and_audits_every_resource_in_it(store: Store) -> None:
    """Source, nexsets and sinks all go ACTIVE -> PAUSED, each with its own audit entry."""
    flow = store.flows[HEALTHY_FLOW]
    pause_all(store, flow, NOW_MS, DANA.id, "nexla-ui/2025.3")
    for node in store.subtree(flow.id):
        assert store.node_resource(node).status == "PAUSED"
        (entry,) = store.audit[(node.resource_type, node.resource_id)]
        assert entry.object_changes == {"status": ["ACTIVE", "PAUSED"]}
    sink = first_sink(store, flow)
    assert sink is not None and sink.status == "PAUSED"
