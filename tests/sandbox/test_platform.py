"""Transforms, async tasks, accessors, notifications and audit logs (§12–§16)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import FakeClock, scenario

pytestmark = pytest.mark.anyio


async def test_transforms_list_reusable_code_containers_by_default(api: httpx.AsyncClient) -> None:
    """/transforms shows reusable ones; reusable=0 the inline ones; reusable=all both."""
    reusable = (await api.get("/transforms")).json()
    inline = (await api.get("/transforms", params={"reusable": 0})).json()
    both = (await api.get("/transforms", params={"reusable": "all"})).json()
    assert reusable and inline and all(item["reusable"] for item in reusable)
    assert not any(item["reusable"] for item in inline)
    assert (
        len(both) == len(reusable) + len(inline) == len((await api.get("/code_containers")).json())
    )
    assert "status" not in reusable[0] and {"code", "code_type", "output_type"} <= set(reusable[0])


async def test_a_nexsets_code_container_is_a_transform_listing_that_nexset(
    api: httpx.AsyncClient,
) -> None:
    """A derived nexset's code_container_id resolves at /transforms/{id}, which lists the nexset."""
    row = await scenario(api, "healthy")
    document = (await api.get(f"/flows/{row['flow_id']}")).json()
    derived = next(item for item in document["data_sets"] if item["code_container_id"])
    transform = (await api.get(f"/transforms/{derived['code_container_id']}")).json()
    assert derived["id"] in transform["data_sets"]
    assert [item["id"] for item in document["code_containers"]] == [transform["id"]]


async def test_async_task_goes_pending_running_completed_on_the_clock(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A task takes `type` or `task_type`; its result is 102 until it completes."""
    row = await scenario(api, "healthy")
    body = {
        "type": "CallProbe",
        "arguments": {"type": "DataCredentials", "id": row["data_credentials_id"]},
    }
    task = (await api.post("/async_tasks", json=body)).json()
    assert task["task_type"] == "CallProbe" and task["status"] == "pending"
    assert (await api.get(f"/async_tasks/{task['id']}/result")).status_code == 102
    clock.advance(2)
    assert (await api.get(f"/async_tasks/{task['id']}")).json()["status"] == "running"
    clock.advance(2)
    done = (await api.get(f"/async_tasks/{task['id']}")).json()
    assert done["status"] == "completed" and done["stopped_at"]
    result = await api.get(f"/async_tasks/{task['id']}/result")
    assert result.status_code == 200 and result.json()["status"] == 200


async def test_async_task_creation_validates_type_and_arguments(api: httpx.AsyncClient) -> None:
    """Missing or unknown task types are 400; a probe of an unknown entity is 404."""
    assert (await api.post("/async_tasks", json={"arguments": {}})).json()[
        "message"
    ] == "task_type is required"
    assert (await api.post("/async_tasks", json={"task_type": "Nope"})).status_code == 400
    missing = await api.post(
        "/async_tasks",
        json={"task_type": "CallProbe", "arguments": {"type": "DataSource", "id": 1}},
    )
    assert missing.status_code == 404 and missing.json()["message"] == "Entity not found"
    assert "CallProbe" in (await api.get("/async_tasks/types")).json()


async def test_a_running_task_cannot_be_deleted(api: httpx.AsyncClient, clock: FakeClock) -> None:
    """DELETE of a running task is 400 "Task is running"; once done it can go."""
    row = await scenario(api, "healthy")
    task = (
        await api.post(
            "/async_tasks",
            json={"task_type": "BulkPauseFlows", "arguments": {"id": row["flow_id"]}},
        )
    ).json()
    refused = await api.delete(f"/async_tasks/{task['id']}")
    assert refused.status_code == 400 and refused.json()["message"] == "Task is running"
    clock.advance(5)
    assert (await api.delete(f"/async_tasks/{task['id']}")).status_code == 200
    assert (await api.get(f"/async_tasks/{task['id']}")).status_code == 404


async def test_accessors_add_replace_and_remove(api: httpx.AsyncClient) -> None:
    """PUT merges, POST replaces, DELETE removes named ones (or, bodiless, all but the owner)."""
    row = await scenario(api, "healthy")
    path = f"/data_sources/{row['data_source_id']}/accessors"
    owner_only = (await api.get(path)).json()
    assert [entry["access_roles"] for entry in owner_only] == [["owner"]]
    team = {"type": "TEAM", "id": 12, "access_roles": ["operator"]}
    user = {
        "type": "USER",
        "email": "dana.lee@acme-retail.example",
        "access_roles": ["collaborator"],
    }
    merged = (await api.put(path, json={"accessors": [team, user]})).json()
    assert {(entry["type"], entry["id"]) for entry in merged} == {
        ("USER", 42),
        ("TEAM", 12),
        ("USER", 57),
    }
    replaced = (await api.post(path, json={"accessors": [team]})).json()
    assert [(entry["type"], entry["id"]) for entry in replaced] == [("USER", 42), ("TEAM", 12)]
    removed = (
        await api.request("DELETE", path, json={"accessors": [{"type": "TEAM", "id": 12}]})
    ).json()
    assert removed == owner_only
    await api.put(path, json={"accessors": [team]})
    assert (await api.delete(path)).json() == owner_only


async def test_accessors_can_grant_every_documented_role(api: httpx.AsyncClient) -> None:
    """owner, admin, operator and collaborator are all grantable (fact sheet §15)."""
    row = await scenario(api, "healthy")
    path = f"/flows/{row['flow_id']}/accessors"
    for role in ("owner", "admin", "operator", "collaborator"):
        body = {"accessors": [{"type": "TEAM", "id": 12, "access_roles": [role]}]}
        granted = await api.put(path, json=body)
        assert granted.status_code == 200, role
        team_roles = [entry["access_roles"] for entry in granted.json() if entry["type"] == "TEAM"]
        assert team_roles == [[role]]


async def test_invalid_accessors_are_refused(api: httpx.AsyncClient) -> None:
    """Unknown users or teams, bad roles and malformed bodies are 400s."""
    row = await scenario(api, "healthy")
    path = f"/flows/{row['flow_id']}/accessors"
    for body in (
        {"accessors": [{"type": "TEAM", "team_id": 12, "access_roles": ["operator"]}]},
        {"accessors": [{"type": "USER", "email": "who@else.example", "access_roles": ["admin"]}]},
        {"accessors": [{"type": "TEAM", "id": 12, "access_roles": ["emperor"]}]},
        {"accessors": "all"},
    ):
        assert (await api.put(path, json=body)).status_code == 400, body


async def test_notifications_filter_by_level_resource_and_time(api: httpx.AsyncClient) -> None:
    """level, resource_type+resource_id and from/to (epoch numbers) narrow the notifications."""
    row = await scenario(api, "credential_expired")
    errors = (await api.get("/notifications", params={"level": "ERROR"})).json()
    assert errors and {note["level"] for note in errors} == {"ERROR"}
    mine = (
        await api.get(
            "/notifications",
            params={"resource_type": "SOURCE", "resource_id": row["data_source_id"]},
        )
    ).json()
    assert mine and {note["resource_id"] for note in mine} == {row["data_source_id"]}
    future = (await api.get("/notifications", params={"from": 1_900_000_000})).json()
    assert future == []
    bad = await api.get("/notifications", params={"from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid 'from' date format"
    assert (await api.get("/notifications/count")).json()["count"] >= len(errors)


async def test_notifications_can_be_marked_read(api: httpx.AsyncClient) -> None:
    """mark_read with a list of ids flips read_at; read=0 then no longer lists them."""
    first = (await api.get("/notifications", params={"per_page": 1, "page": 1})).json()[0]
    await api.put("/notifications/mark_read", json=[first["id"]])
    shown = (await api.get(f"/notifications/{first['id']}")).json()
    assert shown["read_at"] is not None
    unread = (await api.get("/notifications", params={"read": 0})).json()
    assert first["id"] not in {note["id"] for note in unread}


async def test_audit_log_records_api_writes_newest_first(api: httpx.AsyncClient) -> None:
    """Writes through the API appear in the resource's audit log with who, what and how."""
    row = await scenario(api, "healthy")
    await api.put(
        f"/data_sources/{row['data_source_id']}",
        json={"description": "nightly orders"},
        headers={"User-Agent": "ops-script/1.0"},
    )
    entries = (await api.get(f"/data_sources/{row['data_source_id']}/audit_log")).json()
    newest = entries[0]
    assert newest["event"] == "update" and newest["change_summary"] == ["description"]
    assert newest["object_changes"]["description"] == [None, "nightly orders"]
    assert newest["request_user_agent"] == "ops-script/1.0" and newest["item_type"] == "DataSource"
    assert entries[-1]["event"] == "create"
    only_updates = (
        await api.get(
            f"/data_sources/{row['data_source_id']}/audit_log", params={"event_filter": "update"}
        )
    ).json()
    assert {entry["event"] for entry in only_updates} == {"update"}
