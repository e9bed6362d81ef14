"""Zero-downtime schema migration: a child nexset with the new transform, checked on samples,
and a parallel destination for each destination of the old nexset.

``observe_migration`` reads the nexset, its destinations and its flow (GET only); its ``state``
is what a plan token binds. ``migration_steps`` are the journaled steps: create the child
nexset → validate its samples against the new schema (abort, with the failing records
redacted) → create the parallel destinations (same connector and credential) → activate the
child and the new destinations. The old path keeps running untouched; pausing it (cutover)
and deleting it (cleanup) are separate writes (``cutover_steps``, ``cleanup_steps``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.operations.actions import StepFailedError
from nexla_mcp.operations.runner import StepSpec
from nexla_mcp.redaction import redact_value
from nexla_mcp.runbooks.report import untrusted
from nexla_mcp.runbooks.rotation import FlowStatuses, flow_statuses

__all__ = [
    "CHECKS",
    "MigrationView",
    "cleanup_steps",
    "cutover_steps",
    "migration_steps",
    "observe_migration",
    "schema_problem",
    "validate_samples",
]

SHOWN_FAILURES = 5
_TARGET_KEYS = ("table", "path", "topic", "collection")


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a usable JSON Schema, or None."""
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        return f"output_schema is not a valid JSON Schema: {error.message[:200]}"
    return None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def parallel_config(config: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The old destination's config with its target (table, path, ...) suffixed, so the new
    destination writes beside the old one instead of into it."""
    new = dict(config)
    for key in _TARGET_KEYS:
        if isinstance(new.get(key), str) and new[key]:
            value = new[key]
            new[key] = value.rstrip("/") + suffix + ("/" if value.endswith("/") else "")
            return new
    return new


@dataclass
class MigrationView:
    """What a migration would do, read now."""

    nexset: dict[str, Any]
    destinations: list[dict[str, Any]]
    flow: FlowStatuses | None
    transform: dict[str, Any]
    output_schema: dict[str, Any]
    child_name: str
    suffix: str
    new_configs: dict[int, dict[str, Any]] = field(default_factory=dict)
    """The parallel destinations' configs as sent (the state shows them redacted)."""
    blocked_by: str | None = None
    notes: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return {
            "nexset": self.nexset,
            "destinations": self.destinations,
            "flow": self.flow.as_dict() if self.flow else None,
            "transform_digest": _digest(self.transform),
            "schema_digest": _digest(self.output_schema),
        }


async def observe_migration(
    client: NexlaClient,
    nexset_id: int,
    *,
    transform: dict[str, Any],
    output_schema: dict[str, Any],
    suffix: str,
) -> MigrationView:
    """Read the nexset, the full config of each of its destinations, and its flow.

    Raises:
        NotFoundError: unknown nexset or destination.
    """
    nexset = await client.get_nexset(nexset_id, expand=True)
    name = untrusted(nexset.name, 80) or f"nexset {nexset_id}"
    sinks = await client.list_destinations(data_set_id=nexset_id, expand=1)
    destinations, configs = [], {}
    for sink in sorted(sinks.items, key=lambda item: item.id):
        config = getattr(sink, "sink_config", None) or {}
        destinations.append(
            {
                "id": sink.id,
                "name": untrusted(sink.name, 80),
                "status": sink.status,
                "sink_type": getattr(sink, "sink_type", None),
                "credential_id": sink.credential_id,
                "sink_config": redact_value(config),
                "config_digest": _digest(config),
                "new_sink_config": redact_value(parallel_config(config, suffix)),
            }
        )
        configs[sink.id] = parallel_config(config, suffix)
    flow = await flow_statuses(client, nexset.origin_node_id) if nexset.origin_node_id else None
    view = MigrationView(
        nexset={
            "id": nexset.id,
            "name": name,
            "status": nexset.status,
            "flow_id": nexset.origin_node_id,
        },
        destinations=destinations,
        flow=flow,
        transform=transform,
        output_schema=output_schema,
        child_name=f"{name}{suffix}"[:255],
        suffix=suffix,
        new_configs=configs,
    )
    view.blocked_by = schema_problem(output_schema)
    if not destinations:
        view.notes.append("The nexset has no destinations: only the child nexset is created.")
    return view


def migration_steps(view: MigrationView, marker: str) -> list[StepSpec]:
    """The journaled steps, in order, each with its undo."""
    child = {"$from": 0}
    body = {
        "name": view.child_name,
        "parent_data_set_id": view.nexset["id"],
        "has_custom_transform": True,
        "output_schema_validation_enabled": True,
        "output_validation_schema": view.output_schema,
        **view.transform,
    }
    steps = [
        StepSpec(
            "create the child nexset",
            {"op": "create_nexset", "body": body, "marker": marker},
            {"op": "delete_resource", "resource_type": "data_sets", "resource_id": child},
        ),
        StepSpec(
            "validate the child's samples against the new schema",
            {
                "op": "check",
                "check": "validate_samples",
                "nexset_id": child,
                "schema": view.output_schema,
            },
        ),
    ]
    created: list[int] = []
    for destination in view.destinations:
        seq = len(steps)
        created.append(seq)
        steps.append(
            StepSpec(
                f"create a parallel destination for data_sinks/{destination['id']}",
                {
                    "op": "create_destination",
                    "marker": marker,
                    "body": {
                        "name": f"{destination['name']}{view.suffix}"[:255],
                        "sink_type": destination["sink_type"],
                        "data_credentials_id": destination["credential_id"],
                        "data_set_id": child,
                        "sink_config": view.new_configs[destination["id"]],
                    },
                },
                {
                    "op": "delete_resource",
                    "resource_type": "data_sinks",
                    "resource_id": {"$from": seq},
                },
            )
        )
    steps.append(_status_step("activate the child nexset", "data_sets", child))
    steps.extend(
        _status_step(f"activate the destination of step {seq}", "data_sinks", {"$from": seq})
        for seq in created
    )
    return steps


def _status_step(name: str, resource_type: str, resource_id: Any, to: str = "ACTIVE") -> StepSpec:
    target = {"resource_type": resource_type, "resource_id": resource_id}
    back = "PAUSED" if to == "ACTIVE" else "ACTIVE"
    return StepSpec(
        name,
        {"op": "set_resource_status", **target, "status": to},
        {"op": "set_resource_status", **target, "status": back},
    )


def cutover_steps(old_destinations: list[int]) -> list[StepSpec]:
    """Pause the old destinations (each undone by activating it again)."""
    return [
        _status_step(f"pause data_sinks/{sink_id}", "data_sinks", sink_id, to="PAUSED")
        for sink_id in old_destinations
    ]


def cleanup_steps(old_destinations: list[int]) -> list[StepSpec]:
    """Delete the old (paused) destinations; a deletion has no undo."""
    return [
        StepSpec(
            f"delete data_sinks/{sink_id}",
            {"op": "delete_resource", "resource_type": "data_sinks", "resource_id": sink_id},
        )
        for sink_id in old_destinations
    ]


def _record_of(sample: dict[str, Any]) -> Any:
    """The output record of one sample, whatever its shape (fact sheet §8.4)."""
    item = sample.get("output", sample)
    return item.get("rawMessage", item) if isinstance(item, dict) else item


async def validate_samples(client: NexlaClient, action: dict[str, Any]) -> dict[str, Any]:
    """Check every cached sample of the child nexset against the new schema.

    Raises:
        StepFailedError: no samples, or some do not match; ``details`` names each failing
            record's problems (paths and rules, never values) and shows it redacted.
    """
    nexset_id, schema = action["nexset_id"], action["schema"]
    samples = await client.get_nexset_samples(nexset_id, count=20)
    records = [_record_of(sample) for sample in samples]
    if not records:
        raise StepFailedError(
            f"Nexset {nexset_id} has no samples to validate the new schema against.",
            operation="validate_samples",
            resource_type="data_sets",
            resource_id=nexset_id,
        )
    validator = jsonschema.validators.validator_for(schema)(schema)
    failing = []
    for index, record in enumerate(records):
        problems = sorted(
            f"{'/'.join(str(p) for p in error.absolute_path) or '(record)'}: "
            f"{error.validator} {json.dumps(error.validator_value)[:60]}"
            for error in validator.iter_errors(record)
        )
        if problems:
            failing.append({"sample": index, "problems": problems[:5], "record": _shown(record)})
    if failing:
        raise StepFailedError(
            f"{len(failing)} of {len(records)} sample records of the child nexset do not match "
            "the new schema.",
            operation="validate_samples",
            resource_type="data_sets",
            resource_id=nexset_id,
            details={"failing_records": failing[:SHOWN_FAILURES], "checked": len(records)},
            hint="Nothing was kept: fix the transform or the schema and plan the migration again.",
        )
    return {"checked": len(records)}


def _shown(record: Any) -> Any:
    """A failing record as shown to the model: redacted, strings sanitised and capped."""
    cleaned = redact_value(record)
    if isinstance(cleaned, dict):
        return {
            untrusted(key, 60): untrusted(value, 80) if isinstance(value, str) else value
            for key, value in list(cleaned.items())[:20]
        }
    return untrusted(json.dumps(cleaned)[:200], 200)


CHECKS = {"validate_samples": validate_samples}
