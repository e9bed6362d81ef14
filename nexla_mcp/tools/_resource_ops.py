"""``update_resource`` as a ``WriteOperation``: labels, and only the settings a fix needs.

Labels (name, description, tags) on any source, nexset or destination. On sources and
destinations also what the troubleshooting table's fixes change (docs/nexla-api.md §7.1, §9):
the credential (``data_credentials_id``), a source's ``poll_schedule``, and an allow-list of
non-secret connector settings inside ``source_config`` / ``sink_config`` (timeouts, page and
batch sizes, retries). Anything else in a config, a connector type or a secret is out of reach.
Nexla refuses a config change on an ACTIVE source unless ``?force=1``, which pauses and
re-activates it; the plan says so. The receipt's undo restores the old values.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from nexla_mcp.errors import NotFoundError, ValidationError
from nexla_mcp.invisible import FORMAT_CHARS
from nexla_mcp.nexla import Destination, NexlaClient, Resource, ResourceType, Source
from nexla_mcp.server.text import sanitize_text
from nexla_mcp.server.write_policy import FlowScope
from nexla_mcp.tools._flow_ops import NOUNS, subject
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
    watch_after,
)

__all__ = ["CONNECTOR_SETTINGS", "SAFE_FIELDS", "UpdateResource"]

SAFE_FIELDS = ("name", "description", "tags")
# Per resource type, the connector settings a fix may change, each with its allowed range.
CONNECTOR_SETTINGS: dict[str, dict[str, tuple[int, int]]] = {
    "data_sources": {
        "timeout_ms": (1_000, 3_600_000),
        "page_size": (1, 100_000),
        "batch_size": (1, 1_000_000),
        "max_retries": (0, 20),
        "retry_backoff_ms": (0, 600_000),
    },
    "data_sinks": {
        "timeout_ms": (1_000, 3_600_000),
        "batch_size": (1, 1_000_000),
        "max_retries": (0, 20),
        "retry_backoff_ms": (0, 600_000),
    },
}
_CONFIG_KEY = {"data_sources": "source_config", "data_sinks": "sink_config"}
_SHOWN_CHARS = 300
_ACTIVE = "ACTIVE"


_HIDDEN = re.compile(f"[{FORMAT_CHARS}]")


def _check_text(field: str, value: str, *, multiline: bool) -> None:
    allowed = {"\n", "\t"} if multiline else set()
    bad = [ch for ch in value if ch not in allowed and (
        unicodedata.category(ch) in ("Cc", "Cf") or _HIDDEN.match(ch))]  # fmt: skip
    if bad:
        raise ValidationError(
            f"{field} contains control or invisible characters (U+{ord(bad[0]):04X}).",
            operation="validate_arguments", hint=f"Use plain text for {field}.",
        )  # fmt: skip


def _invalid(message: str, hint: str | None = None) -> ValidationError:
    return ValidationError(message, operation="validate_arguments", hint=hint)


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return sanitize_text(value, max_chars=_SHOWN_CHARS, keep_newlines=True)
    if isinstance(value, list):
        return [_shown(item) for item in value]
    return value


def _config_of(resource: Resource) -> dict[str, Any]:
    if isinstance(resource, Source):
        return dict(resource.source_config or {})
    if isinstance(resource, Destination):
        return dict(resource.sink_config or {})
    return {}


def _connector_of(resource: Resource) -> str | None:
    if isinstance(resource, Source):
        return resource.source_type or resource.connector_type
    if isinstance(resource, Destination):
        return resource.sink_type or resource.connector_type
    return None


class UpdateResource(WriteOperation):
    """Relabel a source, nexset or destination; repoint or retune a source or destination."""

    tool = "update_resource"

    def __init__(
        self, resource_type: ResourceType, resource_id: int, *, name: str | None,
        description: str | None, tags: list[str] | None, credential_id: int | None = None,
        poll_schedule: str | None = None, settings: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        self.resource_type, self.resource_id = resource_type, resource_id
        self.wanted: dict[str, Any] = {
            key: value for key, value in
            (("name", name), ("description", description), ("tags", tags)) if value is not None
        }  # fmt: skip
        self.credential_id, self.poll_schedule = credential_id, poll_schedule
        self.settings = dict(sorted((settings or {}).items()))
        if not self.wanted and credential_id is None and poll_schedule is None and not settings:
            raise _invalid(
                "Nothing to update: give name, description, tags, credential_id, poll_schedule "
                "or settings.",
                "update_resource changes only those fields.",
            )
        self._check_labels(name, description, tags)
        self._check_fix_fields()

    def _check_labels(self, name: str | None, description: str | None,
                      tags: list[str] | None) -> None:  # fmt: skip
        if name is not None:
            _check_text("name", name, multiline=False)
            if not name.strip():
                raise _invalid("name must not be blank.")
        if description is not None:
            _check_text("description", description, multiline=True)
        for tag in tags or []:
            _check_text("tags", tag, multiline=False)
        if tags is not None and len(set(tags)) != len(tags):
            raise _invalid("tags must not repeat.")

    def _check_fix_fields(self) -> None:
        allowed = CONNECTOR_SETTINGS.get(self.resource_type)
        if allowed is None and (self.credential_id or self.poll_schedule or self.settings):
            raise _invalid(
                "A nexset has no credential, schedule or connector settings.",
                "Change its transform with update_transform, or name a source or destination.",
            )
        if self.poll_schedule is not None:
            if self.resource_type != "data_sources":
                raise _invalid("poll_schedule belongs to sources only.")
            _check_text("poll_schedule", self.poll_schedule, multiline=False)
            if not self.poll_schedule.strip():
                raise _invalid("poll_schedule must not be blank.")
        for key, value in self.settings.items():
            if allowed is None or key not in allowed:
                names = ", ".join(allowed or {})
                raise _invalid(f"settings.{key} cannot be changed on {self.resource_type}.",
                               f"Allowed settings here: {names}.")  # fmt: skip
            low, high = allowed[key]
            if type(value) is not int or not low <= value <= high:
                raise _invalid(f"settings.{key} must be an integer from {low} to {high}.")

    @property
    def arguments(self) -> dict[str, Any]:
        arguments = {"resource_type": self.resource_type, "resource_id": self.resource_id,
                     **{key: self.wanted.get(key) for key in SAFE_FIELDS}}  # fmt: skip
        fixes = {"credential_id": self.credential_id, "poll_schedule": self.poll_schedule,
                 "settings": self.settings or None}  # fmt: skip
        # Only the fields given: a relabel binds the same arguments as before they existed.
        arguments.update({key: value for key, value in fixes.items() if value is not None})
        return arguments

    def _needs_force(self, resource: Resource) -> bool:
        """Nexla refuses a config change on an ACTIVE source without ``?force=1`` (§7.1)."""
        if self.resource_type != "data_sources" or resource.status != _ACTIVE:
            return False
        config = _config_of(resource)
        return any(config.get(key) != value for key, value in self.settings.items())

    def _current(self, resource: Resource) -> dict[str, Any]:
        current: dict[str, Any] = {"name": resource.name, "description": resource.description,
                                   "tags": list(resource.tags)}  # fmt: skip
        if self.credential_id is not None and isinstance(resource, Source | Destination):
            current["credential_id"] = resource.credential_id
        if self.poll_schedule is not None and isinstance(resource, Source):
            current["poll_schedule"] = resource.poll_schedule
        config = _config_of(resource)
        for key in self.settings:
            current[f"settings.{key}"] = config.get(key)
        return current

    def _target(self) -> dict[str, Any]:
        target = dict(self.wanted)
        if self.credential_id is not None:
            target["credential_id"] = self.credential_id
        if self.poll_schedule is not None:
            target["poll_schedule"] = self.poll_schedule
        target.update({f"settings.{key}": value for key, value in self.settings.items()})
        return target

    async def observe(self, client: NexlaClient) -> Observation:
        resource: Resource = await client.get_resource(
            self.resource_type, self.resource_id, expand=True
        )
        current, target = self._current(resource), self._target()
        label = subject(self.resource_type, self.resource_id, resource.name)
        differing = [key for key, value in target.items() if current.get(key) != value]
        changes = [Change(subject=label, field=_wire_field(key, self.resource_type),
                          before=_shown(current.get(key)), after=_shown(target[key]))
                   for key in differing]  # fmt: skip
        force = self._needs_force(resource) and any(k.startswith("settings.") for k in differing)
        blocked = await self._credential_problem(client, resource) if (
            "credential_id" in differing) else None  # fmt: skip
        fields = ", ".join(_wire_field(key, self.resource_type) for key in differing)
        if not differing:
            change = f"{label} already has these values; nothing would change."
        else:
            change = f"Update {fields} of {label}."
            if force:
                change += (" It is ACTIVE, so Nexla needs ?force=1: it pauses and re-activates "
                           "the source, which starts a run at once.")  # fmt: skip
        state = {"resource_type": self.resource_type, "resource_id": self.resource_id,
                 "flow_id": resource.origin_node_id, "status": resource.status,
                 **{key: _shown(value) for key, value in current.items()}}  # fmt: skip
        if force:
            state["force"] = True
        return Observation(
            state=state, change=change, changes=changes,
            scope=FlowScope(resource.origin_node_id),
            blast_radius=self._blast_radius(label, differing, resource, force),
            reverse=self._reverse(current, differing), blocked_by=blocked,
            follow_up=watch_after(resource.origin_node_id)
            if any(key not in SAFE_FIELDS for key in differing) else None,
        )  # fmt: skip

    async def _credential_problem(self, client: NexlaClient, resource: Resource) -> str | None:
        try:
            credential = await client.get_credential(self.credential_id or 0)
        except NotFoundError:
            return f"Credential {self.credential_id} does not exist (or is not shared with you)."
        connector = _connector_of(resource)
        kind = credential.credentials_type
        if connector and kind and kind != connector:
            noun = NOUNS[self.resource_type]
            return (f"Credential {self.credential_id} is a {kind} credential and this {noun} "
                    f"connects to {connector}.")  # fmt: skip
        return None

    def _blast_radius(self, label: str, differing: list[str], resource: Resource,
                      force: bool) -> BlastRadius:  # fmt: skip
        noun = NOUNS[self.resource_type]
        fixes = [key for key in differing if key not in SAFE_FIELDS]
        notes: list[str] = []
        if not fixes:
            summary = f"Only the {noun}'s labels change; no data stops or starts."
            notes.append("Other tools, dashboards or alerts that match on the old name or tags "
                         "will no longer find it.")  # fmt: skip
        else:
            summary = f"The {noun}'s next runs use the new settings; the rest of its flow " \
                "follows them."  # fmt: skip
            if "credential_id" in fixes:
                notes.append(f"From its next run the {noun} signs in with credential "
                             f"{self.credential_id}: probe it first if unsure.")  # fmt: skip
            if force:
                notes.append("?force=1: Nexla pauses and re-activates the source to apply a "
                             "config change; a run starts at once.")  # fmt: skip
            notes.append("After confirming, watch_flow shows whether the next run succeeds.")
        return BlastRadius(summary=summary, affected=[label], notes=notes)

    def _reverse(self, current: dict[str, Any], differing: list[str]) -> ReverseAction:
        """The undo call. Its arguments are Nexla text handed back to the model as a call to
        make, so a name, description or tag goes in only as it was: one that sanitising would
        change (hidden or control characters, a secret, over 300 characters) is left out."""
        undo: dict[str, Any] = {"resource_type": self.resource_type,
                                "resource_id": self.resource_id}  # fmt: skip
        lost: list[str] = []
        withheld: list[str] = []
        settings: dict[str, int] = {}
        for key in differing:
            old = current.get(key)
            if key == "description":
                old = old or ""  # an unset description comes back as empty
            if old is None:
                lost.append(_wire_field(key, self.resource_type))
            elif key in SAFE_FIELDS and _shown(old) != old:
                withheld.append(key)
            elif key.startswith("settings."):
                settings[key.removeprefix("settings.")] = old
            else:
                undo[key] = old
        if settings:
            undo["settings"] = settings
        notes = []
        if lost:
            notes.append(f"{', '.join(lost)} had no value before and cannot be unset again.")
        if withheld:
            them = "it" if len(withheld) == 1 else "them"
            notes.append(
                f"The old {' and '.join(withheld)} held hidden or control characters, a secret "
                f"or more than 300 characters, so the undo leaves {them} out; restore by hand."
            )
        note = " ".join(notes) or None
        if len(undo) == 2 and withheld:  # nothing left to restore: no call to make
            return ReverseAction(note=note)
        return ReverseAction(tool=self.tool, arguments=undo, note=note)

    async def execute(self, client: NexlaClient) -> None:
        body: dict[str, Any] = dict(self.wanted)
        if self.credential_id is not None:
            body["data_credentials_id"] = self.credential_id
        if self.poll_schedule is not None:
            body["poll_schedule"] = self.poll_schedule
        force = False
        if self.settings:
            # The config goes back whole (only the allowed keys changed): Nexla replaces it.
            resource = await client.get_resource(self.resource_type, self.resource_id, expand=True)
            body[_CONFIG_KEY[self.resource_type]] = {**_config_of(resource), **self.settings}
            force = self._needs_force(resource)
        if self.resource_type == "data_sources":
            await client.update_source(self.resource_id, body, force=force)
        elif self.resource_type == "data_sets":
            await client.update_nexset(self.resource_id, body)
        else:
            await client.update_destination(self.resource_id, body)


def _wire_field(key: str, resource_type: str) -> str:
    """How a field is named in Nexla's API (and so in the plan)."""
    if key == "credential_id":
        return "data_credentials_id"
    if key.startswith("settings."):
        return f"{_CONFIG_KEY.get(resource_type, 'config')}.{key.removeprefix('settings.')}"
    return key
