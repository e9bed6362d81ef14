"""The sandbox's in-memory database: records indexed by id, the flow tree, and a state digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from nexla_mcp.sandbox.model import (
    DATA_SETS,
    SINKS,
    SOURCES,
    AsyncTask,
    AuditEntry,
    CodeContainer,
    Credential,
    DataSet,
    Flow,
    Node,
    Notification,
    Sink,
    Source,
    Team,
    User,
)

ORG = {"id": 101, "name": "Acme Retail Analytics", "email_domain": "acme-retail.example"}
OPS_USER = User(42, "ops@acme-retail.example", "Ops Automation")
DANA = User(57, "dana.lee@acme-retail.example", "Dana Lee")
SYSTEM_USER = User(1, "system@nexla.com", "Nexla System")
USERS = {user.id: user for user in (OPS_USER, DANA, SYSTEM_USER)}
TEAMS = {team.id: team for team in (Team(12, "data-eng"), Team(15, "analytics"))}

# Where each id sequence starts, so ids look like a long-lived tenant's and stay stable.
FIRST_IDS = {
    "data_credentials": 5001,
    SOURCES: 5101,
    DATA_SETS: 6101,
    SINKS: 7101,
    "code_containers": 7701,
    "nodes": 9001,
    "notifications": 30001,
    "audit": 80001,
    "async_tasks": 88001,
}

# Timestamps and probe results are left out so the digest only moves on real writes.
_DIGEST_SKIP = {"created_ms", "updated_ms", "verified_status", "verified_ms"}


class Store:
    """All mutable sandbox state except tokens and faults."""

    def __init__(self, anchor_ms: int) -> None:
        self.anchor_ms = anchor_ms
        self.credentials: dict[int, Credential] = {}
        self.sources: dict[int, Source] = {}
        self.data_sets: dict[int, DataSet] = {}
        self.sinks: dict[int, Sink] = {}
        self.code_containers: dict[int, CodeContainer] = {}
        self.nodes: dict[int, Node] = {}
        self.flows: dict[int, Flow] = {}
        self.notifications: dict[int, Notification] = {}
        self.audit: dict[tuple[str, int], list[AuditEntry]] = {}
        self.accessors: dict[tuple[str, int], list[dict[str, Any]]] = {}
        # The org's teams: the two seeded ones, plus those a generated org adds.
        self.teams: dict[int, Team] = dict(TEAMS)
        self.async_tasks: dict[int, AsyncTask] = {}
        self.scenarios: list[dict[str, Any]] = []
        self._tables: dict[str, dict[int, Any]] = {
            SOURCES: self.sources,
            DATA_SETS: self.data_sets,
            SINKS: self.sinks,
            "data_credentials": self.credentials,
            "code_containers": self.code_containers,
            "transforms": self.code_containers,
            "flows": self.flows,
        }
        self._next = dict(FIRST_IDS)
        self._version = 0
        self._digest: tuple[int, str] | None = None

    # ids and change tracking

    def next_id(self, sequence: str) -> int:
        value = self._next[sequence]
        self._next[sequence] = value + 1
        return value

    def touch(self) -> None:
        """Record that resource state changed (invalidates the cached digest)."""
        self._version += 1

    # lookups

    def table(self, collection: str) -> dict[int, Any]:
        """The records of a collection (`transforms` is an alias of `code_containers`)."""
        return self._tables[collection]

    def node_resource(self, node: Node) -> Source | DataSet | Sink:
        return self.table(node.resource_type)[node.resource_id]

    def flow_of_node(self, node_id: int) -> Flow:
        return self.flows[self.nodes[node_id].origin_id]

    def source_of(self, flow: Flow) -> Source:
        return self.sources[self.nodes[flow.id].resource_id]

    def subtree(self, node_id: int) -> Iterator[Node]:
        """The node and everything downstream of it, parents before children."""
        stack = [node_id]
        while stack:
            node = self.nodes[stack.pop()]
            yield node
            stack.extend(reversed(node.children))

    def flow_status(self, flow: Flow) -> str:
        return self.source_of(flow).status

    def user(self, user_id: int) -> User:
        return USERS.get(user_id, OPS_USER)

    # tree edits

    def add_node(self, resource_type: str, resource_id: int, parent_id: int | None) -> Node:
        node_id = self.next_id("nodes")
        origin_id = node_id if parent_id is None else self.nodes[parent_id].origin_id
        node = Node(node_id, origin_id, parent_id, resource_type, resource_id)
        self.nodes[node_id] = node
        if parent_id is not None:
            self.nodes[parent_id].children.append(node_id)
        self.touch()
        return node

    def remove_subtree(self, node_id: int) -> None:
        doomed = list(self.subtree(node_id))
        top = doomed[0]
        if top.parent_id is not None:
            self.nodes[top.parent_id].children.remove(top.id)
        for node in doomed:
            self.table(node.resource_type).pop(node.resource_id, None)
            self.nodes.pop(node.id)
            self.accessors.pop((node.resource_type, node.resource_id), None)
        if top.parent_id is None:
            self.flows.pop(top.id, None)
        self.touch()

    # events

    def audit_event(
        self,
        collection: str,
        item_id: int,
        event: str,
        changes: dict[str, list[Any]],
        user_id: int,
        at_ms: int,
        *,
        user_agent: str = "nexla-ui/2025.3",
    ) -> None:
        entry = AuditEntry(
            self.next_id("audit"), collection, item_id, event, changes, user_id, at_ms, user_agent
        )
        self.audit.setdefault((collection, item_id), []).append(entry)

    def notify(
        self, level: str, resource_type: str, resource_id: int, message: str, at_ms: int
    ) -> None:
        note_id = self.next_id("notifications")
        self.notifications[note_id] = Notification(
            note_id, level, resource_type, resource_id, message, at_ms, OPS_USER.id
        )

    # digest

    def counts(self) -> dict[str, int]:
        return {
            "flows": len(self.flows),
            "flow_nodes": len(self.nodes),
            SOURCES: len(self.sources),
            DATA_SETS: len(self.data_sets),
            SINKS: len(self.sinks),
            "data_credentials": len(self.credentials),
            "code_containers": len(self.code_containers),
        }

    def digest(self) -> str:
        """sha256 over every resource's state, its place in a flow and its accessors."""
        if self._digest is not None and self._digest[0] == self._version:
            return self._digest[1]
        hasher = hashlib.sha256()
        tables: list[tuple[str, dict[int, Any]]] = [
            ("data_credentials", self.credentials),
            (SOURCES, self.sources),
            (DATA_SETS, self.data_sets),
            (SINKS, self.sinks),
            ("code_containers", self.code_containers),
            ("nodes", self.nodes),
        ]
        for name, table in tables:
            for key in sorted(table):
                record = {k: v for k, v in asdict(table[key]).items() if k not in _DIGEST_SKIP}
                hasher.update(f"{name}:{key}:".encode())
                hasher.update(json.dumps(record, sort_keys=True, default=str).encode())
        for flow_id in sorted(self.flows):
            flow = self.flows[flow_id]
            hasher.update(f"flow:{flow_id}:{flow.name}:{flow.description}".encode())
        for key in sorted(self.accessors):
            hasher.update(f"acl:{key}:".encode())
            hasher.update(json.dumps(self.accessors[key], sort_keys=True).encode())
        value = hasher.hexdigest()
        self._digest = (self._version, value)
        return value
