"""The seeded org: realistic flows, one or more per troubleshooting-table row, plus healthy ones."""

from __future__ import annotations

from typing import Any

from nexla_mcp.sandbox import builder
from nexla_mcp.sandbox.incidents import EXPECTED_CATEGORY, apply_incident
from nexla_mcp.sandbox.model import DATA_SETS, SINKS, Credential, Flow
from nexla_mcp.sandbox.seed_catalog import CREDENTIALS, TRANSFORMS
from nexla_mcp.sandbox.seed_flows import SEED_FLOWS, FlowSpec
from nexla_mcp.sandbox.store import Store

DAY_MS = builder.DAY_MS
MINUTE_MS = 60 * 1000


def build_seed(store: Store) -> None:
    """Populate an empty store with the seeded org, anchored at `store.anchor_ms`."""
    now = store.anchor_ms
    credentials: dict[str, Credential] = {}
    for index, (name, (credentials_type, visible)) in enumerate(CREDENTIALS.items()):
        credentials[name] = builder.add_credential(
            store, name, credentials_type, visible, now - (200 - index) * DAY_MS
        )
    containers = {
        name: builder.add_code_container(
            store, name, code, now - (150 - index) * DAY_MS, reusable=reusable, code_type=code_type
        )
        for index, (name, (code_type, reusable, code)) in enumerate(TRANSFORMS.items())
    }
    for index, spec in enumerate(SEED_FLOWS):
        flow = _build_flow(
            store, spec, index, now - (120 - 4 * index) * DAY_MS, credentials, containers
        )
        apply_incident(store, flow, spec.kind, now)
        store.scenarios.append(
            {
                "kind": spec.kind,
                "flow_id": flow.id,
                "expected_category": EXPECTED_CATEGORY[spec.kind],
            }
        )


def _build_flow(
    store: Store,
    spec: FlowSpec,
    index: int,
    created_ms: int,
    credentials: dict[str, Credential],
    containers: dict[str, Any],
) -> Flow:
    source_name, source_type, credential_name, config = spec.source
    flow = builder.add_flow(
        store,
        name=spec.name,
        source_name=source_name,
        source_type=source_type,
        credential_id=credentials[credential_name].id,
        config=config,
        domain=spec.domain,
        seed=1000 + index * 7919,
        base_records=spec.base_records,
        interval_ms=spec.interval_min * MINUTE_MS,
        created_ms=created_ms,
        flow_type=spec.flow_type,
        description=spec.description,
    )
    if spec.kind == "never_activated":
        return flow
    parent = builder.add_detected(store, flow, created_ms + 20 * MINUTE_MS)
    if spec.derived is not None:
        name, transform = spec.derived
        parent = builder.add_derived(
            store,
            parent,
            name,
            containers[transform].id,
            created_ms + 40 * MINUTE_MS,
            tags=["prod"],
        )
    for offset, sink in enumerate(spec.sinks):
        builder.add_sink(
            store,
            parent,
            sink.name,
            sink.sink_type,
            credentials[sink.credential].id,
            sink.config,
            created_ms + (60 + offset) * MINUTE_MS,
            sink_format=sink.sink_format,
        )
    return flow


def scenario_view(store: Store, entry: dict[str, Any]) -> dict[str, Any] | None:
    """One `/_sandbox/scenarios` row with the flow's current resource ids."""
    flow = store.flows.get(entry["flow_id"])
    if flow is None:
        return None
    source = store.source_of(flow)
    grouped = {DATA_SETS: [], SINKS: []}
    for node in store.subtree(flow.id):
        if node.resource_type in grouped:
            grouped[node.resource_type].append(node.resource_id)
    return {
        "kind": entry["kind"],
        "flow_id": flow.id,
        "data_source_id": source.id,
        "data_set_ids": grouped[DATA_SETS],
        "data_sink_ids": grouped[SINKS],
        "data_credentials_id": source.credential_id,
        "expected_category": entry["expected_category"],
    }
