"""What the resources toolset returns, and how Nexla's objects become it.

Every string that came from Nexla goes through ``clean``/``clean_value``; sample records are
also cut down in size, since they are whatever the pipeline carries.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from nexla_mcp.nexla import Credential, Destination, Nexset, Resource, Source
from nexla_mcp.tools._budget import LeftOut, Tokens, left_out, shorten
from nexla_mcp.tools._views import NAME_CHARS, CompactModel, clean, clean_value, iso

__all__ = [
    "CredentialList",
    "CredentialRow",
    "NexsetSamples",
    "ResourceList",
    "ResourceRow",
    "ResourceView",
    "TransformView",
    "capped_record",
    "code_text",
    "credential_row",
    "credentials_left_out",
    "record_of",
    "resource_row",
    "resource_view",
    "samples_left_out",
    "short_credential_row",
]

SAMPLE_VALUE_CHARS = 200
# Strings in sample records under a tight max_tokens.
SHORT_SAMPLE_VALUE_CHARS = 40
MAX_SAMPLE_FIELDS = 40
MAX_SAMPLE_ITEMS = 10
MAX_SAMPLE_DEPTH = 3
MAX_SCHEMA_FIELDS = 50


class ResourceRow(CompactModel):
    """One source, nexset or destination in a list."""

    resource_id: int
    name: str | None = None
    status: str | None = None
    connector: str | None = Field(None, description="source_type or sink_type")
    flow_id: int | None = None
    updated_at: str | None = None


class ResourceList(CompactModel):
    """A page of resources."""

    resource_type: str
    resources: list[ResourceRow] = Field(default_factory=list)
    total: int | None = None
    truncated: bool
    next_cursor: str | None = None
    left_out: LeftOut = None
    tokens: Tokens = None


class ResourceView(CompactModel):
    """One source, nexset or destination."""

    resource_type: str
    resource_id: int
    name: str | None = None
    status: str | None = None
    runtime_status: str | None = None
    connector: str | None = Field(None, description="source_type or sink_type")
    flow_id: int | None = None
    credential_id: int | None = None
    data_source_id: int | None = None
    parent_nexset_id: int | None = None
    nexset_id: int | None = Field(None, description="For a destination: the nexset it writes")
    transform_id: int | None = None
    poll_schedule: str | None = Field(None, description="A source's polling schedule")
    destination_ids: list[int] = Field(default_factory=list)
    last_run_id: int | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    schema_fields: list[str] = Field(default_factory=list, description="Output schema fields")
    config: dict[str, Any] | None = Field(None, description="Connector config (detail=full)")
    created_at: str | None = None
    updated_at: str | None = None


class NexsetSamples(CompactModel):
    """Cached sample records of a nexset: untrusted data, sanitised and capped."""

    nexset_id: int
    records: list[dict[str, Any]] = Field(default_factory=list)
    returned: int
    fields: list[str] = Field(default_factory=list, description="Top-level fields seen")
    left_out: LeftOut = None
    tokens: Tokens = None


class CredentialRow(CompactModel):
    """A credential's metadata (never its secret)."""

    credential_id: int
    name: str | None = None
    credentials_type: str | None = None
    verified_status: str | None = None
    verified_at: str | None = None


class CredentialList(CompactModel):
    """A page of credentials."""

    credentials: list[CredentialRow] = Field(default_factory=list)
    total: int | None = None
    truncated: bool
    next_cursor: str | None = None
    left_out: LeftOut = None
    tokens: Tokens = None


class TransformView(CompactModel):
    """A transform (code container): what it does to records."""

    transform_id: int
    name: str | None = None
    code_type: str | None = None
    output_type: str | None = None
    reusable: bool | None = None
    description: str | None = None
    code: str | None = Field(None, description="The code or operations, as text, capped")
    code_truncated: bool | None = None
    nexset_ids: list[int] = Field(default_factory=list, description="Nexsets that use it")
    updated_at: str | None = None


def _connector(resource: Resource) -> str | None:
    if isinstance(resource, Source):
        return resource.source_type or resource.connector_type
    if isinstance(resource, Destination):
        return resource.sink_type or resource.connector_type
    return None


def resource_row(resource: Resource) -> ResourceRow:
    return ResourceRow(
        resource_id=resource.id,
        name=clean(resource.name, NAME_CHARS),
        status=resource.status,
        connector=_connector(resource),
        flow_id=resource.origin_node_id,
        updated_at=iso(resource.updated_at),
    )


def _schema_fields(schema: dict[str, Any] | None) -> list[str]:
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict):
        return []
    return [clean(name, NAME_CHARS) or "" for name in list(properties)[:MAX_SCHEMA_FIELDS]]


def resource_view(resource_type: str, resource: Resource, detail: str) -> ResourceView:
    full = detail == "full"
    view = ResourceView(
        resource_type=resource_type,
        resource_id=resource.id,
        name=clean(resource.name, NAME_CHARS),
        status=resource.status,
        runtime_status=resource.runtime_status,
        connector=_connector(resource),
        flow_id=resource.origin_node_id,
        description=clean(resource.description),
        tags=[clean(tag, NAME_CHARS) or "" for tag in resource.tags if isinstance(tag, str)],
        created_at=iso(resource.created_at) if full else None,
        updated_at=iso(resource.updated_at),
    )
    if isinstance(resource, Source):
        view.credential_id, view.last_run_id = resource.credential_id, resource.last_run_id
        view.poll_schedule = clean(resource.poll_schedule, NAME_CHARS)
        view.config = (
            clean_value(resource.source_config) if full and resource.source_config else None
        )
    elif isinstance(resource, Nexset):
        view.credential_id, view.data_source_id = resource.credential_id, resource.data_source_id
        view.parent_nexset_id, view.transform_id = resource.parent_nexset_id, resource.transform_ref
        view.destination_ids = resource.data_sink_ids or [
            sink["id"] for sink in resource.data_sinks if isinstance(sink.get("id"), int)
        ]
        view.schema_fields = _schema_fields(resource.output_schema)
    elif isinstance(resource, Destination):
        view.credential_id, view.nexset_id = resource.credential_id, resource.data_set_id
        view.data_source_id = resource.data_source_id
        view.config = clean_value(resource.sink_config) if full and resource.sink_config else None
    return view


def capped_record(value: Any, depth: int = 0) -> Any:
    """A sample value cut down to a bounded size (strings are capped by ``clean_value``)."""
    if isinstance(value, dict):
        if depth >= MAX_SAMPLE_DEPTH:
            return "…"
        return {
            str(k): capped_record(v, depth + 1) for k, v in list(value.items())[:MAX_SAMPLE_FIELDS]
        }
    if isinstance(value, list):
        if depth >= MAX_SAMPLE_DEPTH:
            return "…"
        return [capped_record(item, depth + 1) for item in value[:MAX_SAMPLE_ITEMS]]
    return value


def record_of(sample: dict[str, Any]) -> dict[str, Any]:
    """The record inside one of the sample shapes of docs/nexla-api.md §8.4."""
    inner = sample.get("output", sample)
    if isinstance(inner, dict) and isinstance(inner.get("rawMessage"), dict):
        return inner["rawMessage"]
    return inner if isinstance(inner, dict) else {"value": inner}


def code_text(code: Any) -> str | None:
    if code is None:
        return None
    if isinstance(code, list):
        scripts = [
            op["spec"]["script"]
            for op in code
            if isinstance(op, dict)
            and isinstance(op.get("spec"), dict)
            and isinstance(op["spec"].get("script"), str)
            and op["spec"].get("encoding") != "base64"
        ]
        if scripts and len(scripts) == len(code):
            return "\n\n".join(scripts)
    return code if isinstance(code, str) else json.dumps(code, ensure_ascii=False, default=str)


def credential_row(credential: Credential) -> CredentialRow:
    return CredentialRow(
        credential_id=credential.id,
        name=clean(credential.name, NAME_CHARS),
        credentials_type=credential.credentials_type,
        verified_status=clean(credential.verified_status, NAME_CHARS),
        verified_at=iso(credential.verified_at),
    )


def short_credential_row(row: CredentialRow) -> CredentialRow:
    """A row for a tight budget: the name cut short, no verification time (get_credential
    has both)."""
    return row.model_copy(update={"name": shorten(row.name), "verified_at": None})


def credentials_left_out(rows: int, short: bool, budget: int | None) -> str | None:
    what = [f"{rows} more credentials (next_cursor resumes at them)"] if rows else []
    what += ["names shortened and verified_at dropped (get_credential has them)"] if short else []
    return left_out(budget, what)


def samples_left_out(records: int, short: bool, budget: int | None) -> str | None:
    what = (
        [f"{records} more records (a larger max_tokens, or none, returns them)"] if records else []
    )
    what += [f"strings cut to {SHORT_SAMPLE_VALUE_CHARS} characters"] if short else []
    return left_out(budget, what)
