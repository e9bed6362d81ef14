"""Create resources and wire them into flows; shared by the seed, the generator and POST routes."""

from __future__ import annotations

from typing import Any

from nexla_mcp.sandbox import planted
from nexla_mcp.sandbox.model import (
    ACTIVE,
    DATA_SETS,
    SINKS,
    SOURCES,
    CodeContainer,
    Credential,
    DataSet,
    Flow,
    Sink,
    Source,
)
from nexla_mcp.sandbox.samples import derive, records, schema_of
from nexla_mcp.sandbox.store import OPS_USER, Store

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
_NON_SECRET_KEYS = {
    "username",
    "user",
    "host",
    "port",
    "database",
    "region",
    "bucket",
    "account",
    "warehouse",
    "role",
    "url",
    "base_url",
    "auth_type",
    "schema",
    "project_id",
    "bootstrap_servers",
    "client_id",
    "path",
}


def split_secrets(values: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Separate what a credential may show (hosts, user names) from what it must never show."""
    secrets = {key: str(value) for key, value in values.items() if key not in _NON_SECRET_KEYS}
    visible = {key: value for key, value in values.items() if key in _NON_SECRET_KEYS}
    return secrets, visible


def add_credential(
    store: Store,
    name: str,
    credentials_type: str,
    visible: dict[str, Any],
    created_ms: int,
    *,
    secrets: dict[str, str] | None = None,
    description: str | None = None,
) -> Credential:
    credential_id = store.next_id("data_credentials")
    if secrets is None:
        secrets = dict(
            planted.CREDENTIAL_SECRETS.get(credentials_type, planted.CREDENTIAL_SECRETS["rest"])
        )
    credential = Credential(
        credential_id,
        name,
        credentials_type,
        secrets,
        dict(visible),
        created_ms,
        created_ms,
        description=description,
        verified_ms=created_ms,
        owner_id=OPS_USER.id,
    )
    store.credentials[credential_id] = credential
    store.touch()
    return credential


def add_flow(
    store: Store,
    *,
    name: str,
    source_name: str,
    source_type: str,
    credential_id: int | None,
    config: dict[str, Any],
    domain: str,
    seed: int,
    base_records: int,
    interval_ms: int,
    created_ms: int,
    status: str = ACTIVE,
    flow_type: str = "batch",
    description: str | None = None,
) -> Flow:
    """A new flow made of just its source (the origin node)."""
    source_id = store.next_id(SOURCES)
    node = store.add_node(SOURCES, source_id, None)
    source_format = "CSV" if config.get("file_format") == "csv" else "JSON"
    store.sources[source_id] = Source(
        source_id,
        source_name,
        source_type,
        credential_id,
        dict(config),
        node.id,
        created_ms,
        created_ms,
        status=status,
        source_format=source_format,
        ingest_method="API" if flow_type == "streaming" else "POLL",
        poll_schedule=None if flow_type == "streaming" else f"every {interval_ms // 60000} minutes",
        owner_id=OPS_USER.id,
    )
    flow = Flow(
        node.id,
        name,
        domain,
        seed,
        base_records,
        interval_ms,
        created_ms,
        created_ms,
        description=description,
        flow_type=flow_type,
    )
    store.flows[flow.id] = flow
    return flow


def add_detected(store: Store, flow: Flow, created_ms: int, status: str = ACTIVE) -> DataSet:
    source = store.source_of(flow)
    data_set_id = store.next_id(DATA_SETS)
    node = store.add_node(DATA_SETS, data_set_id, flow.id)
    sample = records(flow.domain, flow.seed, 1)[0]
    data_set = DataSet(
        data_set_id,
        f"{source.name}, Schema #1",
        node.id,
        created_ms,
        created_ms,
        status=status,
        description=f"Schema #1 detected from data source: {source.name}",
        data_source_id=source.id,
        output_schema=schema_of(sample),
        owner_id=OPS_USER.id,
    )
    store.data_sets[data_set_id] = data_set
    return data_set


def add_derived(
    store: Store,
    parent: DataSet,
    name: str,
    code_container_id: int | None,
    created_ms: int,
    *,
    status: str = ACTIVE,
    description: str | None = None,
    tags: list[str] | None = None,
) -> DataSet:
    flow = store.flow_of_node(parent.node_id)
    data_set_id = store.next_id(DATA_SETS)
    node = store.add_node(DATA_SETS, data_set_id, parent.node_id)
    sample = derive(records(flow.domain, flow.seed, 1)[0])
    data_set = DataSet(
        data_set_id,
        name,
        node.id,
        created_ms,
        created_ms,
        status=status,
        description=description,
        parent_id=parent.id,
        code_container_id=code_container_id,
        output_schema=schema_of(sample),
        tags=list(tags or []),
        owner_id=OPS_USER.id,
    )
    store.data_sets[data_set_id] = data_set
    return data_set


def add_sink(
    store: Store,
    data_set: DataSet,
    name: str,
    sink_type: str,
    credential_id: int | None,
    config: dict[str, Any],
    created_ms: int,
    *,
    status: str = ACTIVE,
    sink_format: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
) -> Sink:
    sink_id = store.next_id(SINKS)
    node = store.add_node(SINKS, sink_id, data_set.node_id)
    sink = Sink(
        sink_id,
        name,
        sink_type,
        credential_id,
        data_set.id,
        dict(config),
        node.id,
        created_ms,
        created_ms,
        status=status,
        sink_format=sink_format,
        description=description,
        tags=list(tags or []),
        owner_id=OPS_USER.id,
    )
    store.sinks[sink_id] = sink
    return sink


def add_code_container(
    store: Store,
    name: str,
    code: list[dict[str, Any]],
    created_ms: int,
    *,
    reusable: bool = True,
    code_type: str = "jolt_standard",
    description: str | None = None,
) -> CodeContainer:
    container_id = store.next_id("code_containers")
    container = CodeContainer(
        container_id,
        name,
        code,
        created_ms,
        created_ms,
        reusable=reusable,
        code_type=code_type,
        description=description,
        owner_id=OPS_USER.id,
    )
    store.code_containers[container_id] = container
    store.touch()
    return container


def python_transform(script: str) -> list[dict[str, Any]]:
    return [
        {
            "operation": "nexla.custom",
            "spec": {"language": "python", "encoding": "none", "script": script},
        }
    ]


def jolt_shift(mapping: dict[str, str]) -> list[dict[str, Any]]:
    return [{"operation": "shift", "spec": dict(mapping)}]
