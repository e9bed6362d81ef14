"""Finding what uses a credential: list_resources credential_id and get_credential, against an
org large enough that the users of a shared credential are spread over several pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp import Client

from nexla_mcp.sandbox import PLANTED_SECRETS, create_app
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, call_error, call_ok
from nexla_mcp.settings import Settings
from nexla_mcp.tools.credentials import MAX_ACTIVE_FLOWS_SHOWN, MAX_USERS_SHOWN

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def big_app() -> Any:
    """The seeded org plus 400 generated flows (about 420 sources over 5 pages)."""
    return create_app(flows=400)


@pytest.fixture
async def client(big_app: Any) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=big_app)) as http:
        server = build_server(
            Settings(sandbox=True, profile="all"), http_client=http, retry_policy=NO_BACKOFF
        )
        async with Client(server) as mcp_client:
            yield mcp_client


def _truth(app: Any) -> dict[int, set[tuple[str, int]]]:
    """credential id -> the (resource_type, id) bound to it, read from the sandbox's store."""
    store = app.state.sandbox.store
    users: dict[int, set[tuple[str, int]]] = {}
    for table, rows in (("data_sources", store.sources), ("data_sinks", store.sinks)):
        for row in rows.values():
            if row.credential_id is not None:
                users.setdefault(row.credential_id, set()).add((table, row.id))
    return users


def _most_shared(app: Any) -> int:
    counts = Counter({credential: len(rows) for credential, rows in _truth(app).items()})
    return counts.most_common(1)[0][0]


async def test_list_resources_by_credential_finds_users_on_every_page(
    client: Client, big_app: Any
) -> None:
    """The users of the most shared credential, paged 7 at a time, are exactly the store's."""
    credential_id = _most_shared(big_app)
    expected = _truth(big_app)[credential_id]
    assert len([kind for kind, _ in expected if kind == "data_sources"]) > 7
    found: set[tuple[str, int]] = set()
    for resource_type in ("data_sources", "data_sinks"):
        cursor = None
        while True:
            arguments: dict[str, Any] = {
                "resource_type": resource_type, "credential_id": credential_id, "limit": 7
            }  # fmt: skip
            if cursor:
                arguments["cursor"] = cursor
            page = await call_ok(client, "list_resources", arguments)
            found |= {(resource_type, row["resource_id"]) for row in page.get("resources", [])}
            cursor = page.get("next_cursor")
            if not cursor:
                break
    assert found == expected


async def test_list_resources_by_credential_counts_exactly_when_it_reads_to_the_end(
    client: Client, big_app: Any
) -> None:
    credential_id = _most_shared(big_app)
    sources = {rid for kind, rid in _truth(big_app)[credential_id] if kind == "data_sources"}
    page = await call_ok(
        client,
        "list_resources",
        {"resource_type": "data_sources", "credential_id": credential_id, "limit": 100},
    )
    assert page["total"] == len(sources) and page["truncated"] is False


async def test_nexsets_have_no_credential_filter(client: Client) -> None:
    error = await call_error(
        client, "list_resources", {"resource_type": "data_sets", "credential_id": 1}
    )
    assert error["type"] == "ValidationError"


async def test_get_credential_counts_every_user_and_left_out_lists_the_rest(
    client: Client, big_app: Any
) -> None:
    """The first users are listed and every one counted; the list_resources calls left_out
    names give all of them, and the active flows among them are the ones it counts."""
    credential_id = _most_shared(big_app)
    expected = _truth(big_app)[credential_id]
    view = await call_ok(client, "get_credential", {"credential_id": credential_id})
    assert view["used_by_total"] == len(expected) > MAX_USERS_SHOWN
    shown = {(row["resource_type"], row["resource_id"]) for row in view["used_by"]}
    assert shown <= expected and len(shown) == MAX_USERS_SHOWN
    assert f"list_resources with credential_id={credential_id}" in view["left_out"]
    rows = [
        (resource_type, row)
        for resource_type in ("data_sources", "data_sinks")
        for row in await _every_row(client, resource_type, credential_id)
    ]
    assert {(kind, row["resource_id"]) for kind, row in rows} == expected
    active = sorted({row["flow_id"] for _, row in rows if row.get("status") == "ACTIVE"})
    assert view["active_flow_count"] == len(active) > 0
    assert view["active_flow_ids"] == active[:MAX_ACTIVE_FLOWS_SHOWN]
    assert "last_probe" in view


async def _every_row(client: Client, resource_type: str, credential_id: int) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    while True:
        arguments = {"resource_type": resource_type, "credential_id": credential_id, "limit": 100}
        page = await call_ok(
            client, "list_resources", {**arguments, "cursor": cursor} if cursor else arguments
        )
        rows += page.get("resources", [])
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


async def test_get_credential_of_an_expired_credential_shows_its_failed_probe_and_no_secret(
    client: Client, big_app: Any
) -> None:
    reply = await _control(big_app, "GET", "/_sandbox/scenarios")
    row = next(r for r in reply["scenarios"] if r["kind"] == "credential_expired")
    result = await client.call_tool("get_credential", {"credential_id": row["data_credentials_id"]})
    assert not result.is_error
    view = result.structured_content or {}
    assert view["used_by"][0] == {
        "resource_type": "data_sources",
        "resource_id": row["data_source_id"],
        "name": view["used_by"][0]["name"],
        "status": "ACTIVE",
        "flow_id": row["flow_id"],
    }
    text = str(result.content) + str(view)
    assert not [secret for secret in PLANTED_SECRETS if secret in text]


async def test_get_credential_of_an_unknown_id_is_not_found(client: Client) -> None:
    error = await call_error(client, "get_credential", {"credential_id": 987654321})
    assert error["type"] == "NotFoundError"


async def _control(app: Any, method: str, path: str) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        reply = await http.request(method, f"http://sandbox.test{path}")
        return reply.json()
