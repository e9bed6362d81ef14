"""Every NexlaClient endpoint method against the in-process sandbox (httpx.ASGITransport)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from nexla_mcp.errors import (
    CredentialError,
    NexlaError,
    NotFoundError,
    ResourceConflictError,
    UpstreamTimeoutError,
    ValidationError,
)
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.nexla.status_errors import upstream_message
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app

from .conftest import SANDBOX_URL, FakeTime

pytestmark = pytest.mark.anyio

HEALTHY_FLOW, HEALTHY_SOURCE, HEALTHY_CREDENTIAL = 9001, 5101, 5001
DETECTED_NEXSET, DERIVED_NEXSET, HEALTHY_SINK = 6101, 6102, 7101
PAUSED_FLOW = 9012
TRANSFORM_ERROR_FLOW = 9021
EXPIRED_FLOW, EXPIRED_SOURCE, EXPIRED_CREDENTIAL = 9015, 5105, 5009
A_WEEK_AGO = datetime.now(UTC) - timedelta(days=7)


# --- flows ------------------------------------------------------------------------------------


async def test_list_flows_returns_one_page_of_origin_nodes_with_totals(client: NexlaClient) -> None:
    """A page holds origin nodes only, and total/page_count come from the headers."""
    page = await client.list_flows(page=1, per_page=5)
    assert len(page.flows) == 5
    assert all(node.is_origin for node in page.flows)
    assert page.total == 15 and page.page_count == 3
    assert page.data_sources == [], "flows_only omits side-loads"


async def test_list_flows_filters_by_status(client: NexlaClient) -> None:
    """The status filter reaches the server."""
    page = await client.list_flows(status="PAUSED")
    assert page.flows and all(node.status == "PAUSED" for node in page.flows)


async def test_iter_flows_walks_every_page_without_truncation(client: NexlaClient) -> None:
    """The paginator collects all 15 flows over 4 pages of 4 and reports no truncation."""
    paginator = client.iter_flows(per_page=4)
    flows = await paginator.collect()
    assert len({node.id for node in flows}) == 15
    assert (paginator.pages_fetched, paginator.truncated) == (4, False)


async def test_get_flow_returns_the_tree_and_side_loaded_resources(client: NexlaClient) -> None:
    """The flow document walks source → nexsets → sink and side-loads their resources."""
    document = await client.get_flow(HEALTHY_FLOW)
    assert document.resource_ids() == {
        "data_sources": [HEALTHY_SOURCE],
        "data_sets": [DETECTED_NEXSET, DERIVED_NEXSET],
        "data_sinks": [HEALTHY_SINK],
    }
    assert document.data_sources[0].credential_id == HEALTHY_CREDENTIAL
    assert {n.id for n in document.data_sets} == {DETECTED_NEXSET, DERIVED_NEXSET}
    derived = next(n for n in document.data_sets if n.id == DERIVED_NEXSET)
    assert derived.parent_nexset_id == DETECTED_NEXSET


async def test_get_flow_by_a_child_node_renders_the_whole_flow(client: NexlaClient) -> None:
    """Any node id of a flow returns the flow from its origin."""
    document = await client.get_flow(HEALTHY_FLOW)
    child = next(node for node in document.iter_nodes() if not node.is_origin)
    assert (await client.get_flow(child.id, flows_only=True)).flows[0].id == HEALTHY_FLOW


async def test_get_flow_by_resource_finds_the_flow_of_a_sink(client: NexlaClient) -> None:
    """A sink id leads to its flow's origin."""
    document = await client.get_flow_by_resource("data_sinks", HEALTHY_SINK)
    assert document.flows[0].id == HEALTHY_FLOW


async def test_get_unknown_flow_raises_not_found_with_status(client: NexlaClient) -> None:
    """An unknown id is a NotFoundError whose summary names the flow and status 404."""
    with pytest.raises(NotFoundError) as caught:
        await client.get_flow(999_999)
    summary = caught.value.get_error_summary()
    assert (summary["status_code"], summary["resource_type"], summary["resource_id"]) == (
        404,
        "flows",
        999_999,
    )


async def test_pause_and_activate_flow_flip_the_origin_status(client: NexlaClient) -> None:
    """pause_flow(all) pauses the flow and activate_flow(all) brings it back."""
    paused = await client.pause_flow(HEALTHY_FLOW, all=True)
    assert paused.flows[0].status == "PAUSED"
    assert (await client.get_source(HEALTHY_SOURCE)).status == "PAUSED"
    active = await client.activate_flow(HEALTHY_FLOW, all=True)
    assert active.flows[0].status == "ACTIVE"


async def test_pause_and_activate_flow_by_resource_use_the_flow_endpoints(
    client: NexlaClient,
) -> None:
    """The by-resource forms return a flow document, not the bare resource (§19 #13)."""
    paused = await client.pause_flow_by_resource("data_sources", HEALTHY_SOURCE, all=True)
    assert paused.flows[0].id == HEALTHY_FLOW and paused.flows[0].status == "PAUSED"
    active = await client.activate_flow_by_resource("data_sources", HEALTHY_SOURCE, all=True)
    assert active.flows[0].status == "ACTIVE"


async def test_deleting_an_active_flow_is_a_conflict_listing_the_active_ids(
    client: NexlaClient,
) -> None:
    """405 'must be paused' becomes ResourceConflictError with the active ids in response."""
    with pytest.raises(ResourceConflictError) as caught:
        await client.delete_flow(HEALTHY_FLOW)
    assert caught.value.status_code == 405
    assert HEALTHY_SOURCE in caught.value.response["data_sources"]
    assert (await client.get_flow(HEALTHY_FLOW)).flows, "nothing was deleted"


async def test_delete_paused_flow_removes_it(client: NexlaClient) -> None:
    """A paused flow can be deleted, after which it is gone."""
    await client.pause_flow(PAUSED_FLOW, all=True)
    await client.delete_flow(PAUSED_FLOW)
    with pytest.raises(NotFoundError):
        await client.get_flow(PAUSED_FLOW)


async def test_delete_flow_by_resource_removes_the_flow(client: NexlaClient) -> None:
    """The by-resource delete works once the flow is paused."""
    source_id = (await client.get_flow(PAUSED_FLOW)).resource_ids()["data_sources"][0]
    await client.pause_flow_by_resource("data_sources", source_id, all=True)
    await client.delete_flow_by_resource("data_sources", source_id)
    with pytest.raises(NotFoundError):
        await client.get_source(source_id)


async def test_run_status_reports_each_sink_and_redacts_echoed_tokens(
    client: NexlaClient,
) -> None:
    """The latest run of a failing flow has one entry per sink, with no raw token in it."""
    entries = await client.get_run_status(EXPIRED_FLOW)
    assert entries and entries[0]["output"]["state"] == "FAILED"
    assert "eyJhbGciOiJSUzI1NiIs" not in str(entries)


async def test_bad_resource_type_is_rejected_before_sending(client: NexlaClient) -> None:
    """An unknown resource_type raises ValidationError and never reaches the server."""
    with pytest.raises(ValidationError):
        await client.get_flow_by_resource("flows", 1)  # type: ignore[arg-type]  # the point
    with pytest.raises(ValidationError):
        await client.get_flow(0)


# --- resources --------------------------------------------------------------------------------


async def test_list_sources_nexsets_destinations_credentials_return_pages_with_totals(
    client: NexlaClient,
) -> None:
    """Each list returns models plus X-Total-Count."""
    sources = await client.list_sources()
    nexsets = await client.list_nexsets(per_page=5, page=1)
    sinks = await client.list_destinations()
    credentials = await client.list_credentials()
    assert sources.total == len(sources.items) == 15
    assert len(nexsets.items) == 5 and nexsets.total == 19
    assert sinks.total == 14 and credentials.total == 23
    assert {s.id for s in sources.items} >= {HEALTHY_SOURCE, EXPIRED_SOURCE}


async def test_get_resources_expose_credential_and_parent_accessors(client: NexlaClient) -> None:
    """credential_id and parent_nexset_id work on the show views (§19 #16, #17)."""
    source = await client.get_source(HEALTHY_SOURCE, expand=True)
    nexset = await client.get_nexset(DERIVED_NEXSET)
    sink = await client.get_destination(HEALTHY_SINK)
    credential = await client.get_credential(HEALTHY_CREDENTIAL)
    assert source.credential_id == HEALTHY_CREDENTIAL
    assert nexset.parent_nexset_id == DETECTED_NEXSET
    assert sink.credential_id is not None and sink.data_set_id == DERIVED_NEXSET
    assert credential.credentials_type == "s3"


async def _new_credential(client: NexlaClient) -> int:
    created = await client.create_credential(
        {
            "name": "test-s3",
            "credentials_type": "s3",
            "credentials": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "x" * 40},
        }
    )
    return created.id


async def test_source_lifecycle_create_update_activate_pause_delete(client: NexlaClient) -> None:
    """A new source starts INIT, can be renamed, activated, paused and deleted."""
    credential_id = await _new_credential(client)
    source = await client.create_source(
        {
            "name": "test-source",
            "source_type": "s3",
            "data_credentials_id": credential_id,
            "source_config": {"path": "acme-orders/in/"},
        }
    )
    assert source.status == "INIT"
    assert (await client.update_source(source.id, {"name": "renamed"})).name == "renamed"
    assert (await client.activate_source(source.id)).status == "ACTIVE"
    with pytest.raises(ResourceConflictError):
        await client.delete_source(source.id)
    assert (await client.pause_source(source.id)).status == "PAUSED"
    # Activation ran the source and detected a nexset, which stays active until its flow pauses.
    await client.pause_flow_by_resource("data_sources", source.id, all=True)
    await client.delete_source(source.id)
    with pytest.raises(NotFoundError):
        await client.get_source(source.id)


async def test_nexset_lifecycle_create_update_activate_pause_delete(client: NexlaClient) -> None:
    """A derived nexset can be created under a parent, changed and removed."""
    nexset = await client.create_nexset(
        {
            "name": "test-derived",
            "parent_data_set_id": DETECTED_NEXSET,
            "has_custom_transform": True,
            "transform_id": 7701,
        }
    )
    assert nexset.parent_nexset_id == DETECTED_NEXSET
    assert (await client.update_nexset(nexset.id, {"description": "d"})).description == "d"
    assert (await client.activate_nexset(nexset.id)).status == "ACTIVE"
    assert (await client.pause_nexset(nexset.id)).status == "PAUSED"
    await client.delete_nexset(nexset.id)
    with pytest.raises(NotFoundError):
        await client.get_nexset(nexset.id)


async def test_destination_lifecycle_create_update_activate_pause_delete(
    client: NexlaClient,
) -> None:
    """A destination under a nexset can be created, changed, toggled and removed."""
    credential_id = await _new_credential(client)
    sink = await client.create_destination(
        {
            "name": "test-sink",
            "sink_type": "s3",
            "data_credentials_id": credential_id,
            "data_set_id": DERIVED_NEXSET,
            "sink_config": {"path": "acme-datalake/out/"},
        }
    )
    assert sink.data_set_id == DERIVED_NEXSET
    assert (await client.update_destination(sink.id, {"name": "renamed"})).name == "renamed"
    assert (await client.activate_destination(sink.id)).status == "ACTIVE"
    assert (await client.pause_destination(sink.id)).status == "PAUSED"
    await client.delete_destination(sink.id)
    with pytest.raises(NotFoundError):
        await client.get_destination(sink.id)


async def test_credential_lifecycle_and_in_use_conflict(client: NexlaClient) -> None:
    """A credential in use cannot be deleted; a fresh one can be updated and deleted."""
    with pytest.raises(ResourceConflictError):
        await client.delete_credential(HEALTHY_CREDENTIAL)
    credential_id = await _new_credential(client)
    updated = await client.update_credential(credential_id, {"name": "renamed"})
    assert updated.name == "renamed"
    await client.delete_credential(credential_id)
    with pytest.raises(NotFoundError):
        await client.get_credential(credential_id)


async def test_nexset_samples_return_records(client: NexlaClient) -> None:
    """Samples come back as a list of dicts, at most ``count`` long."""
    samples = await client.get_nexset_samples(DETECTED_NEXSET, count=2)
    assert len(samples) == 2 and "rawMessage" in samples[0]


async def test_transforms_list_and_get(client: NexlaClient) -> None:
    """Transforms list and show; they carry no status (§19 #18)."""
    page = await client.list_transforms()
    assert page.items
    transform = await client.get_transform(page.items[0].id)
    assert transform.id == page.items[0].id and transform.status is None


# --- credential probes ------------------------------------------------------------------------


async def test_probe_of_a_valid_credential_is_ok(client: NexlaClient) -> None:
    """A 2xx probe is valid (§19 #6)."""
    result = await client.probe_credential(HEALTHY_CREDENTIAL)
    assert result.ok and result.status_code == 200


async def test_probe_of_an_expired_credential_raises_credential_error(client: NexlaClient) -> None:
    """A 403 on the probe path is a CredentialError with the status; the external system's
    reason is in the body it carries, not in the message."""
    with pytest.raises(CredentialError) as caught:
        await client.probe_credential(EXPIRED_CREDENTIAL)
    assert caught.value.status_code == 403
    assert caught.value.resource_id == EXPIRED_CREDENTIAL
    assert "expired" in (upstream_message(caught.value.response) or "")
    assert "expired" not in caught.value.message


async def test_probe_tree_and_sample_return_output(client: NexlaClient) -> None:
    """Tree and sample probes return the browsed structure and the first records."""
    tree = await client.probe_credential_tree(HEALTHY_CREDENTIAL, depth=2)
    sample = await client.probe_credential_sample(HEALTHY_CREDENTIAL, path="acme-orders/in/")
    assert tree.ok and tree.output
    assert sample.ok and sample.output["statusCode"] == 200


# --- metrics and logs -------------------------------------------------------------------------


async def test_daily_metrics_have_one_row_per_day(client: NexlaClient) -> None:
    """Daily metrics are dated rows inside the requested range."""
    metrics = await client.get_daily_metrics(
        "data_sources", HEALTHY_SOURCE, from_date=A_WEEK_AGO.date(), to_date=date.today()
    )
    assert metrics.metrics
    assert all(A_WEEK_AGO.date() <= row.time <= date.today() for row in metrics.metrics)


async def test_run_summary_rows_come_from_metrics_data(client: NexlaClient) -> None:
    """Rows are read from metrics.data with paging meta (§19 #8); failing runs have errors."""
    summary = await client.get_run_summary("data_sources", EXPIRED_SOURCE, page=1, size=5)
    assert len(summary.rows) == 5 and summary.meta.total_count
    assert summary.rows[0].run_id and summary.rows[0].errors > 0
    assert summary.rows[0].started_at is not None


async def test_destination_run_summary_grouped_by_last_written_has_write_times(
    client: NexlaClient,
) -> None:
    """groupby="lastWritten" asks for each run's write time, which runId grouping leaves out."""
    by_run = await client.get_run_summary("data_sinks", HEALTHY_SINK, size=5)
    by_write = await client.get_run_summary(
        "data_sinks", HEALTHY_SINK, groupby="lastWritten", size=5
    )
    assert by_run.rows and all(row.last_written is None for row in by_run.rows)
    assert [row.run_id for row in by_write.rows] == [row.run_id for row in by_run.rows]
    assert all(row.last_written and row.last_written > (row.run_id or 0) for row in by_write.rows)


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and counts them."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.sent = inner, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize(
    ("resource_type", "options"),
    [
        ("data_sources", {"groupby": "lastWritten"}),
        ("data_sets", {"orderby": "lastWritten"}),
        ("data_sinks", {"groupby": "day"}),
        ("data_sinks", {"orderby": "records"}),
    ],
)
async def test_run_summary_groupings_are_checked_before_sending(
    resource_type: str, options: dict[str, Any]
) -> None:
    """An unknown grouping or ordering, or lastWritten off a destination, is refused locally."""
    transport = CountingTransport(httpx.ASGITransport(app=create_app()))
    async with NexlaClient(
        api_url=SANDBOX_URL, service_key=DEFAULT_SERVICE_KEY, transport=transport
    ) as nexla:
        await nexla.get_run_summary("data_sinks", HEALTHY_SINK, size=1)
        sent = transport.sent
        with pytest.raises(ValidationError):
            await nexla.get_run_summary(resource_type, 1, **options)  # type: ignore[arg-type]
        assert transport.sent == sent


async def test_flow_metrics_group_by_resource_kind(client: NexlaClient) -> None:
    """Flow metrics keep the server's data dict keyed by resource kind."""
    metrics = await client.get_flow_metrics(
        "data_sources", HEALTHY_SOURCE, from_date=A_WEEK_AGO.date()
    )
    assert metrics.data["data_sources"][0]["id"] == HEALTHY_SOURCE


async def test_flow_logs_of_a_run_are_normalised_and_redacted(client: NexlaClient) -> None:
    """Log entries get datetimes and messages; the echoed OAuth token is redacted."""
    run_id = (await client.get_flow(EXPIRED_FLOW)).flows[0].last_run_id
    assert run_id is not None
    page = await client.get_flow_logs(
        "data_sources", EXPIRED_SOURCE, run_id=run_id, from_ts=A_WEEK_AGO
    )
    assert page.entries and page.meta.run_id == run_id
    assert any(entry.severity == "ERROR" for entry in page.entries)
    assert all(entry.timestamp.tzinfo is not None for entry in page.entries)
    assert not any("eyJhbGciOiJSUzI1NiIs" in entry.message for entry in page.entries)


async def test_flow_logs_by_flow_page_through_a_time_range(client: NexlaClient) -> None:
    """The by-flow form (seconds) returns a page of entries with totals."""
    page = await client.get_flow_logs_by_flow(EXPIRED_FLOW, from_ts=A_WEEK_AGO, per_page=10)
    assert len(page.entries) == 10 and (page.meta.total_count or 0) > 10


# --- notifications, audit, accessors, async tasks ---------------------------------------------


async def test_notifications_filter_by_resource(client: NexlaClient) -> None:
    """Notifications for one source accept the path vocabulary for resource_type."""
    everything = await client.list_notifications()
    assert everything.items
    some = everything.items[0]
    kinds = {"SOURCE": "data_sources", "DATASET": "data_sets", "SINK": "data_sinks"}
    filtered = await client.list_notifications(
        resource_type=kinds[some.resource_type or "SOURCE"], resource_id=some.resource_id
    )
    assert filtered.items and all(n.resource_id == some.resource_id for n in filtered.items)


async def test_audit_log_lists_changes(client: NexlaClient) -> None:
    """The audit log of a source has its create event."""
    page = await client.get_audit_log("data_sources", HEALTHY_SOURCE)
    assert any(entry.event == "create" for entry in page.items)


async def test_a_transforms_audit_log_shows_its_code_edit(client: NexlaClient) -> None:
    """A transform's edits are read as a code container or through the transforms alias."""
    flow = await client.get_flow(TRANSFORM_ERROR_FLOW)
    transform_id = flow.code_containers[0].id
    for collection in ("code_containers", "transforms"):
        page = await client.get_audit_log(collection, transform_id)
        assert any("code" in entry.object_changes for entry in page.items)


async def test_accessors_can_be_added_replaced_and_removed(client: NexlaClient) -> None:
    """add merges, replace sets, delete removes; TEAM team_id is sent as id (§19 #19)."""
    team = {"type": "TEAM", "team_id": 12, "access_roles": ["operator"]}
    added = await client.add_accessors("flows", HEALTHY_FLOW, [team])
    assert any(a.type == "TEAM" and a.id == 12 for a in added)
    owner = [a for a in added if a.type == "USER"]
    assert owner
    user = {"type": "USER", "id": owner[0].id, "access_roles": ["admin"]}
    replaced = await client.replace_accessors("flows", HEALTHY_FLOW, [user])
    assert [a.type for a in replaced] == ["USER"]
    await client.add_accessors("flows", HEALTHY_FLOW, [team])
    remaining = await client.delete_accessors("flows", HEALTHY_FLOW, [{"type": "TEAM", "id": 12}])
    assert not any(a.type == "TEAM" for a in remaining)
    assert await client.get_accessors("flows", HEALTHY_FLOW) == remaining


async def test_async_probe_task_runs_to_completion() -> None:
    """A CallProbe task is created with type and task_type, awaited, and its result read.

    The client's injected sleep moves the sandbox clock, so waiting takes no real time.
    """
    sandbox_now = [datetime.now(UTC).timestamp()]
    polls: list[float] = []

    async def sleep(seconds: float) -> None:
        polls.append(seconds)
        sandbox_now[0] += seconds

    app = create_app(clock=lambda: sandbox_now[0])
    async with NexlaClient(
        api_url=SANDBOX_URL,
        service_key=DEFAULT_SERVICE_KEY,
        transport=httpx.ASGITransport(app=app),
        sleep=sleep,
        clock=lambda: sandbox_now[0],
    ) as client:
        task = await client.create_async_task(
            "CallProbe", {"type": "DataCredentials", "id": HEALTHY_CREDENTIAL}
        )
        assert task.task_type == "CallProbe"
        assert (await client.get_async_task(task.id)).id == task.id
        assert not (await client.get_async_task_result(task.id)).ready
        done = await client.wait_for_async_task(task.id, timeout=60, poll_interval=0.5)
        result = await client.get_async_task_result(task.id)
    assert done.status == "completed" and polls
    assert result.ready and result.result is not None


async def test_waiting_for_a_task_past_its_timeout_raises_upstream_timeout() -> None:
    """A task still running when the wait budget ends raises a retryable timeout."""
    sandbox_now = [datetime.now(UTC).timestamp()]
    app = create_app(clock=lambda: sandbox_now[0])
    fake = FakeTime()
    async with NexlaClient(
        api_url=SANDBOX_URL,
        service_key=DEFAULT_SERVICE_KEY,
        transport=httpx.ASGITransport(app=app),
        sleep=fake.sleep,
        clock=fake.clock,
    ) as client:
        task = await client.create_async_task(
            "CallProbe", {"type": "DataCredentials", "id": HEALTHY_CREDENTIAL}
        )
        with pytest.raises(UpstreamTimeoutError) as caught:
            await client.wait_for_async_task(task.id, timeout=2, poll_interval=0.5)
    assert caught.value.retryable and sum(fake.sleeps) == pytest.approx(2)


async def test_unknown_async_task_type_is_refused(client: NexlaClient) -> None:
    """The server's 400 for an unknown task type surfaces as a NexlaError, not a crash."""
    with pytest.raises(NexlaError) as caught:
        await client.create_async_task("NoSuchTask", {})
    assert caught.value.status_code == 400


def _dump(model: Any) -> str:
    return model.model_dump_json() if hasattr(model, "model_dump_json") else str(model)
