"""Credential probes: authenticate, tree and sample, sync and async (§10.4, §19 #6/#7)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import FakeClock, scenario

pytestmark = pytest.mark.anyio


async def test_valid_credential_probe_is_200_ok(api: httpx.AsyncClient) -> None:
    """Probing a good credential is 200 {status: "ok", message: "Ok"}."""
    row = await scenario(api, "healthy")
    reply = await api.get(f"/data_credentials/{row['data_credentials_id']}/probe")
    assert reply.status_code == 200
    assert (reply.json()["status"], reply.json()["message"]) == ("ok", "Ok")
    alias = await api.get(f"/data_credentials/{row['data_credentials_id']}/probe/authenticate")
    assert alias.json() == reply.json()


async def test_expired_credential_probe_is_403_with_the_reason(api: httpx.AsyncClient) -> None:
    """An expired credential answers 403 {status: 403, message} saying the token expired."""
    row = await scenario(api, "credential_expired")
    reply = await api.get(f"/data_credentials/{row['data_credentials_id']}/probe")
    assert reply.status_code == 403
    assert reply.json()["status"] == 403 and "token expired" in reply.json()["message"]


async def test_tree_lists_storage_under_output_and_object(api: httpx.AsyncClient) -> None:
    """POST probe/tree answers the listing under `output` (docs) and `object` (SDK model)."""
    row = await scenario(api, "healthy")
    reply = await api.post(
        f"/data_credentials/{row['data_credentials_id']}/probe/tree", json={"depth": 1}
    )
    body = reply.json()
    assert reply.status_code == 200 and body["output"] == body["object"]
    assert body["connection_type"] == "s3" and "acme-orders" in body["output"]


async def test_tree_needs_a_depth(api: httpx.AsyncClient) -> None:
    """depth is required by the probe tree endpoint."""
    row = await scenario(api, "healthy")
    reply = await api.post(
        f"/data_credentials/{row['data_credentials_id']}/probe/tree", json={"path": "x"}
    )
    assert reply.status_code == 400 and "depth" in reply.json()["message"]


async def test_sample_returns_records_for_files_and_columns_for_databases(
    api: httpx.AsyncClient,
) -> None:
    """probe/sample output is text for file stores and {columns, data} for databases."""
    files = await scenario(api, "healthy")
    file_reply = await api.post(
        f"/data_credentials/{files['data_credentials_id']}/probe/sample",
        json={"path": "acme-orders/in/2025-03-04.json"},
    )
    assert file_reply.status_code == 200 and isinstance(
        file_reply.json()["output"]["response"], str
    )
    database = next(
        row
        for row in (await api.get("/_sandbox/scenarios")).json()["scenarios"]
        if row["kind"] == "healthy" and row["flow_id"] != files["flow_id"]
    )
    db_reply = await api.post(
        f"/data_credentials/{database['data_credentials_id']}/probe/sample", json={}
    )
    assert {"columns", "data"} <= set(db_reply.json()["output"]["response"])


async def test_permission_denied_authenticates_but_cannot_read(api: httpx.AsyncClient) -> None:
    """A forbidden credential passes the probe but its tree and sample are 403 AccessDenied."""
    row = await scenario(api, "permission_denied")
    base = f"/data_credentials/{row['data_credentials_id']}"
    assert (await api.get(f"{base}/probe")).status_code == 200
    tree = await api.post(f"{base}/probe/tree", json={"depth": 1})
    sample = await api.post(f"{base}/probe/sample", json={"path": "x"})
    assert tree.status_code == sample.status_code == 403
    assert "AccessDenied" in tree.json()["message"] and "s3:GetObject" in sample.json()["message"]


async def test_async_probe_completes_later_and_records_verified_status(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """probe?async=1 returns a wrapped task; once done, verified_status is recorded."""
    row = await scenario(api, "credential_expired")
    base = f"/data_credentials/{row['data_credentials_id']}"
    wrapped = (await api.get(f"{base}/probe", params={"async": "True"})).json()
    assert wrapped["status"] == "pending"
    clock.advance(5)
    done = (await api.get(f"{base}/probe", params={"request_id": wrapped["request_id"]})).json()
    assert done["status"] == "completed" and done["response"]["status"] == 403
    credential = (await api.get(base)).json()
    assert credential["verified_status"].startswith("403 Authentication failed")


async def test_probe_of_an_unknown_credential_is_a_bare_404(api: httpx.AsyncClient) -> None:
    """Unknown credential ids are 404 with no body on every probe route."""
    for method, path in (("GET", "/probe"), ("POST", "/probe/tree"), ("POST", "/probe/sample")):
        reply = await api.request(method, f"/data_credentials/999999{path}", json={"depth": 1})
        assert (reply.status_code, reply.content) == (404, b"")
