"""The control tools against the sandbox: plans that change nothing, the cascade spelled out,
receipts read back from Nexla, undo, deletion, safe updates, bad input and policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from nexla_mcp.server.testing import MODES, NO_BACKOFF, call_error, call_ok

from .write_support import Answerer, WriteStack, audit_events, plan_and_confirm, refusal

pytestmark = pytest.mark.anyio

ORDERS = 9001  # source 9001 -> nexset 9002 -> nexset 9003 -> destination 9004, all ACTIVE
INVENTORY = 9038  # a PAUSED flow: source 9038 -> nexset 9039 -> destination 9040
LEGACY = 9012  # a PAUSED flow


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    """A fresh sandbox with a request recorder; servers on it audit under tmp_path."""
    return WriteStack(tmp_path)


def statuses(state: dict[str, Any]) -> dict[int, str]:
    return {node["node_id"]: node["status"] for node in state["nodes"]}


async def test_a_plan_changes_nothing_and_spells_out_the_cascade(stack: WriteStack) -> None:
    """Pausing a middle node stops it and what is downstream; upstream is listed as untouched."""
    before = await stack.digest()
    async with stack.connect() as client:
        plan = await call_ok(client, "pause_flow", {"flow_id": 9003})
    assert plan["status"] == "planned" and plan["plan_token"] and plan["expires_at"]
    assert [(c["field"], c["before"], c["after"]) for c in plan["changes"]] == [
        ("status", "ACTIVE", "PAUSED")
    ] * 2
    blast = plan["blast_radius"]
    assert [name.split()[:2] for name in blast["affected"]] == [
        ["data_sets", "6102"], ["data_sinks", "7101"]
    ]  # fmt: skip
    assert [name.split()[:2] for name in blast["unaffected"]] == [
        ["data_sources", "5101"], ["data_sets", "6101"]
    ]  # fmt: skip
    assert "downstream" in blast["notes"][0]
    assert plan["reverse_action"] == {
        "tool": "activate_flow", "arguments": {"flow_id": 9003, "all": False}
    }  # fmt: skip
    assert statuses(plan["current_state"]) == dict.fromkeys((9001, 9002, 9003, 9004), "ACTIVE")
    assert await stack.digest() == before
    assert stack.writes() == []


async def test_all_true_plans_the_whole_flow_from_its_origin(stack: WriteStack) -> None:
    """all=true from a middle node reaches the source too."""
    async with stack.connect() as client:
        plan = await call_ok(client, "pause_flow", {"flow_id": 9003, "all": True})
    assert len(plan["changes"]) == 4
    assert "whole flow" in plan["change"]
    assert "No new runs start" in " ".join(plan["blast_radius"]["notes"])


@pytest.mark.parametrize("mode", MODES)
async def test_a_confirmed_pause_is_applied_verified_and_audited(
    stack: WriteStack, mode: Any
) -> None:
    """One PUT reaches Nexla; the receipt shows before/after read back, and the undo call."""
    async with stack.connect(mode=mode) as client:
        plan, receipt = await plan_and_confirm(client, "pause_flow", {"flow_id": 9003})
    assert stack.writes() == ["PUT /flows/9003/pause"]
    assert receipt["status"] == "applied" and "changes" not in receipt
    assert statuses(receipt["before"]) == dict.fromkeys((9001, 9002, 9003, 9004), "ACTIVE")
    assert statuses(receipt["after"]) == {9001: "ACTIVE", 9002: "ACTIVE", 9003: "PAUSED",
                                          9004: "PAUSED"}  # fmt: skip
    assert receipt["reverse_action"] == plan["reverse_action"]
    events = audit_events(stack.audit_dir / "audit.jsonl")
    assert [e["event"] for e in events] == ["plan", "approval", "execution", "verification"]
    assert events[0]["plan_digest"] == events[1]["plan_digest"] == events[2]["plan_digest"]
    assert events[-1]["outcome"] == "applied"


async def test_the_undo_call_restores_the_statuses(stack: WriteStack) -> None:
    """Running the receipt's reverse action (itself planned and confirmed) undoes the pause."""
    async with stack.connect() as client:
        _, receipt = await plan_and_confirm(client, "pause_flow", {"flow_id": ORDERS})
        undo = receipt["reverse_action"]
        _, restored = await plan_and_confirm(client, undo["tool"], undo["arguments"])
    assert statuses(restored["after"]) == statuses(receipt["before"])


async def test_activate_by_resource_changes_only_that_node_and_downstream(
    stack: WriteStack,
) -> None:
    """Naming the destination of a paused flow activates just the destination."""
    async with stack.connect() as client:
        look = await call_ok(client, "pause_flow", {"flow_id": INVENTORY})
        sink = next(n for n in look["current_state"]["nodes"] if n["resource_type"] == "data_sinks")
        target = {"resource_type": "data_sinks", "resource_id": sink["resource_id"]}
        plan, receipt = await plan_and_confirm(client, "activate_flow", target)
    assert [c["subject"].split()[:2] for c in plan["changes"]] == [
        ["data_sinks", str(sink["resource_id"])]
    ]  # fmt: skip
    assert stack.writes() == [f"PUT /data_sinks/{sink['resource_id']}/flow/activate"]
    assert statuses(receipt["after"])[sink["node_id"]] == "ACTIVE"
    assert statuses(receipt["after"])[INVENTORY] == "PAUSED"


async def test_a_change_that_would_change_nothing_gets_no_token(stack: WriteStack) -> None:
    """Pausing a paused flow plans nothing to confirm (so every executed token changes state)."""
    async with stack.connect() as client:
        plan = await call_ok(client, "pause_flow", {"flow_id": INVENTORY})
    assert plan["status"] == "no_change"
    assert "plan_token" not in plan and "changes" not in plan


async def test_deleting_an_active_flow_is_blocked_at_the_plan(stack: WriteStack) -> None:
    """Nexla refuses to delete ACTIVE resources, so the plan says pause first and has no token."""
    async with stack.connect() as client:
        plan = await call_ok(client, "delete_flow", {"flow_id": ORDERS})
    assert plan["status"] == "blocked" and "plan_token" not in plan
    assert "pause_flow" in plan["blocked_by"]
    assert stack.writes() == []


async def test_a_confirmed_delete_removes_the_flow_and_says_it_cannot_be_undone(
    stack: WriteStack,
) -> None:
    """Deleting a paused flow lists everything removed; the user approves it in the client's
    prompt; the receipt confirms it is gone."""
    before = await stack.control("GET", "/_sandbox/state")
    person = Answerer("accept")
    async with stack.connect(elicitation_callback=person) as client:
        plan, receipt = await plan_and_confirm(client, "delete_flow", {"flow_id": LEGACY})
    assert {c["after"] for c in plan["changes"]} == {"DELETED"} and len(plan["changes"]) == 3
    assert (
        "tool" not in plan["reverse_action"]
        and "cannot be undone" in plan["reverse_action"]["note"]
    )
    assert receipt["status"] == "applied" and receipt["approval"]["mechanism"] == "elicitation"
    assert "cannot be undone" in person.questions[0]
    assert receipt["after"] == {"flow_id": LEGACY, "deleted_node_id": LEGACY}
    after = await stack.control("GET", "/_sandbox/state")
    assert after["counts"]["flows"] == before["counts"]["flows"] - 1
    assert stack.writes() == [f"DELETE /flows/{LEGACY}"]


async def test_update_resource_renames_and_retags_with_an_exact_undo(stack: WriteStack) -> None:
    """Only the named fields change; the undo puts the old values back."""
    args = {"resource_type": "data_sets", "resource_id": 6102, "name": "orders-curated",
            "tags": ["prod", "finance"]}  # fmt: skip
    async with stack.connect() as client:
        plan, receipt = await plan_and_confirm(client, "update_resource", args)
        undo = receipt["reverse_action"]
        _, restored = await plan_and_confirm(client, undo["tool"], undo["arguments"])
    assert {c["field"]: (c["before"], c["after"]) for c in plan["changes"]} == {
        "name": ("orders-clean", "orders-curated"), "tags": (["prod"], ["prod", "finance"])
    }  # fmt: skip
    assert receipt["status"] == "applied"
    assert receipt["after"]["name"] == "orders-curated"
    assert receipt["after"]["tags"] == ["prod", "finance"]
    assert (restored["after"]["name"], restored["after"]["tags"]) == ("orders-clean", ["prod"])
    assert "PUT /data_sets/6102" in stack.writes()


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        pytest.param("pause_flow", {"flow_id": 9001, "resource_type": "data_sinks",
                                    "resource_id": 7101}, id="flow-and-resource"),
        pytest.param("pause_flow", {}, id="no-target"),
        pytest.param("activate_flow", {"resource_type": "data_sinks"}, id="type-without-id"),
        pytest.param("pause_flow", {"flow_id": 0}, id="zero-id"),
        pytest.param("pause_flow", {"flow_id": -9001}, id="negative-id"),
        pytest.param("delete_flow", {"flow_id": 2**63}, id="overflowing-id"),
        pytest.param("delete_flow", {"flow_id": "9001/../9005"}, id="path-traversal"),
        pytest.param("pause_flow", {"flow_id": "9001?all=1"}, id="query-in-id"),
        pytest.param("update_resource", {"resource_type": "data_sets", "resource_id": 6102},
                     id="nothing-to-update"),
        pytest.param("update_resource", {"resource_type": "data_sets", "resource_id": 6102,
                                         "name": "evil\u202ename"}, id="bidi-in-name"),
        pytest.param("update_resource", {"resource_type": "data_sets", "resource_id": 6102,
                                         "tags": ["a", "a"]}, id="repeated-tags"),
        pytest.param("update_resource", {"resource_type": "data_credentials", "resource_id": 1,
                                         "name": "x"}, id="credential-not-allowed"),
        pytest.param("update_resource", {"resource_type": "data_sets", "resource_id": 6102,
                                         "source_config": {"path": "/"}}, id="unsafe-field"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_before_any_request(
    stack: WriteStack, tool: str, arguments: dict[str, Any]
) -> None:
    """Ids, targets and fields are validated before anything is sent to Nexla."""
    async with stack.connect() as client:
        error = await call_error(client, tool, arguments)
    assert error["type"] in ("ValidationError", "InvalidArgumentsError", "UnknownArgumentsError")
    assert stack.requests == []


async def test_a_flow_on_the_deny_list_is_refused_before_any_request(stack: WriteStack) -> None:
    """A denied flow id named by the call never reaches Nexla, not even as a read."""
    server = stack.server(stack.settings(deny_flows=(ORDERS,)))
    async with stack.connect(server) as client:
        assert await refusal(client, "pause_flow", {"flow_id": ORDERS}) == "not_allowed"
    assert stack.requests == []


async def test_a_node_of_a_denied_flow_is_refused_after_reading_its_flow(
    stack: WriteStack,
) -> None:
    """Naming a downstream node or a resource of a denied flow does not get around the list."""
    server = stack.server(stack.settings(deny_flows=(ORDERS,)))
    async with stack.connect(server) as client:
        assert await refusal(client, "pause_flow", {"flow_id": 9004}) == "not_allowed"
        assert await refusal(client, "update_resource", {"resource_type": "data_sinks",
                                                          "resource_id": 7101, "name": "x"}) == (
            "not_allowed"
        )  # fmt: skip
    assert stack.writes() == []


async def test_a_flow_off_the_allow_list_is_refused(stack: WriteStack) -> None:
    """With an allow list, other flows cannot even be planned; listed ones can."""
    server = stack.server(stack.settings(allow_flows=(INVENTORY,)))
    async with stack.connect(server) as client:
        assert await refusal(client, "pause_flow", {"flow_id": ORDERS}) == "not_allowed"
        plan = await call_ok(client, "activate_flow", {"flow_id": INVENTORY})
    assert plan["status"] == "planned"
    refused = [e for e in audit_events(stack.audit_dir / "audit.jsonl") if e["event"] == "refusal"]
    assert [e["reason"] for e in refused] == ["not_allowed"]


async def test_the_write_limit_stops_a_bulk_run_and_is_audited(stack: WriteStack) -> None:
    """With a limit of two, the third confirmed write is refused and nothing more changes."""
    server = stack.server(stack.settings(write_rate_limit=2, write_rate_window_s=600))
    async with stack.connect(server) as client:
        for flow_id in (9005, 9015):
            await plan_and_confirm(client, "pause_flow", {"flow_id": flow_id})
        plan = await call_ok(client, "pause_flow", {"flow_id": 9018})
        before = await stack.digest()
        confirmed = {"flow_id": 9018, "confirm": True, "plan_token": plan["plan_token"]}
        error = await call_error(client, "pause_flow", confirmed)
    assert error["details"]["reason"] == "rate_limited" and error["retry_after_s"] > 0
    assert await stack.digest() == before
    assert len(stack.writes()) == 2
    assert audit_events(stack.audit_dir / "audit.jsonl")[-1]["reason"] == "rate_limited"


@pytest.mark.parametrize("mode", MODES)
async def test_the_write_limit_is_reported_as_such_to_a_client_that_can_ask(
    stack: WriteStack, mode: Any
) -> None:
    """A client with elicitation hears rate_limited (with a wait), not a vague not_approved."""
    person = Answerer("accept")
    server = stack.server(stack.settings(write_rate_limit=1, write_rate_window_s=600))
    async with stack.connect(server, mode=mode, elicitation_callback=person) as client:
        await plan_and_confirm(client, "pause_flow", {"flow_id": 9005})
        plan = await call_ok(client, "pause_flow", {"flow_id": 9015})
        confirmed = {"flow_id": 9015, "confirm": True, "plan_token": plan["plan_token"]}
        error = await call_error(client, "pause_flow", confirmed)
    assert error["details"]["reason"] == "rate_limited" and error["retry_after_s"] > 0
    assert len(person.questions) == 1
    assert len(stack.writes()) == 1


# --- outcomes Nexla leaves unclear: faked at the HTTP boundary -----------------------------

API = "https://acme.nexla.test/nexla-api"


def flow_document(status: str) -> dict[str, Any]:
    """A one-source, one-destination flow whose resources all have ``status``."""
    sink = {"id": 702, "parent_node_id": 701, "origin_node_id": 701, "data_sink_id": 31,
            "node_type": "data_sink", "runtime_status": "IDLE", "children": []}  # fmt: skip
    origin = {"id": 701, "parent_node_id": None, "origin_node_id": 701, "data_source_id": 11,
              "status": status, "name": "fake", "runtime_status": "PROCESSING",
              "children": [sink]}  # fmt: skip
    return {"flows": [origin],
            "data_sources": [{"id": 11, "name": "src", "status": status}],
            "data_sinks": [{"id": 31, "name": "dst", "status": status}]}  # fmt: skip


def fake_nexla(after: str | None) -> tuple[httpx.AsyncClient, list[str]]:
    """A Nexla whose pause times out after sending; re-reads then show ``after`` (None: 500)."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/nexla-api")
        seen.append(f"{request.method} {path}")
        if path == "/token":
            return httpx.Response(200, json={"access_token": "tok-0123456789", "expires_in": 3600})
        if request.method == "PUT":
            raise httpx.ReadTimeout("timed out waiting for Nexla", request=request)
        if not any(line.startswith("PUT") for line in seen):
            return httpx.Response(200, json=flow_document("ACTIVE"))
        if after is None:
            return httpx.Response(500, json={"message": "boom"})
        return httpx.Response(200, json=flow_document(after))

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


@pytest.mark.parametrize(
    ("after", "status"),
    [("PAUSED", "applied"), ("ACTIVE", "unknown"), (None, "unknown")],
)
async def test_a_timed_out_write_is_read_back_never_resent(
    stack: WriteStack, after: str | None, status: str
) -> None:
    """A PUT that times out after sending is sent once; the re-read decides the outcome, and
    a read-back that does not show the change yet says unknown, never not applied (the
    request may still be in Nexla's hands)."""
    from mcp import Client

    from nexla_mcp.server.app import build_server

    http, seen = fake_nexla(after)
    settings = stack.settings(sandbox=False, service_key="svc-fake-0123456789", api_url=API)
    server = build_server(settings, http_client=http, retry_policy=NO_BACKOFF)
    async with Client(server) as client:
        plan, receipt = await plan_and_confirm(client, "pause_flow", {"flow_id": 701})
    assert plan["blast_radius"]["runs_in_flight"] == ["data_sources 11 'src' is PROCESSING"]
    assert seen.count("PUT /flows/701/pause") == 1
    assert receipt["status"] == status
    outcome = [e["outcome"] for e in audit_events(stack.audit_dir / "audit.jsonl")
               if e["event"] in ("execution", "verification")]  # fmt: skip
    assert outcome == ["ambiguous", status]


async def test_a_dropped_connection_on_the_write_is_unknown_until_read_back_settles_it(
    stack: WriteStack,
) -> None:
    """The sandbox drops the PUT before acting on it: sent once, re-read, reported unknown
    (a lost answer proves nothing); the next plan of the same change says it still does not
    show, and issues a fresh plan."""
    await stack.control("POST", "/_sandbox/faults",
                        json={"drop_rate": 1.0, "paths": [f"/flows/{ORDERS}/pause"]})  # fmt: skip
    before = await stack.digest()
    async with stack.connect() as client:
        _, receipt = await plan_and_confirm(client, "pause_flow", {"flow_id": ORDERS})
        assert receipt["status"] == "unknown" and "connection was lost" in receipt["note"]
        assert len(receipt["changes"]) == 4
        again = await call_ok(client, "pause_flow", {"flow_id": ORDERS})
    assert again["status"] == "planned" and "does not show yet" in again["note"]
    assert stack.writes() == [f"PUT /flows/{ORDERS}/pause"]
    assert await stack.digest() == before


async def test_a_write_nexla_refuses_returns_its_error_and_is_audited_as_failed(
    stack: WriteStack,
) -> None:
    """A 403 on the write itself is the error envelope; the audit records the failure."""
    await stack.control("POST", "/_sandbox/faults", json={
        "error_rate": 1.0, "error_status": 403, "paths": [f"/flows/{ORDERS}/pause"]
    })  # fmt: skip
    async with stack.connect() as client:
        plan = await call_ok(client, "pause_flow", {"flow_id": ORDERS})
        confirmed = {"flow_id": ORDERS, "confirm": True, "plan_token": plan["plan_token"]}
        error = await call_error(client, "pause_flow", confirmed)
    assert error["type"] == "AuthorizationError"
    last = audit_events(stack.audit_dir / "audit.jsonl")[-1]
    assert (last["event"], last["outcome"], last["error"]) == (
        "execution", "failed", "AuthorizationError"
    )  # fmt: skip


async def test_no_write_happens_when_the_audit_log_cannot_be_written(
    stack: WriteStack, tmp_path: Path
) -> None:
    """A state store that cannot be opened (its directory would sit under a file) refuses even
    the plan: nothing goes unaudited."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    server = stack.server(stack.settings(state_dir=blocker / "state"))
    async with stack.connect(server) as client:
        error = await call_error(client, "pause_flow", {"flow_id": ORDERS})
    assert (error["type"], error["details"]["reason"]) == ("WriteRefusedError",
                                                           "audit_unavailable")  # fmt: skip
    assert stack.writes() == []
