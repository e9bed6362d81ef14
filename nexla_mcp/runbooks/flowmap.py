"""One flow as the runbooks need it: its resources, credentials and transforms, by id.

``FlowMap`` is built from a flow document (``GET /flows/{id}`` with its side-loaded resources)
and answers the questions every runbook asks: which resource anchors the flow's metrics and
logs, what each resource is called, which credentials the flow uses and for what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nexla_mcp.errors import NotFoundError, ValidationError
from nexla_mcp.nexla import (
    Credential,
    Destination,
    FlowDocument,
    FlowNode,
    NexlaClient,
    Nexset,
    ResourceType,
    Source,
    Transform,
    gather_bounded,
)
from nexla_mcp.runbooks.report import NAME_CHARS, untrusted

__all__ = ["FlowMap", "FlowTarget", "ResourceKey", "fetch_flow", "flow_call"]

ResourceKey = tuple[ResourceType, int]
# Notifications name resource kinds in their own vocabulary (docs/nexla-api.md §1.4).
NOTIFICATION_KINDS: dict[str, str] = {
    "data_sources": "SOURCE", "data_sets": "DATASET", "data_sinks": "SINK",
}  # fmt: skip
RESOURCE_LABELS: dict[str, str] = {
    "data_sources": "source", "data_sets": "nexset", "data_sinks": "destination",
}  # fmt: skip


@dataclass(frozen=True)
class FlowTarget:
    """How the caller named the flow: by flow (node) id, or by one of its resources."""

    flow_id: int | None = None
    resource_type: ResourceType | None = None
    resource_id: int | None = None

    def __post_init__(self) -> None:
        by_resource = self.resource_type is not None or self.resource_id is not None
        if (self.flow_id is None) == (not by_resource) or (
            by_resource and (self.resource_type is None or self.resource_id is None)
        ):
            raise ValidationError(
                "Identify the flow either by flow_id or by resource_type + resource_id, not both.",
                operation="validate_arguments",
                hint="Pass flow_id alone (from list_flows), or resource_type and resource_id.",
            )


def flow_call(target: FlowTarget) -> str:
    """The API call that reads the flow named by ``target``."""
    if target.flow_id is not None:
        return f"GET /flows/{target.flow_id}"
    return f"GET /{target.resource_type}/{target.resource_id}/flow"


async def fetch_flow(client: NexlaClient, target: FlowTarget) -> FlowMap:
    """Read the flow with its side-loaded resources.

    Raises:
        NotFoundError: unknown id, or Nexla returned no flow for it.
        NexlaError: anything else the client raises.
    """
    if target.flow_id is not None:
        try:
            document = await client.get_flow(target.flow_id)
        except NotFoundError as error:
            hint = await wrong_id_hint(client, target.flow_id)
            if hint is None:
                raise
            raise NotFoundError(error.message, operation=error.operation, resource_type="flows",
                                resource_id=target.flow_id, status_code=error.status_code,
                                hint=hint) from error  # fmt: skip
    else:
        assert target.resource_type is not None and target.resource_id is not None
        document = await client.get_flow_by_resource(target.resource_type, target.resource_id)
    if not document.flows:
        raise NotFoundError(
            "Nexla returned no flow for that id.", operation="get_flow",
            resource_type="flows" if target.flow_id is not None else target.resource_type,
            resource_id=target.flow_id if target.flow_id is not None else target.resource_id,
            hint="Check the id with list_flows.",
        )  # fmt: skip
    return FlowMap.from_document(document)


# What an id given as a flow id may be instead, and how to name it then.
_OTHER_IDS: tuple[tuple[str, str], ...] = (
    ("data_sets", "nexset"), ("data_sources", "source"), ("data_sinks", "destination"),
    ("data_credentials", "credential"),
)  # fmt: skip


async def wrong_id_hint(client: NexlaClient, resource_id: int) -> str | None:
    """For an id that is no flow: which other resource it names and the form that would work
    (one lookup per kind, in parallel); None when it names nothing."""

    async def lookup(kind: str) -> bool:
        await client.get_resource(kind, resource_id)  # type: ignore[arg-type]
        return True

    found = await gather_bounded([lambda kind=kind: lookup(kind) for kind, _ in _OTHER_IDS])
    for (kind, noun), result in zip(_OTHER_IDS, found, strict=True):
        if result is True:
            head = f"{resource_id} is a {noun} id, not a flow id:"
            if kind == "data_credentials":
                return f"{head} probe_credential takes credential_id={resource_id}."
            return f"{head} pass resource_type='{kind}' and resource_id={resource_id} instead."
    return None


@dataclass(frozen=True)
class FlowMap:
    """A flow's tree and side-loaded resources, indexed (see module docstring)."""

    origin: FlowNode
    order: tuple[ResourceKey, ...]
    sources: dict[int, Source] = field(default_factory=dict)
    nexsets: dict[int, Nexset] = field(default_factory=dict)
    sinks: dict[int, Destination] = field(default_factory=dict)
    credentials: dict[int, Credential] = field(default_factory=dict)
    transforms: dict[int, Transform] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: FlowDocument) -> FlowMap:
        origin = document.flows[0]
        order = tuple(node.resource for node in origin.iter_nodes() if node.resource is not None)
        return cls(
            origin=origin,
            order=order,
            sources={item.id: item for item in document.data_sources},
            nexsets={item.id: item for item in document.data_sets},
            sinks={item.id: item for item in document.data_sinks},
            credentials={item.id: item for item in document.data_credentials},
            transforms={item.id: item for item in document.code_containers},
        )

    @property
    def flow_id(self) -> int:
        """The flow's id: its origin node's id."""
        return self.origin.id

    @property
    def name(self) -> str | None:
        return untrusted(self.origin.name, NAME_CHARS)

    @property
    def status(self) -> str:
        """The flow's status (the origin's), upper case; ``UNKNOWN`` when Nexla gave none."""
        return (self.origin.status or "UNKNOWN").upper()

    @property
    def anchor(self) -> ResourceKey | None:
        """The resource whose flow metrics and logs cover the whole flow: the origin's."""
        return self.origin.resource

    def resources(self, kind: ResourceType) -> list[int]:
        """Ids of the flow's resources of one kind, in tree order."""
        return [resource_id for resource_type, resource_id in self.order if resource_type == kind]

    def resource(self, key: ResourceKey) -> Source | Nexset | Destination | None:
        resource_type, resource_id = key
        table: dict[int, Source] | dict[int, Nexset] | dict[int, Destination] = {
            "data_sources": self.sources, "data_sets": self.nexsets, "data_sinks": self.sinks,
        }[resource_type]  # fmt: skip
        return table.get(resource_id)

    def label(self, key: ResourceKey) -> str:
        """``source 5101 'orders-s3'``: kind, id and (sanitised) name."""
        resource = self.resource(key)
        name = untrusted(resource.name, 60) if resource is not None else None
        base = f"{RESOURCE_LABELS[key[0]]} {key[1]}"
        return f"{base} '{name}'" if name else base

    def credential_users(self) -> dict[int, list[ResourceKey]]:
        """Credential id -> the flow's resources using it; the source's credential first."""
        users: dict[int, list[ResourceKey]] = {}
        for key in self.order:
            resource = self.resource(key)
            credential_id = getattr(resource, "credential_id", None)
            if credential_id is not None:
                users.setdefault(credential_id, []).append(key)
        return users

    def credential_label(self, credential_id: int) -> str:
        credential = self.credentials.get(credential_id)
        name = untrusted(credential.name, 60) if credential is not None else None
        return f"credential {credential_id} '{name}'" if name else f"credential {credential_id}"

    def transform_of(self, nexset_id: int) -> Transform | None:
        nexset = self.nexsets.get(nexset_id)
        reference = nexset.transform_ref if nexset is not None else None
        return self.transforms.get(reference) if reference is not None else None

    def kind_of_status(self) -> Literal["running", "paused", "not_started", "other"]:
        """ACTIVE flows run; PAUSED ones were stopped; INIT (or DRAFT) ones never started."""
        status = self.status
        if status == "ACTIVE":
            return "running"
        if status == "PAUSED":
            return "paused"
        if status in ("INIT", "DRAFT"):
            return "not_started"
        return "other"
