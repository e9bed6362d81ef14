"""``update_resource`` as a ``WriteOperation``: only the safe fields (name, description, tags).

Anything that changes what a flow does (configs, credentials, schedules) is out of reach on
purpose: renaming or re-tagging cannot stop data, and the receipt's undo restores the old values.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla import NexlaClient, Resource, ResourceType
from nexla_mcp.server.text import sanitize_text
from nexla_mcp.server.write_policy import FlowScope
from nexla_mcp.tools._flow_ops import NOUNS, subject
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
)

__all__ = ["SAFE_FIELDS", "UpdateResource"]

SAFE_FIELDS = ("name", "description", "tags")
_SHOWN_CHARS = 300


def _check_text(field: str, value: str, *, multiline: bool) -> None:
    allowed = {"\n", "\t"} if multiline else set()
    bad = [ch for ch in value if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cf")]
    if bad:
        raise ValidationError(
            f"{field} contains control or invisible characters (U+{ord(bad[0]):04X}).",
            operation="validate_arguments", hint=f"Use plain text for {field}.",
        )  # fmt: skip


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return sanitize_text(value, max_chars=_SHOWN_CHARS, keep_newlines=True)
    if isinstance(value, list):
        return [_shown(item) for item in value]
    return value


class UpdateResource(WriteOperation):
    """Rename, re-describe or re-tag one source, nexset or destination."""

    tool = "update_resource"

    def __init__(self, resource_type: ResourceType, resource_id: int, *, name: str | None,
                 description: str | None, tags: list[str] | None) -> None:  # fmt: skip
        self.resource_type, self.resource_id = resource_type, resource_id
        self.wanted: dict[str, Any] = {
            key: value for key, value in
            (("name", name), ("description", description), ("tags", tags)) if value is not None
        }  # fmt: skip
        if not self.wanted:
            raise ValidationError(
                "Nothing to update: give name, description or tags.",
                operation="validate_arguments",
                hint="update_resource changes only name, description and tags.",
            )  # fmt: skip
        if name is not None:
            _check_text("name", name, multiline=False)
            if not name.strip():
                raise ValidationError("name must not be blank.", operation="validate_arguments")
        if description is not None:
            _check_text("description", description, multiline=True)
        for tag in tags or []:
            _check_text("tags", tag, multiline=False)
        if tags is not None and len(set(tags)) != len(tags):
            raise ValidationError("tags must not repeat.", operation="validate_arguments")

    @property
    def arguments(self) -> dict[str, Any]:
        return {"resource_type": self.resource_type, "resource_id": self.resource_id,
                **{key: self.wanted.get(key) for key in SAFE_FIELDS}}  # fmt: skip

    async def observe(self, client: NexlaClient) -> Observation:
        resource: Resource = await client.get_resource(self.resource_type, self.resource_id)
        current = {"name": resource.name, "description": resource.description,
                   "tags": list(resource.tags)}  # fmt: skip
        label = subject(self.resource_type, self.resource_id, resource.name)
        differing = [key for key, value in self.wanted.items() if current[key] != value]
        changes = [Change(subject=label, field=key, before=_shown(current[key]),
                          after=_shown(self.wanted[key])) for key in differing]  # fmt: skip
        fields = ", ".join(differing)
        change = (f"Update {fields} of {label}." if differing
                  else f"{label} already has these values; nothing would change.")  # fmt: skip
        undo: dict[str, Any] = {"resource_type": self.resource_type,
                                "resource_id": self.resource_id}  # fmt: skip
        # An unset description comes back as empty; an unset name cannot be set back to unset.
        restorable = {"name": current["name"], "description": current["description"] or "",
                      "tags": current["tags"]}  # fmt: skip
        undo.update({key: restorable[key] for key in differing if restorable[key] is not None})
        lost = "The name was unset and cannot be unset again." if "name" in differing and (
            current["name"] is None) else None  # fmt: skip
        origin = resource.origin_node_id
        return Observation(
            state={"resource_type": self.resource_type, "resource_id": self.resource_id,
                   "flow_id": origin, **{key: _shown(value) for key, value in current.items()}},
            change=change, changes=changes,
            scope=FlowScope(origin),
            blast_radius=BlastRadius(
                summary=f"Only the {NOUNS[self.resource_type]}'s labels change; no data stops "
                "or starts.",
                affected=[label],
                notes=["Other tools, dashboards or alerts that match on the old name or tags "
                       "will no longer find it."],
            ),
            reverse=ReverseAction(tool=self.tool, arguments=undo, note=lost),
        )  # fmt: skip

    async def execute(self, client: NexlaClient) -> None:
        update = {
            "data_sources": client.update_source,
            "data_sets": client.update_nexset,
            "data_sinks": client.update_destination,
        }[self.resource_type]
        await update(self.resource_id, dict(self.wanted))
