"""Flows and resources: flow documents, sources, nexsets, destinations, credentials, transforms.

Every field but ``id`` is optional and unknown fields are kept: the server sends more than the SDK
models, fewer than the docs claim, and status enums are open strings (§19 #23). Accessors smooth
over the documented inconsistencies (§19 #16, #17).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import Field, field_validator

from nexla_mcp.nexla.models.base import RESOURCE_KEYS, NexlaModel, ResourceType, new_list
from nexla_mcp.redaction import redact_text

__all__ = [
    "Credential",
    "Destination",
    "FlowDocument",
    "FlowNode",
    "FlowsPage",
    "Nexset",
    "Page",
    "Resource",
    "Source",
    "Transform",
]

T = TypeVar("T")


class FlowNode(NexlaModel):
    """One node of a flow tree; origin nodes also carry the flow's status, name and type."""

    id: int
    origin_node_id: int | None = None
    parent_node_id: int | None = None
    data_source_id: int | None = None
    data_set_id: int | None = None
    data_sink_id: int | None = None
    node_type: str | None = None
    runtime_status: str | None = None
    status: str | None = None
    name: str | None = None
    description: str | None = None
    flow_type: str | None = None
    project_id: int | None = None
    last_run_id: int | None = None
    shared_data_set_id: int | None = None
    children: list[FlowNode] = Field(default_factory=new_list)

    @property
    def is_origin(self) -> bool:
        """True for the root of a flow."""
        return self.parent_node_id is None and self.origin_node_id in (None, self.id)

    @property
    def resource(self) -> tuple[ResourceType, int] | None:
        """The (resource_type, resource_id) this node wraps."""
        for key, resource_type in RESOURCE_KEYS.items():
            value = getattr(self, key)
            if value is not None:
                return resource_type, value
        return None

    def iter_nodes(self) -> Iterator[FlowNode]:
        """This node and all its descendants, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


class Resource(NexlaModel):
    """Fields common to sources, nexsets, destinations and credentials."""

    id: int
    name: str | None = None
    description: str | None = None
    status: str | None = None
    runtime_status: str | None = None
    owner_id: int | None = None
    org_id: int | None = None
    flow_node_id: int | None = None
    origin_node_id: int | None = None
    tags: list[Any] = Field(default_factory=new_list)
    access_roles: list[str] = Field(default_factory=new_list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class _HasCredential(Resource):
    data_credentials_id: int | None = None
    data_credentials: dict[str, Any] | None = None

    @property
    def credential_id(self) -> int | None:
        """The credential's id from ``data_credentials_id`` or the nested object (§19 #16)."""
        if self.data_credentials_id is not None:
            return self.data_credentials_id
        nested = self.data_credentials or {}
        value = nested.get("id")
        return value if isinstance(value, int) else None


class Source(_HasCredential):
    """A data source (``/data_sources``)."""

    source_type: str | None = None
    connector_type: str | None = None
    ingest_method: str | None = None
    source_config: dict[str, Any] | None = None
    poll_schedule: str | None = None
    last_run_id: int | None = None
    run_ids: list[Any] = Field(default_factory=new_list)
    flow_type: str | None = None


class Nexset(_HasCredential):
    """A nexset (``/data_sets``)."""

    data_source_id: int | None = None
    parent_data_set_id: int | None = None
    parent_data_set_ids: list[int] = Field(default_factory=new_list)
    parent_data_sets: list[dict[str, Any]] = Field(default_factory=new_list)
    transform_id: int | None = None
    code_container_id: int | None = None
    data_sink_ids: list[int] = Field(default_factory=new_list)
    data_sinks: list[dict[str, Any]] = Field(default_factory=new_list)
    output_schema: dict[str, Any] | None = None

    @property
    def parent_nexset_id(self) -> int | None:
        """The parent nexset from whichever of the three documented shapes is present (§19 #17)."""
        if self.parent_data_set_id is not None:
            return self.parent_data_set_id
        if self.parent_data_set_ids:
            return self.parent_data_set_ids[0]
        for parent in self.parent_data_sets:
            if isinstance(parent.get("id"), int):
                return parent["id"]
        return None

    @property
    def transform_ref(self) -> int | None:
        """The code container applied: ``transform_id`` (views) or ``code_container_id`` (flows)."""
        return self.transform_id if self.transform_id is not None else self.code_container_id


class Destination(_HasCredential):
    """A destination (``/data_sinks``)."""

    sink_type: str | None = None
    connector_type: str | None = None
    data_set_id: int | None = None
    data_source_id: int | None = None
    sink_config: dict[str, Any] | None = None


class Credential(Resource):
    """A data credential; secrets are never part of it."""

    credentials_type: str | None = None
    verified_status: str | None = None
    verified_at: datetime | None = None
    credentials_non_secure_data: dict[str, Any] | None = None

    @field_validator("verified_status", mode="after")
    @classmethod
    def _scrub(cls, value: str | None) -> str | None:
        # The probe writes "<status> <upstream message>" here, and upstream messages echo tokens.
        return redact_text(value) if value else value


class Transform(Resource):
    """A code container (``/transforms``); there is no status field (§19 #18)."""

    code_type: str | None = None
    output_type: str | None = None
    code_encoding: str | None = None
    reusable: bool | None = None
    public: bool | None = None
    code: Any = None
    data_sets: list[Any] = Field(default_factory=new_list)


class FlowDocument(NexlaModel):
    """The flow document (§6.2): origin nodes with nested children, plus side-loaded resources."""

    flows: list[FlowNode] = Field(default_factory=new_list)
    data_sources: list[Source] = Field(default_factory=new_list)
    data_sets: list[Nexset] = Field(default_factory=new_list)
    data_sinks: list[Destination] = Field(default_factory=new_list)
    data_credentials: list[Credential] = Field(default_factory=new_list)
    code_containers: list[Transform] = Field(default_factory=new_list)
    triggered_flows: list[FlowNode] = Field(default_factory=new_list)
    triggering_flows: list[FlowNode] = Field(default_factory=new_list)
    linked_flows: list[Any] = Field(default_factory=new_list)

    def iter_nodes(self) -> Iterator[FlowNode]:
        """Every node of every flow in the document, depth first."""
        for origin in self.flows:
            yield from origin.iter_nodes()

    def find_node(self, node_id: int) -> FlowNode | None:
        """The node with this id, if present."""
        return next((node for node in self.iter_nodes() if node.id == node_id), None)

    def resource_ids(self) -> dict[ResourceType, list[int]]:
        """Ids of the sources, nexsets and sinks wrapped by the nodes, in tree order."""
        result: dict[ResourceType, list[int]] = {
            "data_sources": [],
            "data_sets": [],
            "data_sinks": [],
        }
        for node in self.iter_nodes():
            if node.resource is not None:
                resource_type, resource_id = node.resource
                result[resource_type].append(resource_id)
        return result


class FlowsPage(FlowDocument):
    """One page of ``GET /flows``: the document plus ``total`` (X-Total-Count) and page info."""

    total: int | None = None
    page: int | None = None
    per_page: int | None = None
    page_count: int | None = None


class Page(NexlaModel, Generic[T]):
    """One page of a list endpoint: items plus ``total`` from X-Total-Count."""

    items: list[T] = Field(default_factory=new_list)
    total: int | None = None
    page: int | None = None
    per_page: int | None = None
