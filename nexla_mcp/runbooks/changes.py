"""What changed around a failure: the flow's audit trail and its transforms' audit logs.

A failure that starts minutes after someone edited a transform, swapped a credential or
changed a schema usually has that edit as its cause. This module lines the changes up against
the failure's onset (the first run of the failing streak) and says which category each kind of
change points to. Nexla's flow audit log covers the flow's sources, nexsets and destinations;
code containers are not flow nodes, so their edits are read from each transform's own audit
log (``transform_audit_calls``). A transform whose log was not read still shows its latest
edit, from its ``updated_at`` (when, but not who or what).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from nexla_mcp.nexla import AuditLogEntry, NexlaClient, Page
from nexla_mcp.runbooks.flowmap import FlowMap
from nexla_mcp.runbooks.report import Category, iso, untrusted

__all__ = [
    "Change",
    "ChangeView",
    "changes_around",
    "transform_audit_call",
    "transform_audit_calls",
]

# A change this long before the onset can still be its cause (a daily flow runs once a day).
LOOKBACK = timedelta(hours=48)
MAX_CHANGES = 6
# Transforms whose audit logs a diagnosis reads (the most recently edited first), and how many
# entries of each: the edits that matter are the latest.
MAX_TRANSFORM_AUDITS = 2
TRANSFORM_AUDIT_PAGE_SIZE = 20
# Which category a changed field points to when it changed shortly before the failure.
_FIELD_CATEGORIES: dict[str, Category] = {
    "code": "transform_error",
    "code_container_id": "transform_error",
    "transform": "transform_error",
    "transform_id": "transform_error",
    "output_schema": "schema_mismatch",
    "schema": "schema_mismatch",
    "source_config": "schema_mismatch",
    "data_credentials_id": "credential_expired",
    "credentials": "credential_expired",
}
_ITEM_LABELS = {
    "DataSource": "source", "DataSet": "nexset", "DataSink": "destination",
    "DataCredentials": "credential", "CodeContainer": "transform",
}  # fmt: skip


class ChangeView(BaseModel):
    """One change to the flow, placed against the failure."""

    at: str
    what: str
    by: str | None = Field(None, description="Who or what made the change (user or agent)")
    relative: str | None = Field(
        None, description="When, relative to the first failing run (e.g. '17 min before')"
    )


@dataclass(frozen=True)
class Change:
    """A change with its time, what it touched and the category it points to (if any)."""

    at: datetime
    targets: tuple[str, ...]
    verb: str
    by: str | None
    call: str
    fields: tuple[str, ...]
    paused: bool = False

    @property
    def what(self) -> str:
        shown = ", ".join(self.targets[:3])
        more = f" and {len(self.targets) - 3} more" if len(self.targets) > 3 else ""
        return f"{shown}{more}: {self.verb}"

    def points_to(self) -> set[Category]:
        found = {_FIELD_CATEGORIES[name] for name in self.fields if name in _FIELD_CATEGORIES}
        if self.paused:
            found.add("flow_not_running")
        return found

    def view(self, onset: datetime | None) -> ChangeView:
        return ChangeView(at=iso(self.at) or "", what=self.what, by=self.by,
                          relative=_relative(self.at, onset))  # fmt: skip


def _relative(at: datetime, onset: datetime | None) -> str | None:
    if onset is None:
        return None
    minutes = round((onset - at).total_seconds() / 60)
    if minutes == 0:
        return "at the first failing run"
    amount = f"{abs(minutes)} min" if abs(minutes) < 120 else f"{abs(minutes) / 60:.1f} h"
    return f"{amount} {'before' if minutes > 0 else 'after'} the first failing run"


def transform_audit_call(transform_id: int) -> str:
    return f"GET /code_containers/{transform_id}/audit_log"


def transform_audit_calls(
    client: NexlaClient, flow: FlowMap, limit: int = MAX_TRANSFORM_AUDITS
) -> dict[str, Callable[[], Awaitable[Page[AuditLogEntry]]]]:
    """Calls reading the audit logs of the flow's edited transforms, latest edit first, at
    most ``limit``; a transform never edited since its creation needs no call."""
    edited = [
        transform
        for transform in flow.transforms.values()
        if transform.updated_at is not None and transform.updated_at != transform.created_at
    ]
    edited.sort(key=lambda transform: transform.updated_at or datetime.min.replace(tzinfo=UTC))
    return {
        transform_audit_call(transform.id): (
            lambda transform_id=transform.id: client.get_audit_log(
                "code_containers", transform_id, per_page=TRANSFORM_AUDIT_PAGE_SIZE
            )
        )
        for transform in reversed(edited[-limit:])
    }


def _audit_change(entry: AuditLogEntry, call: str) -> Change | None:
    if entry.created_at is None or entry.event == "create":
        return None
    extra = entry.model_extra or {}
    fields = tuple(sorted(str(name) for name in entry.object_changes)) or tuple(
        str(name) for name in entry.change_summary
    )
    status = entry.object_changes.get("status")
    paused = isinstance(status, list) and len(status) == 2 and str(status[1]).upper() == "PAUSED"
    kind = _ITEM_LABELS.get(str(entry.item_type), str(entry.item_type or "resource").lower())
    verb = "paused" if paused else f"{', '.join(fields[:4]) or entry.event} changed"
    user = extra.get("user") if isinstance(extra.get("user"), dict) else {}
    by = untrusted(
        extra.get("request_user_agent") or user.get("full_name") or user.get("email"), 60
    )
    return Change(entry.created_at, (f"{kind} {entry.item_id}",), verb, by, call, fields, paused)


def _merged(changes: list[Change]) -> list[Change]:
    """One change per (moment, verb, author): pausing a flow touches each of its resources."""
    groups: dict[tuple[datetime, str, str | None], Change] = {}
    for change in sorted(changes, key=lambda c: c.at):
        key = (change.at, change.verb, change.by)
        known = groups.get(key)
        groups[key] = change if known is None else replace(
            known, targets=known.targets + change.targets,
            fields=tuple(dict.fromkeys(known.fields + change.fields)),
        )  # fmt: skip
    return list(groups.values())


def changes_around(
    flow: FlowMap,
    audit: list[AuditLogEntry],
    audit_call: str | None,
    *,
    onset: datetime | None,
    now: datetime,
    window: timedelta,
    transform_audits: Mapping[int, Sequence[AuditLogEntry]] | None = None,
) -> list[Change]:
    """Changes from ``onset - LOOKBACK`` (or ``now - window`` without an onset) to now, oldest
    first, at most ``MAX_CHANGES`` (the ones nearest the onset when there are more).

    ``transform_audits`` maps a transform id to its audit log, for the transforms whose log
    was read (see ``transform_audit_calls``); the others show their ``updated_at``.
    """
    start = (onset - LOOKBACK) if onset is not None else now - window
    found = [
        change
        for entry in audit
        if (change := _audit_change(entry, audit_call or "audit log")) is not None
    ]
    transform_audits = transform_audits or {}
    for transform_id, entries in transform_audits.items():
        found.extend(_transform_changes(flow, transform_id, entries))
    for transform in flow.transforms.values():
        if transform.id in transform_audits:
            continue
        if transform.updated_at is not None and transform.updated_at != transform.created_at:
            found.append(Change(
                transform.updated_at, (_transform_label(flow, transform.id),), "updated",
                None, f"GET /flows/{flow.flow_id}", ("code",),
            ))  # fmt: skip
    kept = [change for change in _merged(found) if start <= change.at <= now]
    if onset is not None and len(kept) > MAX_CHANGES:
        kept.sort(key=lambda change: abs((change.at - onset).total_seconds()))
    kept = kept[:MAX_CHANGES]
    return sorted(kept, key=lambda change: change.at)


def _transform_label(flow: FlowMap, transform_id: int) -> str:
    transform = flow.transforms.get(transform_id)
    name = untrusted(transform.name, 60) if transform is not None else None
    return f"transform {transform_id} '{name}'" if name else f"transform {transform_id}"


def _transform_changes(
    flow: FlowMap, transform_id: int, entries: Sequence[AuditLogEntry]
) -> list[Change]:
    """The edits in one transform's audit log, named after the transform."""
    call = transform_audit_call(transform_id)
    label = (_transform_label(flow, transform_id),)
    return [
        replace(change, targets=label)
        for entry in entries
        if (change := _audit_change(entry, call)) is not None
    ]
