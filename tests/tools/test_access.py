"""The access tools against the sandbox: listing, and grant / revoke / replace behind plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexla_mcp.server.testing import call_error, call_ok

from .write_support import Answerer, WriteStack, plan_and_confirm

pytestmark = pytest.mark.anyio

FLOW = 9001
DANA = {"type": "USER", "email": "dana.lee@acme-retail.example", "access_roles": ["operator"]}
DATA_ENG = {"type": "TEAM", "id": 12, "access_roles": ["collaborator"]}


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    """A fresh sandbox with a request recorder; servers on it audit under tmp_path."""
    return WriteStack(tmp_path)


def roles(entries: list[dict[str, Any]]) -> dict[tuple[str, int], list[str]]:
    return {(e["type"], e["id"]): e["access_roles"] for e in entries}


async def test_list_accessors_shows_the_owner(stack: WriteStack) -> None:
    """A fresh flow is owned by the ops user and shared with no one else."""
    async with stack.connect() as client:
        listing = await call_ok(client, "list_accessors", {"resource_type": "flows",
                                                           "resource_id": FLOW})  # fmt: skip
    assert listing["total"] == 1
    assert roles(listing["accessors"]) == {("USER", 42): ["owner"]}


async def test_list_accessors_is_served_in_read_only_mode(stack: WriteStack) -> None:
    """Reading access is not a write: it stays when the access writes are gone."""
    server = stack.server(stack.settings(writes="off"))
    async with stack.connect(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        await call_ok(client, "list_accessors", {"resource_type": "data_sinks",
                                                 "resource_id": 7101})  # fmt: skip
    assert "list_accessors" in names
    assert not names & {"grant_access", "revoke_access", "replace_accessors"}


async def test_grant_plans_the_new_roles_then_applies_them(stack: WriteStack) -> None:
    """The plan shows who gains what and how to undo it; the receipt reads the list back."""
    target = {"resource_type": "flows", "resource_id": FLOW}
    before = await stack.digest()
    async with stack.connect() as client:
        plan = await call_ok(client, "grant_access", {**target, "accessors": [DANA, DATA_ENG]})
        assert await stack.digest() == before
        receipt = await call_ok(client, "grant_access", {
            **target, "accessors": [DANA, DATA_ENG], "confirm": True,
            "plan_token": plan["plan_token"],
        })  # fmt: skip
        listing = await call_ok(client, "list_accessors", target)
    assert [(c["before"] if "before" in c else None, c["after"]) for c in plan["changes"]] == [
        (None, ["operator"]), (None, ["collaborator"])
    ]  # fmt: skip
    assert plan["reverse_action"]["tool"] == "revoke_access"
    assert receipt["status"] == "applied"
    assert roles(listing["accessors"]) == {
        ("USER", 42): ["owner"], ("USER", 57): ["operator"], ("TEAM", 12): ["collaborator"]
    }  # fmt: skip
    assert stack.writes() == [f"PUT /flows/{FLOW}/accessors"]


async def test_revoke_and_its_undo_round_trip(stack: WriteStack) -> None:
    """Revoking a grant removes it; the receipt's undo grants the same roles back."""
    target = {"resource_type": "data_sets", "resource_id": 6102}
    async with stack.connect() as client:
        await plan_and_confirm(client, "grant_access", {**target, "accessors": [DANA]})
        plan, receipt = await plan_and_confirm(
            client, "revoke_access", {**target, "accessors": [{"type": "USER", "id": 57}]}
        )
        undo = receipt["reverse_action"]
        await plan_and_confirm(client, undo["tool"], undo["arguments"])
        listing = await call_ok(client, "list_accessors", target)
    assert [(c["before"], c.get("after")) for c in plan["changes"]] == [(["operator"], None)]
    assert undo == {"tool": "grant_access", "arguments": {
        **target, "accessors": [{"type": "USER", "id": 57, "access_roles": ["operator"]}]
    }}  # fmt: skip
    assert roles(listing["accessors"])[("USER", 57)] == ["operator"]


async def test_replace_names_everyone_who_loses_access(stack: WriteStack) -> None:
    """Replacing the list with one team plans the user's removal as well as the team's grant;
    the user approves it in the client's prompt."""
    target = {"resource_type": "flows", "resource_id": FLOW}
    async with stack.connect(elicitation_callback=Answerer("accept")) as client:
        await plan_and_confirm(client, "grant_access", {**target, "accessors": [DANA]})
        plan, receipt = await plan_and_confirm(
            client, "replace_accessors", {**target, "accessors": [DATA_ENG]}
        )
    changed = {c["subject"].split()[0] + " " + c["subject"].split()[1]: c.get("after")
               for c in plan["changes"]}  # fmt: skip
    assert changed == {"TEAM 12": ["collaborator"], "USER 57": None}
    assert plan["reverse_action"]["tool"] == "replace_accessors"
    assert roles(receipt["after"]["accessors"]) == {("USER", 42): ["owner"],
                                                    ("TEAM", 12): ["collaborator"]}  # fmt: skip


async def test_granting_roles_someone_already_has_plans_no_change(stack: WriteStack) -> None:
    """No token for a no-op, so a replayed grant could never pass unnoticed."""
    target = {"resource_type": "flows", "resource_id": FLOW}
    async with stack.connect() as client:
        await plan_and_confirm(client, "grant_access", {**target, "accessors": [DANA]})
        again = await call_ok(client, "grant_access", {**target, "accessors": [DANA]})
    assert again["status"] == "no_change" and "plan_token" not in again


async def test_the_owner_s_access_cannot_be_revoked(stack: WriteStack) -> None:
    """Naming the owner is refused at the plan, before anything is sent."""
    async with stack.connect() as client:
        error = await call_error(client, "revoke_access", {
            "resource_type": "flows", "resource_id": FLOW, "accessors": [{"type": "USER", "id": 42}]
        })  # fmt: skip
    assert error["type"] == "ValidationError" and "owner" in error["message"]
    assert stack.writes() == []


@pytest.mark.parametrize(
    "accessors",
    [
        pytest.param([], id="empty"),
        pytest.param([{"type": "USER", "access_roles": ["operator"]}], id="user-without-id"),
        pytest.param([{"type": "USER", "id": 57, "access_roles": ["owner"]}], id="owner-role"),
        pytest.param([{"type": "USER", "id": 57, "access_roles": []}], id="no-roles"),
        pytest.param([{"type": "ROBOT", "id": 1, "access_roles": ["operator"]}], id="bad-type"),
        pytest.param([{"type": "TEAM", "email": "x@y.z", "access_roles": ["operator"]}],
                     id="email-on-team"),
        pytest.param([DANA, DANA], id="twice"),
        pytest.param([{**DATA_ENG, "id": 12 + n} for n in range(21)], id="bulk"),
        pytest.param([{**DANA, "extra": 1}], id="unknown-field"),
    ],
)  # fmt: skip
async def test_bad_accessor_lists_are_refused_before_any_request(
    stack: WriteStack, accessors: list[dict[str, Any]]
) -> None:
    """Accessor items are validated in full before Nexla sees a request."""
    async with stack.connect() as client:
        error = await call_error(client, "grant_access", {
            "resource_type": "flows", "resource_id": FLOW, "accessors": accessors
        })  # fmt: skip
    assert error["type"] in ("ValidationError", "InvalidArgumentsError")
    assert stack.requests == []


async def test_credential_access_cannot_be_written_under_a_flow_allow_list(
    stack: WriteStack,
) -> None:
    """A credential belongs to no flow, so an allow list of flows cannot admit it."""
    server = stack.server(stack.settings(allow_flows=(FLOW,)))
    async with stack.connect(server) as client:
        error = await call_error(client, "grant_access", {
            "resource_type": "data_credentials", "resource_id": 5023, "accessors": [DANA]
        })  # fmt: skip
    assert error["details"]["reason"] == "not_allowed"
    assert stack.writes() == []
