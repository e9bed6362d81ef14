"""Finding a flow (by id or by one of its resources) and the view ``get_flow`` returns of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from nexla_mcp.errors import NotFoundError
from nexla_mcp.nexla import FlowDocument, FlowNode
from nexla_mcp.nexla.models.base import new_list
from nexla_mcp.tools._flow_runs import RecentRuns
from nexla_mcp.tools._views import NAME_CHARS, CompactModel, bad_arguments, clean, clean_value

if TYPE_CHECKING:
    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.nexla.models import ResourceType

__all__ = [
    "FlowCredential",
    "FlowDetail",
    "FlowResource",
    "flow_detail",
    "flow_summary",
    "load_flow",
]


async def load_flow(
    client: NexlaClient,
    flow_id: int | None,
    resource_type: ResourceType | None,
    resource_id: int | None,
    *,
    operation: str,
    flows_only: bool = False,
) -> tuple[FlowDocument, FlowNode]:
    """The flow named by ``flow_id`` or by ``resource_type`` + ``resource_id`` (exactly one).

    Raises:
        ValidationError: both ways, neither, or half of the resource pair (nothing is sent).
        NotFoundError: Nexla knows no such flow or resource.
    """
    by_resource = resource_type is not None or resource_id is not None
    if (flow_id is None) == (not by_resource) or (
        by_resource and (resource_type is None or resource_id is None)
    ):
        raise bad_arguments(
            "Identify the flow either by flow_id or by resource_type + resource_id, not both.",
            "Pass flow_id alone (from list_flows), or resource_type and resource_id together.",
        )
    if flow_id is not None:
        document = await client.get_flow(flow_id, flows_only=flows_only)
    else:
        assert resource_type is not None and resource_id is not None
        document = await client.get_flow_by_resource(
            resource_type, resource_id, flows_only=flows_only
        )
    if not document.flows:
        raise NotFoundError(
            "Nexla returned no flow for that id.",
            operation=operation,
            resource_type="flows" if flow_id is not None else resource_type,
            resource_id=flow_id if flow_id is not None else resource_id,
        )
    return document, document.flows[0]


class FlowResource(CompactModel):
    """A source, nexset or destination of a flow."""

    resource_type: Literal["data_sources", "data_sets", "data_sinks"]
    resource_id: int
    name: str | None = None
    status: str | None = None
    connector: str | None = Field(None, description="source_type or sink_type")
    credential_id: int | None = None
    parent_id: int | None = Field(
        None, description="The nexset (or, for a detected nexset, the source) it reads from"
    )
    transform_id: int | None = None
    runtime_status: str | None = None
    description: str | None = None
    config: dict[str, object] | None = Field(None, description="Connector config (detail=full)")


class FlowCredential(CompactModel):
    """A credential used by the flow (never its secret)."""

    credential_id: int
    name: str | None = None
    credentials_type: str | None = None
    verified_status: str | None = None


class FlowDetail(CompactModel):
    """One flow: its graph from source through nexsets to destinations, and its recent runs."""

    flow_id: int
    name: str | None = None
    status: str | None = None
    flow_type: str | None = None
    description: str | None = None
    runs: RecentRuns | None = None
    source: FlowResource | None = None
    nexsets: list[FlowResource] = Field(default_factory=new_list)
    destinations: list[FlowResource] = Field(default_factory=new_list)
    credentials: list[FlowCredential] = Field(default_factory=new_list)


def flow_detail(document: FlowDocument, origin: FlowNode, detail: str) -> FlowDetail:
    """The flow under ``origin``, in tree order, with names and statuses from the side-loads."""
    full = detail == "full"
    sources = {source.id: source for source in document.data_sources}
    nexsets = {nexset.id: nexset for nexset in document.data_sets}
    sinks = {sink.id: sink for sink in document.data_sinks}
    result = FlowDetail(
        flow_id=origin.id,
        name=clean(origin.name, NAME_CHARS),
        status=origin.status,
        flow_type=origin.flow_type,
        description=clean(origin.description) if full else None,
    )
    parents: dict[int, FlowNode] = {}
    for node in origin.iter_nodes():
        for child in node.children:
            parents[child.id] = node
    for node in origin.iter_nodes():
        if node.resource is None:
            continue
        resource_type, resource_id = node.resource
        parent = parents.get(node.id)
        parent_id = parent.resource[1] if parent is not None and parent.resource else None
        view = FlowResource(
            resource_type=resource_type, resource_id=resource_id, parent_id=parent_id
        )
        if full:
            view.runtime_status = node.runtime_status
        if resource_type == "data_sources" and (source := sources.get(resource_id)):
            view.connector, view.credential_id = source.source_type, source.credential_id
            _describe(
                view, source.name, source.status, source.description, source.source_config, full
            )
        elif resource_type == "data_sets" and (nexset := nexsets.get(resource_id)):
            view.transform_id, view.credential_id = nexset.transform_ref, nexset.credential_id
            _describe(view, nexset.name, nexset.status, nexset.description, None, full)
        elif resource_type == "data_sinks" and (sink := sinks.get(resource_id)):
            view.connector, view.credential_id = sink.sink_type, sink.credential_id
            _describe(view, sink.name, sink.status, sink.description, sink.sink_config, full)
        if resource_type == "data_sources":
            result.source = view
        elif resource_type == "data_sets":
            result.nexsets.append(view)
        else:
            result.destinations.append(view)
    used = {
        view.credential_id
        for view in [result.source, *result.nexsets, *result.destinations]
        if view is not None and view.credential_id is not None
    }
    result.credentials = [
        FlowCredential(
            credential_id=credential.id,
            name=clean(credential.name, NAME_CHARS),
            credentials_type=credential.credentials_type,
            verified_status=clean(credential.verified_status, NAME_CHARS),
        )
        for credential in document.data_credentials
        if credential.id in used
    ]
    return result


def _describe(
    view: FlowResource,
    name: str | None,
    status: str | None,
    description: str | None,
    config: dict[str, object] | None,
    full: bool,
) -> None:
    view.name, view.status = clean(name, NAME_CHARS), status
    if full:
        view.description = clean(description)
        view.config = clean_value(config) if config else None


def flow_summary(flow: FlowDetail) -> str:
    parts = [f"Flow {flow.flow_id} '{flow.name or '?'}' is {flow.status or 'of unknown status'}"]
    if flow.runs is not None:
        runs = flow.runs
        parts.append(f"health {runs.health}")
        if runs.last_run_status:
            parts.append(f"latest run {runs.last_run_status} at {runs.last_run_at}")
        if runs.failing_since:
            parts.append(f"failing since {runs.failing_since}")
    shape = (
        f"{1 if flow.source else 0} source, {len(flow.nexsets)} nexsets, "
        f"{len(flow.destinations)} destinations"
    )
    return "; ".join(parts) + f" ({shape})."
