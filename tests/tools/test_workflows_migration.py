"""migrate_schema and finish_migration against the sandbox: the new path is built beside the
old one, a schema the samples break aborts with the records redacted and nothing kept, a
failing step rolls back, and cutover and cleanup are separate confirmed writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, call_error, call_ok

from .test_workflows_faults import FailNth
from .workflow_support import api
from .write_support import Answerer, WriteStack, plan_and_confirm

pytestmark = pytest.mark.anyio

NEXSET = 6102  # orders flow 9001: source 5101 -> nexset 6101 -> nexset 6102 -> sink 7101
OLD_SINK = 7101
TRANSFORM = {"operations": [{"operation": "shift", "spec": {"*": "&"}}]}
SCHEMA = {
    "type": "object",
    "required": ["load_date"],
    "properties": {"load_date": {"type": "string"}},
}


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    return WriteStack(tmp_path)


def server(stack: WriteStack, transport: httpx.AsyncBaseTransport | None = None) -> Any:
    settings = stack.settings(state_dir=stack.audit_dir / "state", verify_timeout_s=1)
    http = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=stack.app))
    return build_server(settings, http_client=http, retry_policy=NO_BACKOFF)


def migration(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    return {"nexset_id": NEXSET, "output_schema": schema, "transform": TRANSFORM}


async def test_a_migration_builds_the_new_path_beside_the_old_one(stack: WriteStack) -> None:
    before = await stack.digest()
    async with Client(server(stack)) as client:
        plan = await call_ok(client, "migrate_schema", migration())
        assert await stack.digest() == before and stack.writes() == []
        _, receipt = await plan_and_confirm(client, "migrate_schema", migration())
    assert receipt["status"] == "applied", receipt
    [nexset_change, sink_change] = plan["changes"]
    assert nexset_change["after"] == f"child of nexset {NEXSET}"
    assert sink_change["after"]["table"].endswith("_v2")
    created = {item["resource"]: item["status"] for item in receipt["after"]["created"]}
    assert set(created.values()) == {"ACTIVE"} and len(created) == 2
    child_id = int(next(key for key in created if key.startswith("data_sets/")).split("/")[1])
    sink_id = int(next(key for key in created if key.startswith("data_sinks/")).split("/")[1])
    async with api(stack) as nexla:
        child = await nexla.get_nexset(child_id, expand=True)
        old, new = await nexla.get_destination(OLD_SINK), await nexla.get_destination(sink_id)
        old_full = await nexla.get_destination(OLD_SINK, expand=True)
        new_full = await nexla.get_destination(sink_id, expand=True)
    assert child.parent_nexset_id == NEXSET
    assert old.status == "ACTIVE" and new.status == "ACTIVE"
    assert (new.sink_type, new_full.credential_id) == (old.sink_type, old_full.credential_id)
    assert new_full.sink_config["table"] == old_full.sink_config["table"] + "_v2"


async def test_cutover_then_cleanup_are_separate_confirmed_writes(stack: WriteStack) -> None:
    """Cleanup deletes, so it needs a person's answer (the user is asked and accepts)."""
    person = Answerer("accept")
    async with Client(server(stack), elicitation_callback=person) as client:
        _, receipt = await plan_and_confirm(client, "migrate_schema", migration())
        operation_id = receipt["after"]["operation"]["operation_id"]
        early = await call_ok(
            client, "finish_migration", {"operation_id": operation_id, "stage": "cleanup"}
        )
        _, cutover = await plan_and_confirm(
            client, "finish_migration", {"operation_id": operation_id, "stage": "cutover"}
        )
        async with api(stack) as nexla:
            assert (await nexla.get_destination(OLD_SINK)).status == "PAUSED"
        _, cleanup = await plan_and_confirm(
            client, "finish_migration", {"operation_id": operation_id, "stage": "cleanup"}
        )
    assert early["status"] == "blocked" and "cutover first" in early["blocked_by"]
    assert "Delete the old destinations" in person.questions[-1]
    assert cutover["status"] == "applied" and cleanup["status"] == "applied"
    async with api(stack) as nexla:
        remaining = (await nexla.list_destinations(data_set_id=NEXSET)).items
    assert remaining == []


async def test_samples_that_break_the_schema_abort_and_keep_nothing(stack: WriteStack) -> None:
    before = await stack.digest()
    strict = {
        "type": "object",
        "required": ["customer_tier"],
        "properties": {"load_date": {"type": "integer"}},
    }
    async with Client(server(stack)) as client:
        plan = await call_ok(client, "migrate_schema", migration(strict))
        error = await call_error(
            client,
            "migrate_schema",
            {**migration(strict), "confirm": True, "plan_token": plan["plan_token"]},
        )
    cause = error["details"]["cause"]
    assert error["details"]["failed_step"] == "validate the child's samples against the new schema"
    assert error["details"]["undone"] == ["create the child nexset"]
    failing = cause["details"]["failing_records"]
    assert 1 <= len(failing) <= 5
    assert "(record): required" in " ".join(failing[0]["problems"])
    assert "load_date: type" in " ".join(failing[0]["problems"])
    assert isinstance(failing[0]["record"], dict)
    assert await stack.digest() == before


async def test_a_failing_destination_create_rolls_the_child_back(stack: WriteStack) -> None:
    before = await stack.digest()

    def sink_create(request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path == "/data_sinks"

    transport = FailNth(httpx.ASGITransport(app=stack.app), sink_create, 1, lose_reply=True)
    async with Client(server(stack, transport)) as client:
        plan = await call_ok(client, "migrate_schema", migration())
        error = await call_error(
            client,
            "migrate_schema",
            {**migration(), "confirm": True, "plan_token": plan["plan_token"]},
        )
    assert error["details"]["status"] == "rolled_back" and error["details"]["state_restored"]
    assert error["details"]["undone"][0].startswith("create a parallel destination")
    assert await stack.digest() == before


async def test_in_shadow_mode_a_migration_reports_its_first_create_and_sends_nothing(
    stack: WriteStack,
) -> None:
    before = await stack.digest()
    settings = stack.settings(state_dir=stack.audit_dir / "state", writes="shadow")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app))
    async with (
        http,
        Client(build_server(settings, http_client=http, retry_policy=NO_BACKOFF)) as client,
    ):
        _, receipt = await plan_and_confirm(client, "migrate_schema", migration())
    assert receipt["status"] == "shadow"
    assert [(r["method"], r["path"]) for r in receipt["would_send"]] == [("POST", "/data_sets")]
    assert receipt["would_send"][0]["body"]["parent_data_set_id"] == NEXSET
    assert await stack.digest() == before
