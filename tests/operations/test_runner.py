"""The step runner against the sandbox: a create cut short by a crash is found, not repeated;
a rollback whose undo fails stops and says where, and a later resume finishes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.operations.actions import ActionContext
from nexla_mcp.operations.journal import StepRecord, StoreJournal
from nexla_mcp.operations.runner import Runner, StepSpec
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.state.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

PARENT = 6102
MARKER = "nexla-mcp-op:test-1"


@pytest.fixture
async def client() -> AsyncIterator[NexlaClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()))
    async with (
        http,
        NexlaClient(
            api_url="http://sandbox.test", service_key=DEFAULT_SERVICE_KEY, http_client=http
        ) as nexla,
    ):
        yield nexla


def create_child() -> StepSpec:
    body = {"name": "orders-v2", "parent_data_set_id": PARENT, "has_custom_transform": True,
            "transform": {"operations": []}}  # fmt: skip
    return StepSpec(
        "create the child",
        {"op": "create_nexset", "body": body, "marker": MARKER},
        {"op": "delete_resource", "resource_type": "data_sets", "resource_id": {"$from": 0}},
    )


def activate_child() -> StepSpec:
    target = {"resource_type": "data_sets", "resource_id": {"$from": 0}}
    return StepSpec(
        "activate the child",
        {"op": "set_resource_status", **target, "status": "ACTIVE"},
        {"op": "set_resource_status", **target, "status": "PAUSED"},
    )


async def children(client: NexlaClient) -> list[Any]:
    return [n for n in (await client.list_nexsets(parent_data_set_id=PARENT)).items
            if MARKER in n.tags]  # fmt: skip


async def test_a_resumed_create_finds_what_it_made_before_the_crash(
    client: NexlaClient, tmp_path: Path
) -> None:
    journal = StoreJournal(SQLiteStore(tmp_path))
    steps = [create_child(), activate_child()]
    record = await journal.create("migrate_schema", {}, {"steps": [s.as_dict() for s in steps]})
    # The crash: the create reached Nexla, but the process died before journaling "done".
    await journal.put_step(record.id, StepRecord(0, steps[0].name, steps[0].action,
                                                 steps[0].undo, "started"))  # fmt: skip
    await client.create_nexset({**steps[0].action["body"], "tags": [MARKER]})

    reloaded = await journal.get(record.id)
    assert reloaded is not None
    outcome = await Runner(journal, ActionContext(client), live=set()).resume(reloaded, "finish")
    assert outcome.status == "completed"
    [child] = await children(client)
    assert outcome.results[0]["id"] == child.id and child.status == "ACTIVE"


async def test_a_failed_undo_stops_the_rollback_and_a_resume_completes_it(
    client: NexlaClient, tmp_path: Path
) -> None:
    journal = StoreJournal(SQLiteStore(tmp_path))
    broken_undo = StepSpec("activate the parent nexset", {"op": "set_resource_status",
                           "resource_type": "data_sets", "resource_id": PARENT,
                           "status": "ACTIVE"},
                           {"op": "set_resource_status", "resource_type": "data_sets",
                            "resource_id": 99_999_999, "status": "PAUSED"})  # fmt: skip
    failing = StepSpec("probe a missing credential",
                       {"op": "probe_credential", "credential_id": 99_999_999})  # fmt: skip
    runner = Runner(journal, ActionContext(client), live=set())
    outcome = await runner.start("test", {}, [create_child(), broken_undo, failing])
    assert outcome.status == "failed" and outcome.failed_step == "probe a missing credential"
    record = await journal.get(outcome.operation_id)
    assert record is not None and record.status == "failed"
    assert "Rollback stopped at 'activate the parent nexset'" in (record.note or "")
    assert len(await children(client)) == 1  # the rollback stopped before reaching the create

    # The operator fixes the cause (here: the journaled undo is repaired), then resumes.
    step = next(s for s in record.steps if s.seq == 1)
    step.undo = {"op": "set_resource_status", "resource_type": "data_sets",
                 "resource_id": PARENT, "status": "ACTIVE"}  # fmt: skip
    await journal.put_step(record.id, step)
    resumed = await runner.resume(await journal.get(record.id), "rollback")  # type: ignore[arg-type]
    assert resumed.status == "rolled_back"
    assert resumed.undone == ["activate the parent nexset", "create the child"]
    assert await children(client) == []
