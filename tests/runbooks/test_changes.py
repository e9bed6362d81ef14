"""changes_around against the sandbox: a transform's edit comes from its own audit log."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from nexla_mcp.nexla import AuditLogEntry, NexlaClient
from nexla_mcp.runbooks.changes import (
    Change,
    changes_around,
    transform_audit_call,
    transform_audit_calls,
)
from nexla_mcp.runbooks.evidence import fetch_runs
from nexla_mcp.runbooks.flowmap import FlowMap, FlowTarget, fetch_flow
from nexla_mcp.runbooks.runs import streak_of
from tests.runbooks.sandbox_org import Org, now

pytestmark = pytest.mark.anyio

WINDOW = timedelta(days=7)


async def _broken_transform_flow(client: NexlaClient, org: Org) -> tuple[FlowMap, datetime]:
    """The seeded transform_error flow and the start of its failing streak."""
    row = await org.scenario("transform_error")
    flow = await fetch_flow(client, FlowTarget(flow_id=row["flow_id"]))
    assert flow.anchor is not None
    history = await fetch_runs(client, flow.anchor, now())
    failing_since = streak_of(history.runs).failing_since
    assert failing_since is not None and failing_since.started_at is not None
    return flow, failing_since.started_at


async def _flow_audit(client: NexlaClient, flow: FlowMap) -> list[AuditLogEntry]:
    return list((await client.get_audit_log("flows", flow.flow_id, per_page=50)).items)


def _transform_changes(changes: list[Change]) -> list[Change]:
    return [change for change in changes if change.targets[0].startswith("transform ")]


async def test_a_transform_edit_is_read_from_its_audit_log_with_who_made_it(
    client: NexlaClient, org: Org
) -> None:
    """The code change in the transform's audit log is listed once, before the first failing
    run, with its author and the call it came from; it points to transform_error."""
    flow, onset = await _broken_transform_flow(client, org)
    calls = transform_audit_calls(client, flow)
    transform_id = next(iter(flow.transforms))
    assert list(calls) == [transform_audit_call(transform_id)]
    audits = {transform_id: list((await calls[transform_audit_call(transform_id)]()).items)}
    changes = changes_around(
        flow, await _flow_audit(client, flow), f"GET /flows/{flow.flow_id}/audit_log",
        onset=onset, now=now(), window=WINDOW, transform_audits=audits,
    )  # fmt: skip
    [edit] = _transform_changes(changes)
    assert edit.call == transform_audit_call(transform_id)
    assert "code" in edit.fields and edit.points_to() == {"transform_error"}
    assert edit.by and timedelta(0) < onset - edit.at < timedelta(hours=1)
    assert (edit.view(onset).relative or "").endswith("min before the first failing run")


async def test_a_transform_whose_log_was_not_read_shows_its_updated_at(
    client: NexlaClient, org: Org
) -> None:
    """Without the transform's audit log its latest edit still appears, from the flow, with no
    author."""
    flow, onset = await _broken_transform_flow(client, org)
    changes = changes_around(flow, [], None, onset=onset, now=now(), window=WINDOW)
    [edit] = _transform_changes(changes)
    assert edit.call == f"GET /flows/{flow.flow_id}" and edit.by is None
    assert edit.at < onset and edit.points_to() == {"transform_error"}


async def test_only_edited_transforms_have_their_audit_logs_read(
    client: NexlaClient, org: Org
) -> None:
    """A healthy flow's transform, untouched since its creation, costs no call."""
    row = await org.scenario("healthy")
    flow = await fetch_flow(client, FlowTarget(flow_id=row["flow_id"]))
    assert flow.transforms
    assert transform_audit_calls(client, flow) == {}
