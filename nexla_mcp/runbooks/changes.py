"""What changed around a failure: the flow's audit trail and its transforms' edit times.

A failure that starts minutes after someone edited a transform, swapped a credential or
changed a schema usually has that edit as its cause. This module lines the changes up against
the failure's onset (the first run of the failing streak) and says which category each kind of
change points to. Nexla's flow audit log covers the flow's sources, nexsets and destinations;
code containers are not flow nodes, so a transform's edit shows only as its ``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import Field

from nexla_mcp.nexla import AuditLogEntry
from nexla_mcp.runbooks.flowmap import FlowMap
from nexla_mcp.runbooks.report import Category, ReportModel, iso, untrusted

__all__ = ["Change", "ChangeView", "changes_around"]

# A change this long before the onset can still be its cause (a daily flow runs once a day).
LOOKBACK = timedelta(hours=48)
MAX_CHANGES = 6
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


class ChangeView(ReportModel):
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
) -> list[Change]:
    """Changes from ``onset - LOOKBACK`` (or ``now - window`` without an onset) to now, oldest
    first, at most ``MAX_CHANGES`` (the ones nearest the onset when there are more)."""
    start = (onset - LOOKBACK) if onset is not None else now - window
    found = [
        change
        for entry in audit
        if (change := _audit_change(entry, audit_call or "audit log")) is not None
    ]
    for transform in flow.transforms.values():
        if transform.updated_at is not None and transform.updated_at != transform.created_at:
            name = untrusted(transform.name, 60)
            found.append(Change(
                transform.updated_at, (f"transform {transform.id} '{name}'",), "updated",
                None, f"GET /flows/{flow.flow_id}", ("code",),
            ))  # fmt: skip
    kept = [change for change in _merged(found) if start <= change.at <= now]
    if onset is not None and len(kept) > MAX_CHANGES:
        kept.sort(key=lambda change: abs((change.at - onset).total_seconds()))
    kept = kept[:MAX_CHANGES]
    return sorted(kept, key=lambda change: change.at)
