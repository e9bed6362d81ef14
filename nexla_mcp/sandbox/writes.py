"""Create and update bodies for sources, nexsets, sinks and credentials, validated like the server.

Every check runs before anything changes, so a rejected request leaves the store untouched.
"""

from __future__ import annotations

import zlib
from typing import Any

from nexla_mcp.sandbox import builder, connectors, healing, history, lifecycle
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.model import (
    ACTIVE,
    DATA_SETS,
    INIT,
    PAUSED,
    SINKS,
    SOURCES,
    DataSet,
    Sink,
    Source,
)
from nexla_mcp.sandbox.samples import DOMAINS
from nexla_mcp.sandbox.store import Store

_SOURCE_FORMATS = ("unknown", "JSON", "CSV", "TSV", "XML")
_FLOW_TYPES = ("batch", "streaming", "in_memory", "real_time")
_LOCKED_WHEN_ACTIVE = (
    "source_config",
    "source_type",
    "ingest_method",
    "source_format",
    "template_config",
)


def text_field(
    body: dict[str, Any], key: str, *, required: bool = False, max_len: int = 255
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request(f"{key} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise bad_request(f"{key} must be a non-empty string of at most {max_len} characters")
    return value


def id_field(body: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request(f"{key} is required")
        return None
    if type(value) is not int or value <= 0:
        raise bad_request(f"{key} must be a positive integer")
    return value


def dict_field(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise bad_request(f"{key} must be an object")
    return value


def tags_field(body: dict[str, Any]) -> list[str] | None:
    tags = body.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags)
    ):
        raise bad_request("tags must be a list of strings")
    return tags


def _credential(store: Store, credential_id: int | None) -> int | None:
    if credential_id is not None and credential_id not in store.credentials:
        raise bad_request(f"data_credentials_id {credential_id} not found")
    return credential_id


def create_source(
    store: Store, body: dict[str, Any], now_ms: int, actor: lifecycle.Actor
) -> Source:
    name = text_field(body, "name", required=True)
    source_type = text_field(body, "source_type", required=True) or ""
    if not connectors.is_known(source_type):
        raise bad_request("Unknown source connector type")
    credential_id = _credential(store, id_field(body, "data_credentials_id"))
    config = dict_field(body, "source_config") or {}
    description = text_field(body, "description", max_len=2000)
    if body.get("ingest_method") not in (None, "POLL", "API"):
        raise bad_request("Unknown ingest method")
    if body.get("source_format") not in (None, *_SOURCE_FORMATS):
        raise bad_request("Unknown source format")
    flow_type = body.get("flow_type", "batch")
    if flow_type not in _FLOW_TYPES:
        raise bad_request("Invalid flow_type attribute")
    seed = zlib.crc32(f"{name}:{store.anchor_ms}".encode())
    flow = builder.add_flow(
        store,
        name=str(name),
        source_name=str(name),
        source_type=source_type,
        credential_id=credential_id,
        config=config,
        domain=sorted(DOMAINS)[seed % len(DOMAINS)],
        seed=seed,
        base_records=1000,
        interval_ms=builder.HOUR_MS,
        created_ms=now_ms,
        status=INIT,
        flow_type=str(flow_type),
        description=description,
    )
    source = store.source_of(flow)
    source.tags = tags_field(body) or []
    store.audit_event(
        SOURCES,
        source.id,
        "create",
        {"name": [None, name]},
        actor.user_id,
        now_ms,
        user_agent=actor.user_agent,
    )
    return source


def update_source(
    store: Store,
    source: Source,
    body: dict[str, Any],
    now_ms: int,
    actor: lifecycle.Actor,
    *,
    force: bool,
) -> None:
    name = text_field(body, "name")
    description = text_field(body, "description", max_len=2000)
    config = dict_field(body, "source_config")
    credential_id = _credential(store, id_field(body, "data_credentials_id"))
    source_type = text_field(body, "source_type")
    if source_type is not None and not connectors.is_known(source_type):
        raise bad_request("Unknown source connector type")
    tags = tags_field(body)
    schedule = text_field(body, "poll_schedule", max_len=100)
    interval = healing.interval_of_schedule(schedule) if schedule is not None else None
    if schedule is not None and interval is None:
        raise bad_request('Invalid poll_schedule: use "every N minutes" or "every N hours"')
    locked = [
        key for key in _LOCKED_WHEN_ACTIVE if key in body and body[key] != _current(source, key)
    ]
    if locked and source.status == ACTIVE and not force:
        raise ApiError(405, f"Cannot change {locked[0]} of active data_source")
    changes: dict[str, list[Any]] = {}
    reactivate = bool(locked) and source.status == ACTIVE
    node = store.nodes[source.node_id]
    if reactivate:
        lifecycle.set_status(store, node, PAUSED, now_ms, actor)
    for key, value in (
        ("name", name),
        ("description", description),
        ("source_config", config),
        ("source_type", source_type),
        ("tags", tags),
        ("poll_schedule", schedule),
    ):
        if value is not None and value != _current(source, key):
            changes[key] = [_current(source, key), value]
            _assign(source, key, value)
    flow = store.flows[node.origin_id]
    if interval is not None:
        healing.set_interval(flow, interval, now_ms)
    if credential_id is not None and credential_id != source.credential_id:
        changes["data_credentials_id"] = [source.credential_id, credential_id]
        source.credential_id = credential_id
        lifecycle.reschedule(store, flow, now_ms)
    if changes:
        healing.after_source_change(store, source, now_ms)
    _record_update(store, SOURCES, source, changes, now_ms, actor)
    if reactivate:
        lifecycle.set_status(store, node, ACTIVE, now_ms, actor)


def _current(resource: Any, key: str) -> Any:
    field = {
        "source_config": "config",
        "sink_config": "config",
        "template_config": "template_config",
    }.get(key, key)
    return getattr(resource, field, None)


def _assign(resource: Any, key: str, value: Any) -> None:
    field = {"source_config": "config", "sink_config": "config"}.get(key, key)
    setattr(resource, field, value)


def _record_update(
    store: Store,
    collection: str,
    resource: Any,
    changes: dict[str, list[Any]],
    now_ms: int,
    actor: lifecycle.Actor,
) -> None:
    if changes:
        resource.updated_ms = now_ms
        store.touch()
        store.audit_event(
            collection,
            resource.id,
            "update",
            changes,
            actor.user_id,
            now_ms,
            user_agent=actor.user_agent,
        )


def _transform_container(store: Store, body: dict[str, Any], name: str, now_ms: int) -> int | None:
    transform_id = id_field(body, "transform_id")
    if transform_id is not None:
        if transform_id not in store.code_containers:
            raise bad_request("Input transform is not reusable")
        return transform_id
    transform = body.get("transform")
    if transform is None:
        return None
    if not isinstance(transform, dict):
        raise bad_request("transform must be an object")
    operations = transform.get("operations", [transform])
    if not isinstance(operations, list):
        raise bad_request("transform.operations must be a list")
    container = builder.add_code_container(
        store, f"{name}-transform", operations, now_ms, reusable=False
    )
    return container.id


def create_data_set(
    store: Store, body: dict[str, Any], now_ms: int, actor: lifecycle.Actor
) -> DataSet:
    name = text_field(body, "name", required=True) or ""
    parent_id = id_field(body, "parent_data_set_id", required=True)
    if not isinstance(body.get("has_custom_transform"), bool):
        raise bad_request("has_custom_transform is required (true or false)")
    if "public" in body or "managed" in body:
        raise bad_request("Input cannot include public or managed attribute")
    if body.get("data_source_id") is not None:
        raise bad_request("Detected data set cannot also have a parent data set")
    parent = store.data_sets.get(parent_id or -1)
    if parent is None:
        raise bad_request(f"parent_data_set_id {parent_id} not found")
    description = text_field(body, "description", max_len=2000)
    tags = tags_field(body)
    if body.get("output_schema_validation_enabled") not in (None, True, False):
        raise bad_request("output_schema_validation_enabled must be a boolean")
    container_id = _transform_container(store, body, name, now_ms)
    data_set = builder.add_derived(
        store, parent, name, container_id, now_ms, status=INIT, description=description, tags=tags
    )
    data_set.validation_enabled = bool(body.get("output_schema_validation_enabled", False))
    store.audit_event(
        DATA_SETS,
        data_set.id,
        "create",
        {"name": [None, name]},
        actor.user_id,
        now_ms,
        user_agent=actor.user_agent,
    )
    return data_set


def update_data_set(
    store: Store, data_set: DataSet, body: dict[str, Any], now_ms: int, actor: lifecycle.Actor
) -> None:
    name = text_field(body, "name")
    description = text_field(body, "description", max_len=2000)
    tags = tags_field(body)
    validation = body.get("output_schema_validation_enabled")
    if validation not in (None, True, False):
        raise bad_request("output_schema_validation_enabled must be a boolean")
    if ("transform_id" in body or "transform" in body) and data_set.data_source_id is not None:
        raise bad_request("A detected data set cannot have a transform")
    container_id = _transform_container(store, body, name or data_set.name, now_ms)
    changes: dict[str, list[Any]] = {}
    for key, value in (
        ("name", name),
        ("description", description),
        ("tags", tags),
        ("validation_enabled", validation),
        ("code_container_id", container_id),
    ):
        if value is not None and value != getattr(data_set, key):
            changes[key] = [getattr(data_set, key), value]
            setattr(data_set, key, value)
    if "code_container_id" in changes:
        healing.after_transform_change(store, store.code_containers[container_id or 0], now_ms)
    _record_update(store, DATA_SETS, data_set, changes, now_ms, actor)


def create_sink(store: Store, body: dict[str, Any], now_ms: int, actor: lifecycle.Actor) -> Sink:
    name = text_field(body, "name", required=True) or ""
    sink_type = text_field(body, "sink_type", required=True) or ""
    if not connectors.is_known(sink_type):
        raise bad_request("Unknown connector type")
    credential_id = _credential(store, id_field(body, "data_credentials_id", required=True))
    data_set = store.data_sets.get(id_field(body, "data_set_id", required=True) or -1)
    if data_set is None:
        raise bad_request("data_set_id not found")
    config = dict_field(body, "sink_config") or {}
    sink_format = body.get("sink_format")
    if sink_format is not None and sink_format not in connectors.SINK_FORMATS:
        raise bad_request("Unknown sink format")
    description = text_field(body, "description", max_len=2000)
    tags = tags_field(body)
    sink = builder.add_sink(
        store,
        data_set,
        name,
        sink_type,
        credential_id,
        config,
        now_ms,
        status=INIT,
        sink_format=sink_format,
        description=description,
        tags=tags,
    )
    store.audit_event(
        SINKS,
        sink.id,
        "create",
        {"name": [None, name]},
        actor.user_id,
        now_ms,
        user_agent=actor.user_agent,
    )
    return sink


def update_sink(
    store: Store, sink: Sink, body: dict[str, Any], now_ms: int, actor: lifecycle.Actor
) -> None:
    name = text_field(body, "name")
    description = text_field(body, "description", max_len=2000)
    config = dict_field(body, "sink_config")
    tags = tags_field(body)
    credential_id = _credential(store, id_field(body, "data_credentials_id"))
    new_set_id = id_field(body, "data_set_id")
    if new_set_id is not None and new_set_id not in store.data_sets:
        raise bad_request("data_set_id not found")
    changes: dict[str, list[Any]] = {}
    for key, value in (
        ("name", name),
        ("description", description),
        ("sink_config", config),
        ("tags", tags),
    ):
        if value is not None and value != _current(sink, key):
            changes[key] = [_current(sink, key), value]
            _assign(sink, key, value)
    if credential_id is not None and credential_id != sink.credential_id:
        changes["data_credentials_id"] = [sink.credential_id, credential_id]
        sink.credential_id = credential_id
    if new_set_id is not None and new_set_id != sink.data_set_id:
        changes["data_set_id"] = [sink.data_set_id, new_set_id]
        _move_sink(store, sink, store.data_sets[new_set_id])
    _record_update(store, SINKS, sink, changes, now_ms, actor)


def _move_sink(store: Store, sink: Sink, data_set: DataSet) -> None:
    node = store.nodes[sink.node_id]
    store.nodes[node.parent_id or -1].children.remove(node.id)
    parent = store.nodes[data_set.node_id]
    parent.children.append(node.id)
    node.parent_id, node.origin_id = parent.id, parent.origin_id
    sink.data_set_id = data_set.id


def resolve_credentials(store: Store, credential_id: int, now_ms: int) -> None:
    """New secrets fix an expired or forbidden credential; flows using it run healthy again."""
    credential = store.credentials[credential_id]
    if credential.health == "valid":
        return
    credential.health = "valid"
    for source in store.sources.values():
        if source.credential_id == credential_id:
            flow = store.flow_of_node(source.node_id)
            history.switch_profile(flow, now_ms, lifecycle.run_profile(store, flow))
