"""Sources, nexsets, destinations, credentials: lists, views, writes, refusals (§7–§10)."""

from __future__ import annotations

import json

import httpx
import pytest

from nexla_mcp.sandbox import PLANTED_SECRETS

from .conftest import scenario

pytestmark = pytest.mark.anyio

COLLECTIONS = ("data_sources", "data_sets", "data_sinks", "data_credentials")


@pytest.mark.parametrize("collection", COLLECTIONS)
async def test_lists_are_plain_arrays_with_a_total_count(
    api: httpx.AsyncClient, collection: str
) -> None:
    """List endpoints answer a JSON array and always send X-Total-Count."""
    reply = await api.get(f"/{collection}")
    assert isinstance(reply.json(), list) and reply.json()
    assert reply.headers["X-Total-Count"] == str(len(reply.json()))
    page = await api.get(f"/{collection}", params={"page": 2, "per_page": 3})
    assert len(page.json()) == 3 and page.headers["X-Current-Page"] == "2"


async def test_page_without_per_page_defaults_to_ten(api: httpx.AsyncClient) -> None:
    """`page` alone pages by 10 (§3.1)."""
    reply = await api.get("/data_sets", params={"page": 1})
    assert len(reply.json()) == 10 and reply.headers["X-Total-Page-Count"] == "2"


async def test_lists_filter_by_connector_type_status_and_name(api: httpx.AsyncClient) -> None:
    """source_type/sink_type take comma lists; status and name narrow the list."""
    s3_or_gcs = (await api.get("/data_sources", params={"source_type": "s3,gcs"})).json()
    assert s3_or_gcs and {item["source_type"] for item in s3_or_gcs} <= {"s3", "gcs"}
    snowflake = (await api.get("/data_sinks", params={"sink_type": "snowflake"})).json()
    assert snowflake and {item["sink_type"] for item in snowflake} == {"snowflake"}
    paused = (await api.get("/data_sources", params={"status": "PAUSED"})).json()
    assert paused and {item["status"] for item in paused} == {"PAUSED"}
    named = (await api.get("/data_credentials", params={"credentials_type": "postgres"})).json()
    assert named and {item["credentials_type"] for item in named} == {"postgres"}


async def test_list_views_omit_config_and_credential_ids_that_show_views_nest(
    api: httpx.AsyncClient,
) -> None:
    """Index views lack source_config/data_credentials_id; expand=1 gives show views."""
    brief = (await api.get("/data_sources")).json()[0]
    assert "source_config" not in brief and "data_credentials_id" not in brief
    expanded = (await api.get("/data_sources", params={"expand": 1})).json()[0]
    assert "source_config" in expanded and "data_credentials" in expanded
    sink = (await api.get("/data_sinks")).json()[0]
    assert "sink_config" not in sink and "data_credentials_id" not in sink


async def test_no_credential_view_ever_contains_a_secret(api: httpx.AsyncClient) -> None:
    """Credential lists, briefs, shows and every resource nesting a credential carry no secrets."""
    paths = [
        "/data_credentials",
        "/data_credentials?expand=1",
        "/data_credentials?brief=1",
        "/data_sources?expand=1",
        "/data_sinks?expand=1",
        "/flows",
    ]
    paths += [
        f"/data_credentials/{item['id']}" for item in (await api.get("/data_credentials")).json()
    ]
    texts = [(await api.get(path)).text for path in paths]
    blob = "\n".join(texts)
    for secret in PLANTED_SECRETS:
        assert secret not in blob
    for key in ("password", "secret_access_key", "private_key", "access_token", "refresh_token"):
        assert f'"{key}"' not in blob


async def test_creating_a_source_answers_200_with_an_init_source_and_its_flow(
    api: httpx.AsyncClient,
) -> None:
    """POST /data_sources returns the object (200, not 201) in INIT, with its own origin node."""
    credential = (await api.get("/data_credentials", params={"credentials_type": "s3"})).json()[0]
    body = {
        "name": "returns-s3",
        "source_type": "s3",
        "data_credentials_id": credential["id"],
        "source_config": {"path": "acme-returns/in/"},
    }
    reply = await api.post("/data_sources", json=body)
    source = reply.json()
    assert reply.status_code == 200 and source["status"] == "INIT" and source["data_sets"] == []
    flow = (await api.get(f"/flows/{source['flow_node_id']}")).json()
    assert flow["flows"][0]["data_source_id"] == source["id"]
    assert flow["flows"][0]["children"] == [] and flow["flows"][0]["last_run_id"] is None


async def test_first_activation_of_a_new_source_detects_its_nexset(api: httpx.AsyncClient) -> None:
    """Activating a new source runs it, and the run creates "<name>, Schema #1" (§20.2)."""
    source = (
        await api.post("/data_sources", json={"name": "returns-api", "source_type": "rest"})
    ).json()
    activated = (await api.put(f"/data_sources/{source['id']}/activate")).json()
    assert activated["status"] == "ACTIVE"
    assert [item["name"] for item in activated["data_sets"]] == ["returns-api, Schema #1"]
    assert activated["run_ids"]


@pytest.mark.parametrize(
    ("collection", "body", "message"),
    [
        pytest.param(
            "data_sources", {"source_type": "s3"}, "name is required", id="source-no-name"
        ),
        pytest.param(
            "data_sources",
            {"name": "x", "source_type": "teleport"},
            "Unknown source connector type",
            id="source-bad-type",
        ),
        pytest.param(
            "data_sources",
            {"name": "x", "source_type": "s3", "data_credentials_id": "7"},
            "data_credentials_id must be a positive integer",
            id="source-string-cred",
        ),
        pytest.param(
            "data_sets",
            {"name": "x", "has_custom_transform": False},
            "parent_data_set_id is required",
            id="nexset-no-parent",
        ),
        pytest.param(
            "data_sinks",
            {"name": "x", "sink_type": "s3", "data_set_id": 6101},
            "data_credentials_id is required",
            id="sink-no-cred",
        ),
        pytest.param(
            "data_credentials",
            {"name": "x", "credentials_type": "s3"},
            "credentials is required",
            id="credential-no-secrets",
        ),
    ],
)
async def test_invalid_create_bodies_are_400s_that_change_nothing(
    api: httpx.AsyncClient, collection: str, body: dict[str, object], message: str
) -> None:
    """A bad create body is a 400 with a clear message, and the state digest does not move."""
    before = (await api.get("/_sandbox/state")).json()
    reply = await api.post(f"/{collection}", json=body)
    assert reply.status_code == 400
    assert reply.json()["message"] == reply.json()["error"] == message
    assert (await api.get("/_sandbox/state")).json() == before


async def test_malformed_json_is_the_servers_parse_error(api: httpx.AsyncClient) -> None:
    """A body that is not JSON is 400 "Cannot parse JSON request body"."""
    reply = await api.post(
        "/data_sources", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and reply.json()["message"] == "Cannot parse JSON request body"


async def test_derived_nexset_and_sink_attach_under_their_parents(api: httpx.AsyncClient) -> None:
    """POST /data_sets hangs under the parent nexset; POST /data_sinks under the nexset."""
    row = await scenario(api, "healthy")
    parent = row["data_set_ids"][0]
    credential = (
        await api.get("/data_credentials", params={"credentials_type": "snowflake"})
    ).json()[0]
    nexset = (
        await api.post(
            "/data_sets",
            json={
                "name": "orders-eu",
                "parent_data_set_id": parent,
                "has_custom_transform": True,
                "transform": {
                    "version": 1,
                    "operations": [{"operation": "shift", "spec": {"id": "id"}}],
                },
            },
        )
    ).json()
    assert nexset["parent_data_sets"][0]["id"] == parent and nexset["has_custom_transform"] is True
    sink = (
        await api.post(
            "/data_sinks",
            json={
                "name": "orders-eu-snowflake",
                "sink_type": "snowflake",
                "data_credentials_id": credential["id"],
                "data_set_id": nexset["id"],
                "sink_config": {"table": "ORDERS_EU"},
            },
        )
    ).json()
    assert sink["data_set_id"] == nexset["id"] and sink["status"] == "INIT"
    tree = (await api.get(f"/data_sinks/{sink['id']}/flow")).json()
    assert tree["flows"][0]["id"] == row["flow_id"]


async def test_changing_an_active_sources_config_needs_force(api: httpx.AsyncClient) -> None:
    """PUT of source_config on an ACTIVE source is 405 unless force=1 (§4.3)."""
    row = await scenario(api, "healthy")
    path = f"/data_sources/{row['data_source_id']}"
    body = {"source_config": {"path": "acme-orders/v2/"}}
    refused = await api.put(path, json=body)
    assert refused.status_code == 405 and "source_config" in refused.json()["message"]
    renamed = await api.put(path, json={"name": "orders-s3-renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "orders-s3-renamed"
    forced = await api.put(path, params={"force": 1}, json=body)
    assert forced.status_code == 200 and forced.json()["source_config"] == {
        "path": "acme-orders/v2/"
    }
    assert forced.json()["status"] == "ACTIVE"


async def test_active_sources_and_sinks_cannot_be_deleted(api: httpx.AsyncClient) -> None:
    """DELETE of an ACTIVE source or sink is 405 with the server's message."""
    row = await scenario(api, "healthy")
    source = await api.delete(f"/data_sources/{row['data_source_id']}")
    assert (
        source.status_code == 405
        and source.json()["message"] == "Data source must be paused before deletion"
    )
    sink = await api.delete(f"/data_sinks/{row['data_sink_ids'][0]}")
    assert sink.json()["message"] == "Data sink must be paused before deletion"
    await api.put(f"/data_sinks/{row['data_sink_ids'][0]}/pause")
    deleted = await api.delete(f"/data_sinks/{row['data_sink_ids'][0]}")
    assert (deleted.status_code, deleted.content) == (200, b"")


async def test_a_credential_in_use_cannot_be_deleted_and_names_its_users(
    api: httpx.AsyncClient,
) -> None:
    """DELETE /data_credentials/{id} in use is 405 "Data credentials in use" with ids per type."""
    row = await scenario(api, "healthy")
    reply = await api.delete(f"/data_credentials/{row['data_credentials_id']}")
    body = reply.json()
    assert reply.status_code == 405 and body["message"] == "Data credentials in use"
    assert row["data_source_id"] in body["data_sources"]
    assert {
        "data_sinks",
        "data_sets",
        "gen_ai_configs",
        "catalog_configs",
        "code_containers",
    } <= set(body)


async def test_credentials_are_created_and_replaced_without_echoing_secrets(
    api: httpx.AsyncClient,
) -> None:
    """POST/PUT credentials keep secrets out of the reply; non-secret parts are shown."""
    secret = "hunter2-very-secret"
    created = await api.post(
        "/data_credentials",
        json={
            "name": "pg-new",
            "credentials_type": "postgres",
            "credentials": {"host": "pg.internal", "username": "etl", "password": secret},
        },
    )
    assert created.status_code == 200 and secret not in created.text
    credential = created.json()
    assert credential["credentials_non_secure_data"] == {"host": "pg.internal", "username": "etl"}
    replaced = await api.put(
        f"/data_credentials/{credential['id']}",
        json={"credentials": {"host": "pg2.internal", "password": "another-secret"}},
    )
    assert replaced.json()["credentials_non_secure_data"] == {"host": "pg2.internal"}
    audit = (await api.get(f"/data_credentials/{credential['id']}/audit_log")).text
    assert "another-secret" not in audit and secret not in audit
    assert (await api.delete(f"/data_credentials/{credential['id']}")).status_code == 200


async def test_detected_nexset_samples_are_raw_messages_with_metadata(
    api: httpx.AsyncClient,
) -> None:
    """A detected nexset's samples are {rawMessage, nexlaMetaData}; count limits them."""
    row = await scenario(api, "healthy")
    samples = (
        await api.get(f"/data_sets/{row['data_set_ids'][0]}/samples", params={"count": 3})
    ).json()
    assert len(samples) == 3
    assert set(samples[0]) == {"rawMessage", "nexlaMetaData"}
    assert samples[0]["nexlaMetaData"]["resourceId"] == row["data_source_id"]


async def test_derived_nexset_samples_pair_input_and_output(api: httpx.AsyncClient) -> None:
    """A derived nexset answers input/output pairs; output_only and live change the shape."""
    row = await scenario(api, "healthy")
    path = f"/data_sets/{row['data_set_ids'][-1]}/samples"
    pairs = (await api.get(path, params={"count": 2})).json()
    assert set(pairs[0]) == {"input", "output"} and "rawMessage" in pairs[0]["output"]
    outputs = (await api.get(path, params={"count": 2, "output_only": 1})).json()
    assert set(outputs[0]) == {"rawMessage", "nexlaMetaData"}
    bare = (
        await api.get(path, params={"count": 2, "live": "True", "include_metadata": "False"})
    ).json()
    assert "rawMessage" not in bare[0] and "order_id" in bare[0]


async def test_sample_count_beyond_the_cache_is_capped_at_twenty(api: httpx.AsyncClient) -> None:
    """At most 20 samples are cached per nexset."""
    row = await scenario(api, "healthy")
    samples = (
        await api.get(f"/data_sets/{row['data_set_ids'][0]}/samples", params={"count": 500})
    ).json()
    assert len(samples) == 20


async def test_resource_show_views_validate_as_json_with_iso_timestamps(
    api: httpx.AsyncClient,
) -> None:
    """Timestamps are ISO-8601 UTC with milliseconds and a Z."""
    row = await scenario(api, "healthy")
    source = (await api.get(f"/data_sources/{row['data_source_id']}")).json()
    assert source["created_at"].endswith("Z") and len(source["created_at"]) == 24
    assert json.loads(json.dumps(source)) == source


@pytest.mark.parametrize("collection", ("data_sources", "data_sets", "data_sinks"))
async def test_tags_update_on_every_flow_resource(api: httpx.AsyncClient, collection: str) -> None:
    """PUT with tags replaces them on sources, nexsets and destinations alike."""
    resource_id = (await api.get(f"/{collection}")).json()[0]["id"]
    updated = await api.put(f"/{collection}/{resource_id}", json={"tags": ["prod", "tier-1"]})
    assert updated.status_code == 200
    shown = (await api.get(f"/{collection}/{resource_id}")).json()
    assert shown["tags"] == ["prod", "tier-1"]
