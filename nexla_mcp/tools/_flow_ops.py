"""Flow writes as ``WriteOperation``s: pause and activate (with Nexla's cascade) and delete.

Cascade rules (fact sheet §6.5, §20): activating or pausing a node changes that node and
everything downstream of it; ``all`` starts from the flow's origin instead. Deleting a node
removes it and everything downstream, resources included, and Nexla refuses (405) while
anything in that scope is ACTIVE (§6.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nexla_mcp.errors import NotFoundError, ValidationError
from nexla_mcp.nexla import FlowDocument, FlowNode, NexlaClient, ResourceType
from nexla_mcp.server.text import sanitize_text
from nexla_mcp.server.write_policy import FlowScope
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
    watch_after,
)

__all__ = ["ActivateFlow", "DeleteFlow", "FlowTarget", "PauseFlow", "count_nouns", "subject"]

ACTIVE, PAUSED, DELETED = "ACTIVE", "PAUSED", "DELETED"
NOUNS: dict[str, str] = {
    "data_sources": "source",
    "data_sets": "nexset",
    "data_sinks": "destination",
}
NAME_CHARS = 80


def subject(kind: str, ident: Any, name: str | None = None) -> str:
    """``data_sinks 7114 'orders-snowflake'``: how plans name one thing (names sanitised)."""
    label = f"{kind} {ident}"
    return f"{label} '{sanitize_text(name, max_chars=NAME_CHARS)}'" if name else label


def count_nouns(nodes: list[dict[str, Any]]) -> str:
    """``1 source, 2 nexsets and 1 destination``."""
    parts = []
    for resource_type, noun in NOUNS.items():
        n = sum(1 for node in nodes if node["resource_type"] == resource_type)
        if n:
            parts.append(f"{n} {noun}{'' if n == 1 else 's'}")
    if len(parts) < 2:
        return parts[0] if parts else "nothing"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class FlowTarget:
    """A flow node named by its id, or by the source/nexset/destination it wraps."""

    flow_id: int | None = None
    resource_type: ResourceType | None = None
    resource_id: int | None = None

    def __post_init__(self) -> None:
        by_resource = self.resource_type is not None or self.resource_id is not None
        if self.flow_id is not None and by_resource:
            raise ValidationError(
                "Give either flow_id, or resource_type with resource_id, not both.",
                operation="validate_arguments", hint="Name the flow node or the resource.",
            )  # fmt: skip
        if self.flow_id is None and (self.resource_type is None or self.resource_id is None):
            raise ValidationError(
                "Give flow_id, or resource_type together with resource_id.",
                operation="validate_arguments",
                hint="list_flows and get_flow show flow ids and the ids of their resources.",
            )  # fmt: skip

    @property
    def arguments(self) -> dict[str, Any]:
        """The target as tool arguments."""
        if self.flow_id is not None:
            return {"flow_id": self.flow_id}
        return {"resource_type": self.resource_type, "resource_id": self.resource_id}

    @property
    def resource(self) -> tuple[str, int] | None:
        """(resource_type, resource_id) when named by resource."""
        if self.resource_type is None or self.resource_id is None:
            return None
        return self.resource_type, self.resource_id


class FlowView:
    """A flow reduced to what writes reason about: every node with its resource's status."""

    def __init__(self, document: FlowDocument, start: FlowNode, origin: FlowNode) -> None:
        self.start, self.origin = start, origin
        resources = {
            (resource_type, resource.id): resource
            for resource_type in NOUNS for resource in getattr(document, resource_type)
        }  # fmt: skip
        self.nodes: list[dict[str, Any]] = []
        self.running: list[str] = []
        for node in origin.iter_nodes():
            resource_type, resource_id = node.resource or ("unknown", 0)
            resource = resources.get((resource_type, resource_id))
            name = resource.name if resource is not None else None
            entry = {
                "node_id": node.id, "parent_node_id": node.parent_node_id,
                "resource_type": resource_type, "resource_id": resource_id,
                "name": sanitize_text(name, max_chars=NAME_CHARS) if name else None,
                "status": resource.status if resource is not None else node.status,
            }  # fmt: skip
            self.nodes.append(entry)
            if node.runtime_status and node.runtime_status != "IDLE":
                self.running.append(f"{self.label(entry)} is {node.runtime_status}")

    @classmethod
    async def read(cls, client: NexlaClient, target: FlowTarget) -> FlowView:
        """GET the flow containing ``target``.

        Raises:
            NotFoundError: unknown node or resource.
        """
        resource = target.resource
        if target.flow_id is not None:
            document = await client.get_flow(target.flow_id)
            start = document.find_node(target.flow_id)
        else:
            assert target.resource_type is not None and target.resource_id is not None
            document = await client.get_flow_by_resource(target.resource_type, target.resource_id)
            start = next((n for n in document.iter_nodes() if n.resource == resource), None)
        for origin in document.flows:
            if start is not None and any(node.id == start.id for node in origin.iter_nodes()):
                return cls(document, start, origin)
        raise NotFoundError(f"{subject('flow node', target.flow_id or resource)} is not in the "
                            "flow Nexla returned.")  # fmt: skip

    @property
    def flow(self) -> str:
        """``flow 9001 'Orders S3 to Snowflake'``."""
        return subject("flow", self.origin.id, self.origin.name)

    def label(self, node: dict[str, Any]) -> str:
        """How a plan names one node's resource."""
        return subject(node["resource_type"], node["resource_id"], node["name"])

    def scope(self, root: FlowNode) -> list[dict[str, Any]]:
        """``root`` and every node downstream of it."""
        ids = {node.id for node in root.iter_nodes()}
        return [node for node in self.nodes if node["node_id"] in ids]

    def state(self) -> dict[str, Any]:
        """The state plans are bound to: the tree, every resource's status (no run data)."""
        name = sanitize_text(self.origin.name, max_chars=NAME_CHARS) if self.origin.name else None
        return {"flow_id": self.origin.id, "flow_name": name, "nodes": self.nodes}

    def where(self, root: FlowNode) -> str:
        """The scope in words."""
        if root.id == self.origin.id:
            return f"the whole flow, from its origin node {root.id}"
        return f"node {root.id} and everything downstream of it"


class _StatusChange(WriteOperation):
    """Pause or activate a node and everything downstream (or, with ``all``, the whole flow)."""

    action: ClassVar[str]
    target_status: ClassVar[str]
    opposite: ClassVar[tuple[str, str]]

    def __init__(self, target: FlowTarget, whole_flow: bool) -> None:
        self.target = target
        self.whole_flow = whole_flow

    @property
    def arguments(self) -> dict[str, Any]:
        return {**self.target.arguments, "all": self.whole_flow}

    @property
    def named_flow_ids(self) -> frozenset[int]:
        return frozenset({self.target.flow_id}) if self.target.flow_id else frozenset()

    async def observe(self, client: NexlaClient) -> Observation:
        view = await FlowView.read(client, self.target)
        root = view.origin if self.whole_flow else view.start
        scoped = view.scope(root)
        moving = [node for node in scoped if node["status"] != self.target_status]
        effect = "stop" if self.target_status == PAUSED else "start"
        if moving:
            change = (f"{self.action.capitalize()} {view.flow}, {view.where(root)}: "
                      f"{count_nouns(moving)} {effect}.")  # fmt: skip
        else:
            change = (f"Nothing to {self.action}: {view.where(root)} of {view.flow} is "
                      f"already {self.target_status}.")  # fmt: skip
        outside = [view.label(node) for node in view.nodes if node not in scoped]
        notes = [f"Nexla {self.action}s the named node and every node downstream of it; "
                 "all=true starts from the flow's origin."]  # fmt: skip
        if any(node["resource_type"] == "data_sources" for node in moving):
            notes.append("Activating the source starts a new run right away."
                         if self.target_status == ACTIVE
                         else "No new runs start until the flow is activated again.")  # fmt: skip
        rest = (
            f"; {len(outside)} node(s) upstream or beside it keep their status" if outside else ""
        )
        moved = f"{count_nouns(moving)} {effect}" if moving else "nothing changes"
        blast = BlastRadius(
            summary=f"In {view.flow}, {moved}{rest}.",
            affected=[view.label(node) for node in moving], unaffected=outside,
            runs_in_flight=view.running, notes=notes,
        )  # fmt: skip
        return Observation(
            state=view.state(), change=change,
            changes=[Change(subject=view.label(n), field="status", before=n["status"],
                            after=self.target_status) for n in moving],
            scope=FlowScope(view.origin.id, frozenset({view.start.id})),
            blast_radius=blast, reverse=self._reverse(view, scoped, moving),
            follow_up=watch_after(view.origin.id) if self.target_status == ACTIVE else None,
        )  # fmt: skip

    def _reverse(self, view: FlowView, scoped: list[dict[str, Any]],
                 moving: list[dict[str, Any]]) -> ReverseAction:  # fmt: skip
        undo_tool, undo_status = self.opposite
        undo_verb = undo_tool.removesuffix("_flow")
        caveats = []
        also = [view.label(n) for n in scoped if n not in moving and n["status"] != undo_status]
        if also:
            caveats.append(f"The undo {undo_verb}s the same scope, so it also changes "
                           f"{', '.join(also)}, which this call leaves alone.")  # fmt: skip
        lost = [f"{view.label(n)} ({n['status']})" for n in moving if n["status"] != undo_status]
        if lost:
            caveats.append(f"These end {undo_status}, not as they are now: {', '.join(lost)}.")
        return ReverseAction(tool=undo_tool, arguments=self.arguments,
                             note=" ".join(caveats) or None)  # fmt: skip

    async def execute(self, client: NexlaClient) -> None:
        flow_call, resource_call = (
            (client.pause_flow, client.pause_flow_by_resource) if self.target_status == PAUSED
            else (client.activate_flow, client.activate_flow_by_resource)
        )  # fmt: skip
        if self.target.flow_id is not None and self.target_status == ACTIVE:
            # run_now (§6.5): the first run after a fix starts now, not at the next schedule.
            await client.activate_flow(self.target.flow_id, all=self.whole_flow, run_now=True)
        elif self.target.flow_id is not None:
            await flow_call(self.target.flow_id, all=self.whole_flow)
        else:
            assert self.target.resource_type is not None and self.target.resource_id is not None
            await resource_call(
                self.target.resource_type, self.target.resource_id, all=self.whole_flow
            )


class PauseFlow(_StatusChange):
    """``pause_flow``."""

    tool = "pause_flow"
    action = "pause"
    target_status = PAUSED
    opposite = ("activate_flow", ACTIVE)


class ActivateFlow(_StatusChange):
    """``activate_flow``."""

    tool = "activate_flow"
    action = "activate"
    target_status = ACTIVE
    opposite = ("pause_flow", PAUSED)


class DeleteFlow(WriteOperation):
    """``delete_flow``: a node and everything downstream, with their resources. No undo."""

    tool = "delete_flow"
    destructive = True

    def __init__(self, flow_id: int) -> None:
        self.target = FlowTarget(flow_id=flow_id)
        self.flow_id = flow_id
        self._origin_id: int | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        return {"flow_id": self.flow_id}

    @property
    def named_flow_ids(self) -> frozenset[int]:
        return frozenset({self.flow_id})

    async def observe(self, client: NexlaClient) -> Observation:
        view = await FlowView.read(client, self.target)
        self._origin_id = view.origin.id
        scoped = view.scope(view.start)
        active = [view.label(node) for node in scoped if node["status"] == ACTIVE]
        blocked = None
        if active:
            blocked = (f"{', '.join(active)} {'is' if len(active) == 1 else 'are'} ACTIVE and "
                       "Nexla deletes nothing that is active: pause the flow first (pause_flow "
                       f"with flow_id={self.flow_id}), then plan the deletion again.")  # fmt: skip
        outside = [view.label(node) for node in view.nodes if node not in scoped]
        return Observation(
            state=view.state(),
            change=f"Delete {view.where(view.start)} of {view.flow}: {count_nouns(scoped)} "
            "and their configuration are removed for good.",
            changes=[Change(subject=view.label(n), field="status", before=n["status"],
                            after=DELETED) for n in scoped],
            scope=FlowScope(view.origin.id, frozenset({view.start.id})),
            blast_radius=BlastRadius(
                summary=f"{count_nouns(scoped).capitalize()} of {view.flow} are deleted"
                + (f"; {len(outside)} upstream node(s) stay." if outside else "."),
                affected=[view.label(node) for node in scoped], unaffected=outside,
                runs_in_flight=view.running,
                notes=["Credentials used by these resources are kept.",
                       "Run history and metrics of the deleted resources stop being reachable."],
            ),
            reverse=ReverseAction(note="Deletion cannot be undone: the resources must be "
                                  "re-created by hand. current_state lists what is removed."),
            blocked_by=blocked,
        )  # fmt: skip

    async def execute(self, client: NexlaClient) -> None:
        await client.delete_flow(self.flow_id)

    async def reread(self, client: NexlaClient) -> Observation:
        try:
            return await self.observe(client)
        except NotFoundError:
            return Observation(
                state={"flow_id": self._origin_id, "deleted_node_id": self.flow_id},
                change=f"Flow node {self.flow_id} no longer exists.", changes=[],
                scope=FlowScope(self._origin_id, frozenset({self.flow_id})),
            )  # fmt: skip
