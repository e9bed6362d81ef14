"""Access-list writes as ``WriteOperation``s: grant (merge), revoke (remove some), replace.

Nexla's accessor endpoints (fact sheet §15) apply to flows (their origin), sources, nexsets,
destinations and credentials. The owner's entry is implicit and cannot be changed here, and
the ``owner`` role cannot be granted. Removing everyone at once (Nexla's empty DELETE) is not
offered: revoke names whom it removes, replace names whom it keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla import Accessor, NexlaClient
from nexla_mcp.server.text import sanitize_text
from nexla_mcp.server.write_policy import FlowScope
from nexla_mcp.tools._common import MAX_ID
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
)

__all__ = [
    "AccessCollection",
    "AccessRole",
    "AccessorGrant",
    "AccessorRef",
    "AccessWrite",
    "GrantAccess",
    "ReplaceAccessors",
    "RevokeAccess",
    "accessor_view",
    "read_scope",
]

AccessCollection = Literal["flows", "data_sources", "data_sets", "data_sinks", "data_credentials"]
AccessRole = Literal["admin", "operator", "collaborator"]
MAX_ACCESSORS = 20
_ROLE_NOTE = (
    "collaborator can see the resource; operator can also activate and pause it; admin can "
    "also change who has access."
)


class AccessorRef(BaseModel):
    """Who: a user (id or email), a team (id or name) or the org (id, or nothing)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["USER", "TEAM", "ORG"]
    id: int | None = Field(None, gt=0, le=MAX_ID, description="User, team or org id")
    email: str | None = Field(None, min_length=3, max_length=254, description="USER: email")
    name: str | None = Field(None, min_length=1, max_length=255, description="TEAM: name")

    @model_validator(mode="after")
    def _identified(self) -> AccessorRef:
        if self.type == "USER" and self.id is None and self.email is None:
            raise ValueError("a USER accessor needs id or email")
        if self.type == "TEAM" and self.id is None and self.name is None:
            raise ValueError("a TEAM accessor needs id or name")
        if (self.email is not None and self.type != "USER") or (
            self.name is not None and self.type != "TEAM"
        ):
            raise ValueError("email is for USER and name for TEAM accessors")
        return self

    def matches(self, entry: Accessor) -> bool:
        """True when ``entry`` is the accessor this names."""
        if entry.type != self.type:
            return False
        if self.id is not None:
            return entry.id == self.id
        if self.email is not None:
            return (entry.email or "").lower() == self.email.lower()
        if self.name is not None:
            return entry.name == self.name
        return True  # the org itself

    def label(self) -> str:
        """``USER 57`` / ``USER dana@example.com``."""
        who = self.id if self.id is not None else self.email or self.name or ""
        return f"{self.type} {who}".strip()


class AccessorGrant(AccessorRef):
    """Who (a user by id or email, a team by id or name, or the org) and their roles."""

    access_roles: list[AccessRole] = Field(min_length=1, max_length=3)


def accessor_view(entry: Accessor) -> dict[str, Any]:
    """One accessor as plans and list_accessors show it (no timestamps)."""
    view: dict[str, Any] = {"type": entry.type, "id": entry.id,
                            "access_roles": sorted(entry.access_roles)}  # fmt: skip
    for key in ("email", "name"):
        value = getattr(entry, key, None)
        if value:
            view[key] = sanitize_text(str(value), max_chars=120)
    return view


def _label(entry: Accessor) -> str:
    who = entry.email or entry.name
    return f"{entry.type} {entry.id}" + (f" {sanitize_text(who, max_chars=120)}" if who else "")


def _is_owner(entry: Accessor) -> bool:
    return "owner" in entry.access_roles


def _grant_of(entry: Accessor) -> dict[str, Any]:
    return {"type": entry.type, "id": entry.id,
            "access_roles": sorted(r for r in entry.access_roles if r != "owner")}  # fmt: skip


async def read_scope(client: NexlaClient, collection: str, resource_id: int) -> FlowScope:
    """The flow an access list belongs to (a credential belongs to none)."""
    if collection == "flows":
        document = await client.get_flow(resource_id, flows_only=True)
        node = document.find_node(resource_id)
        origin = node.origin_node_id if node and node.origin_node_id else resource_id
        return FlowScope(origin, frozenset({resource_id}))
    resource = await client.get_resource(collection, resource_id)  # type: ignore[arg-type]
    return FlowScope(resource.origin_node_id)


class AccessWrite(WriteOperation):
    """A change to one access list; the subclasses say which."""

    mode: ClassVar[Literal["grant", "revoke", "replace"]]

    def __init__(self, collection: AccessCollection, resource_id: int,
                 accessors: Sequence[AccessorRef]) -> None:  # fmt: skip
        self.collection, self.resource_id = collection, resource_id
        if not 1 <= len(accessors) <= MAX_ACCESSORS:
            raise ValidationError(
                f"accessors must list 1 to {MAX_ACCESSORS} entries.",
                operation="validate_arguments", hint="Change access for a few people at a time.",
            )  # fmt: skip
        labels = [ref.label() for ref in accessors]
        if len(set(labels)) != len(labels):
            raise ValidationError("accessors must not name anyone twice.",
                                  operation="validate_arguments")  # fmt: skip
        self.accessors = list(accessors)

    @property
    def arguments(self) -> dict[str, Any]:
        return {"resource_type": self.collection, "resource_id": self.resource_id,
                "accessors": [a.model_dump(exclude_none=True) for a in self.accessors]}  # fmt: skip

    @property
    def named_flow_ids(self) -> frozenset[int]:
        return frozenset({self.resource_id}) if self.collection == "flows" else frozenset()

    def _roles_after(
        self, entries: list[Accessor]
    ) -> list[tuple[str, list[str] | None, list[str] | None]]:
        """(who, roles now, roles after) for everyone whose roles would change."""
        moves: list[tuple[str, list[str] | None, list[str] | None]] = []
        for ref in self.accessors:
            match = next((entry for entry in entries if ref.matches(entry)), None)
            if match is not None and _is_owner(match):
                raise ValidationError(
                    f"{match.type} {match.id} owns this resource; the owner's access cannot "
                    "change.",
                    operation="validate_arguments", hint="Leave the owner out of accessors.",
                )  # fmt: skip
            now = sorted(match.access_roles) if match else None
            after = None if self.mode == "revoke" else sorted(getattr(ref, "access_roles", []))
            if now != after:
                moves.append((_label(match) if match else ref.label(), now, after))
        if self.mode == "replace":
            moves.extend(
                (_label(entry), sorted(entry.access_roles), None)
                for entry in entries
                if not _is_owner(entry) and not any(ref.matches(entry) for ref in self.accessors)
            )
        return moves

    async def observe(self, client: NexlaClient) -> Observation:
        scope = await read_scope(client, self.collection, self.resource_id)
        entries = await client.get_accessors(self.collection, self.resource_id)
        moves = self._roles_after(entries)
        target = f"{self.collection} {self.resource_id}"
        changes = [Change(subject=who, field="access_roles", before=now, after=after)
                   for who, now, after in moves]  # fmt: skip
        verbs = {"grant": "Grant access on", "revoke": "Revoke access on",
                 "replace": "Replace the access list of"}  # fmt: skip
        change = (f"{verbs[self.mode]} {target}: {len(moves)} accessor(s) change." if moves
                  else f"The access list of {target} already looks like that; nothing would "
                  "change.")  # fmt: skip
        return Observation(
            state={"resource_type": self.collection, "resource_id": self.resource_id,
                   "flow_id": scope.origin_id,
                   "accessors": sorted((accessor_view(e) for e in entries),
                                       key=lambda v: (v["type"], v["id"] or 0))},
            change=change, changes=changes, scope=scope,
            blast_radius=BlastRadius(
                summary=f"Who can see or operate {target} changes for {len(moves)} accessor(s).",
                affected=[who for who, _, _ in moves], notes=[_ROLE_NOTE],
            ),
            reverse=self._reverse(entries),
        )  # fmt: skip

    def _reverse(self, entries: list[Accessor]) -> ReverseAction:
        """Restore the list as it is now: re-grant what revoke removes, else put the old list
        back (or, if only the owner had access, revoke whoever was added)."""
        base = {"resource_type": self.collection, "resource_id": self.resource_id}
        others = [_grant_of(entry) for entry in entries if not _is_owner(entry)]
        added = [ref for ref in self.accessors if not any(ref.matches(e) for e in entries)]
        if self.mode == "revoke":
            removed = [
                _grant_of(e) for e in entries if any(ref.matches(e) for ref in self.accessors)
            ]
            return ReverseAction(tool="grant_access", arguments={**base, "accessors": removed})
        if others:
            return ReverseAction(tool="replace_accessors", arguments={**base, "accessors": others})
        refs = [AccessorRef.model_validate(ref.model_dump(exclude={"access_roles"})).model_dump(
            exclude_none=True) for ref in added]  # fmt: skip
        return ReverseAction(tool="revoke_access", arguments={**base, "accessors": refs})

    async def execute(self, client: NexlaClient) -> None:
        body = [a.model_dump(exclude_none=True) for a in self.accessors]
        if self.mode == "grant":
            await client.add_accessors(self.collection, self.resource_id, body)
        elif self.mode == "replace":
            await client.replace_accessors(self.collection, self.resource_id, body)
        else:
            await client.delete_accessors(self.collection, self.resource_id, body)


class GrantAccess(AccessWrite):
    """``grant_access``: add accessors, or set the roles of ones already there."""

    tool = "grant_access"
    mode = "grant"


class RevokeAccess(AccessWrite):
    """``revoke_access``: remove the named accessors."""

    tool = "revoke_access"
    mode = "revoke"

    def needs_person(self, observed: Observation) -> bool:
        """Removing the last admin leaves only the owner able to share the resource again."""
        admins = [
            view for view in observed.state["accessors"]
            if "admin" in view["access_roles"] and "owner" not in view["access_roles"]
        ]  # fmt: skip
        removed = [c for c in observed.changes if c.before and "admin" in c.before]
        return bool(removed) and len(removed) == len(admins)


class ReplaceAccessors(AccessWrite):
    """``replace_accessors``: the list becomes exactly these (plus the owner)."""

    tool = "replace_accessors"
    mode = "replace"
    destructive = True
