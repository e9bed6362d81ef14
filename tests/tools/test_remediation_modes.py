"""The remediation writes under every write policy: a plan never changes anything, shadow never
changes anything even when confirmed (it reports the exact requests instead), and read-only
servers do not have the tools at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexla_mcp.sandbox import PLANTED_SECRETS
from nexla_mcp.server.testing import call_ok

from .write_support import Answerer, WriteStack, audit_events, plan_and_confirm, refusal

pytestmark = pytest.mark.anyio


async def _fixes(stack: WriteStack) -> list[tuple[str, dict[str, Any]]]:
    """One call of each remediation write, on seeded flows, as an assistant finds them."""
    scenarios = (await stack.control("GET", "/_sandbox/scenarios"))["scenarios"]
    rows = {row["kind"]: row for row in scenarios}
    async with stack.connect() as client:
        flow_id = rows["transform_error"]["flow_id"]
        flow = await call_ok(client, "get_flow", {"flow_id": flow_id})
        s3 = await call_ok(client, "list_credentials", {"credentials_type": "s3"})
    transform_id = [n["transform_id"] for n in flow["nexsets"] if n.get("transform_id")][-1]
    s3_ids = [row["credential_id"] for row in s3["credentials"]]
    healthy = next(
        row
        for row in scenarios
        if row["kind"] == "healthy" and row["data_credentials_id"] in s3_ids
    )
    other_s3 = next(cid for cid in s3_ids if cid != healthy["data_credentials_id"])
    return [
        ("update_resource", {"resource_type": "data_sources",
                             "resource_id": rows["rate_limited"]["data_source_id"],
                             "poll_schedule": "every 2 hours"}),
        ("update_resource", {"resource_type": "data_sources",
                             "resource_id": rows["network_timeout"]["data_source_id"],
                             "settings": {"timeout_ms": 60000}}),
        ("update_resource", {"resource_type": "data_sources",
                             "resource_id": healthy["data_source_id"], "credential_id": other_s3}),
        ("update_resource", {"resource_type": "data_sinks",
                             "resource_id": healthy["data_sink_ids"][0],
                             "settings": {"batch_size": 500, "max_retries": 5}}),
        ("update_transform", {"transform_id": transform_id,
                              "code": "def transform(r):\n    return r", "code_type": "python"}),
    ]  # fmt: skip


@pytest.mark.parametrize("writes", ["confirm", "human", "shadow"])
async def test_planning_changes_nothing_in_any_mode(tmp_path: Path, writes: str) -> None:
    stack = WriteStack(tmp_path)
    before = await stack.digest()
    async with stack.connect(stack.server(stack.settings(writes=writes))) as client:
        for tool, arguments in await _fixes(stack):
            plan = await call_ok(client, tool, arguments)
            assert plan["status"] == "planned" and plan["plan_token"], (tool, plan)
    assert await stack.digest() == before and stack.writes() == []


async def test_human_mode_refuses_a_client_that_cannot_ask_and_changes_nothing(
    tmp_path: Path,
) -> None:
    stack = WriteStack(tmp_path)
    before = await stack.digest()
    async with stack.connect(stack.server(stack.settings(writes="human"))) as client:
        for tool, arguments in await _fixes(stack):
            plan = await call_ok(client, tool, arguments)
            confirmed = {**arguments, "confirm": True, "plan_token": plan["plan_token"]}
            assert await refusal(client, tool, confirmed) == "human_required"
    assert await stack.digest() == before and stack.writes() == []


@pytest.mark.parametrize("answer", ["accept", "decline"])
async def test_shadow_confirms_as_usual_and_sends_nothing(tmp_path: Path, answer: str) -> None:
    """Even an approved shadow write leaves Nexla untouched and lists what it would send."""
    stack = WriteStack(tmp_path)
    before = await stack.digest()
    server = stack.server(stack.settings(writes="shadow"))
    asker = Answerer("accept" if answer == "accept" else "decline")
    async with stack.connect(server, elicitation_callback=asker) as client:
        for tool, arguments in await _fixes(stack):
            plan = await call_ok(client, tool, arguments)
            confirmed = {**arguments, "confirm": True, "plan_token": plan["plan_token"]}
            if answer == "decline":
                assert await refusal(client, tool, confirmed) == "declined"
                continue
            receipt = await call_ok(client, tool, confirmed)
            assert (
                receipt["status"] == "shadow" and receipt["approval"]["mechanism"] == "elicitation"
            )
            assert len(receipt["would_send"]) == 1
            sent = receipt["would_send"][0]
            assert sent["method"] == "PUT" and sent["body"]
    assert asker.questions  # the person was asked every time
    assert await stack.digest() == before and stack.writes() == []


async def test_shadow_reports_exactly_the_request_a_real_write_sends(tmp_path: Path) -> None:
    """The same plan confirmed under shadow and then for real: the request is the same."""
    stack = WriteStack(tmp_path)
    tool, arguments = (await _fixes(stack))[1]  # a config change on an ACTIVE source: force=1
    async with stack.connect(stack.server(stack.settings(writes="shadow"))) as client:
        _, shadow = await plan_and_confirm(client, tool, arguments)
    async with stack.connect() as client:
        _, real = await plan_and_confirm(client, tool, arguments)
    assert real["status"] == "applied"
    sent = [r for r in stack.requests if r.method == "PUT"]
    assert len(sent) == 1
    would = shadow["would_send"][0]
    assert (would["method"], would["path"]) == ("PUT", sent[0].url.path)
    assert would["params"] == {"force": 1} and sent[0].url.params.get("force") == "1"
    assert would["body"]["source_config"]["timeout_ms"] == 60000


async def test_the_audit_log_records_shadow_executions_without_secrets(tmp_path: Path) -> None:
    stack = WriteStack(tmp_path)
    async with stack.connect(stack.server(stack.settings(writes="shadow"))) as client:
        for tool, arguments in await _fixes(stack):
            await plan_and_confirm(client, tool, arguments)
    executions = [e for e in audit_events(stack.audit_dir / "audit.jsonl")
                  if e["event"] == "execution"]  # fmt: skip
    assert len(executions) == 5 and {e["outcome"] for e in executions} == {"shadow"}
    text = (stack.audit_dir / "audit.jsonl").read_text()
    assert [s[:10] for s in PLANTED_SECRETS if s in text] == []


async def test_a_credential_of_another_connector_type_is_blocked(tmp_path: Path) -> None:
    stack = WriteStack(tmp_path)
    rows = (await stack.control("GET", "/_sandbox/scenarios"))["scenarios"]
    async with stack.connect() as client:
        postgres = await call_ok(client, "list_credentials", {"credentials_type": "postgres"})
        s3 = {
            row["credential_id"]
            for row in (await call_ok(client, "list_credentials", {"credentials_type": "s3"}))[
                "credentials"
            ]
        }
        healthy = next(
            row for row in rows if row["kind"] == "healthy" and row["data_credentials_id"] in s3
        )
        plan = await call_ok(client, "update_resource", {
            "resource_type": "data_sources", "resource_id": healthy["data_source_id"],
            "credential_id": postgres["credentials"][0]["credential_id"]})  # fmt: skip
    assert plan["status"] == "blocked" and "postgres credential" in plan["blocked_by"]
    assert "plan_token" not in plan
