"""Contract test: the vendor's own synchronous `nexla_sdk` (1.0.8) works against the sandbox.

The SDK talks real HTTP (requests) to the sandbox served by uvicorn on loopback; every
reply must pass its pydantic models and carry the values the seed says it should.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from nexla_sdk import NexlaClient
from nexla_sdk.exceptions import AuthorizationError, NotFoundError
from nexla_sdk.models.credentials.requests import ProbeSampleRequest, ProbeTreeRequest
from nexla_sdk.models.flows.responses import FlowResponse
from nexla_sdk.models.metrics.responses import (
    MetricsByRunResponse,
    MetricsResponse,
    ResourceFlowLogsResponse,
    ResourceFlowMetricsResponse,
)
from nexla_sdk.models.nexsets.responses import NexsetSample

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, PLANTED_SECRETS, create_app
from nexla_mcp.sandbox.serve import serve_in_thread


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def scenarios(base_url: str) -> dict[str, dict[str, Any]]:
    rows = httpx.get(f"{base_url}/_sandbox/scenarios").json()["scenarios"]
    return {row["kind"]: row for row in reversed(rows)}  # first row of each kind wins


@pytest.fixture
def sdk(base_url: str) -> NexlaClient:
    return NexlaClient(service_key=DEFAULT_SERVICE_KEY, base_url=base_url)


def test_sdk_authenticates_and_lists_flows(sdk: NexlaClient) -> None:
    """flows.list() gets a token with the service key and parses the flow document."""
    [document] = sdk.flows.list()
    assert isinstance(document, FlowResponse)
    assert len(document.flows) == 15 and len(document.data_sources) == 15
    assert {flow.status for flow in document.flows} == {"ACTIVE", "PAUSED", "INIT"}
    assert all(node.origin_node_id == node.id for node in document.flows)


def test_sdk_gets_a_flow_by_id_and_by_each_resource(
    sdk: NexlaClient, scenarios: dict[str, Any]
) -> None:
    """flows.get and flows.get_by_resource return the same flow from its origin."""
    row = scenarios["healthy"]
    flow = sdk.flows.get(row["flow_id"])
    assert flow.flows[0].id == row["flow_id"] and flow.flows[0].name == "Orders S3 to Snowflake"
    assert flow.data_sources[0].data_credentials_id == row["data_credentials_id"]
    for resource_type, resource_id in (
        ("data_sources", row["data_source_id"]),
        ("data_sets", row["data_set_ids"][-1]),
        ("data_sinks", row["data_sink_ids"][0]),
    ):
        assert sdk.flows.get_by_resource(resource_type, resource_id).flows[0].id == row["flow_id"]


def test_sdk_pauses_and_activates_a_flow(sdk: NexlaClient, scenarios: dict[str, Any]) -> None:
    """flows.pause and flows.activate flip the whole flow and parse the returned document."""
    flow_id = scenarios["healthy"]["flow_id"]
    paused = sdk.flows.pause(flow_id)
    assert paused.flows[0].status == "PAUSED"
    assert {sink.status for sink in paused.data_sinks} == {"PAUSED"}
    activated = sdk.flows.activate(flow_id)
    assert activated.flows[0].status == "ACTIVE"
    assert {item.status for item in activated.data_sets} == {"ACTIVE"}


def test_sdk_lists_and_gets_sources(sdk: NexlaClient, scenarios: dict[str, Any]) -> None:
    """sources.list/get parse; the show view nests the source's credential."""
    row = scenarios["credential_expired"]
    assert len(sdk.sources.list()) == 15
    source = sdk.sources.get(row["data_source_id"])
    assert source.source_type == "rest" and source.status == "ACTIVE"
    assert source.data_credentials.id == row["data_credentials_id"]
    assert source.run_ids and source.connector.type == "rest"


def test_sdk_lists_and_gets_nexsets(sdk: NexlaClient, scenarios: dict[str, Any]) -> None:
    """nexsets.list/get parse; a derived nexset names its parent."""
    row = scenarios["healthy"]
    assert len(sdk.nexsets.list()) >= 15
    detected, derived = row["data_set_ids"]
    nexset = sdk.nexsets.get(derived)
    assert [parent.id for parent in nexset.parent_data_sets] == [detected]
    assert [sink.id for sink in nexset.data_sinks] == row["data_sink_ids"]
    assert sdk.nexsets.get(detected).data_source_id == row["data_source_id"]


def test_sdk_lists_and_gets_destinations(sdk: NexlaClient, scenarios: dict[str, Any]) -> None:
    """destinations.list/get parse, including sink formats the SDK restricts to an enum."""
    row = scenarios["healthy"]
    destinations = sdk.destinations.list()
    assert len(destinations) >= 14 and {"parquet", "csv"} <= {d.sink_format for d in destinations}
    sink = sdk.destinations.get(row["data_sink_ids"][0])
    assert sink.sink_type == "snowflake" and sink.data_set.id == row["data_set_ids"][-1]


def test_sdk_lists_and_gets_credentials_without_secrets(
    sdk: NexlaClient, scenarios: dict[str, Any]
) -> None:
    """credentials.list/get parse and show only non-secret connection details."""
    row = scenarios["network_timeout"]
    credentials = sdk.credentials.list()
    assert len(credentials) >= 20
    credential = sdk.credentials.get(row["data_credentials_id"])
    assert credential.credentials_type == "postgres"
    assert credential.credentials_non_secure_data["host"] == "pg-replica-2.billing.internal"
    dumped = credential.to_json()
    assert not any(secret in dumped for secret in PLANTED_SECRETS)
    assert len(sdk.credentials.list(credentials_type="s3")) >= 3


def test_sdk_probes_a_valid_and_an_invalid_credential(
    sdk: NexlaClient, scenarios: dict[str, Any]
) -> None:
    """A good credential probes ok; an expired one is the SDK's AuthorizationError (403)."""
    assert sdk.credentials.probe(scenarios["healthy"]["data_credentials_id"])["status"] == "ok"
    with pytest.raises(AuthorizationError) as raised:
        sdk.credentials.probe(scenarios["credential_expired"]["data_credentials_id"])
    assert raised.value.status_code == 403 and "token expired" in str(raised.value)
    tree = sdk.credentials.probe_tree(
        scenarios["healthy"]["data_credentials_id"], ProbeTreeRequest(depth=1)
    )
    assert "acme-orders" in tree.object
    sample = sdk.credentials.probe_sample(
        scenarios["healthy"]["data_credentials_id"],
        ProbeSampleRequest(path="acme-orders/in/2025-03-04.json"),
    )
    assert sample.status == "ok" and sample.output["statusCode"] == 200


def test_sdk_reads_nexset_samples(sdk: NexlaClient, scenarios: dict[str, Any]) -> None:
    """nexsets.get_samples parses the samples (the SDK sends booleans as True/False)."""
    samples = sdk.nexsets.get_samples(scenarios["healthy"]["data_set_ids"][0], count=4)
    assert len(samples) == 4 and all(isinstance(sample, NexsetSample) for sample in samples)
    assert samples[0].raw_message["order_id"].startswith("A-")
    assert samples[0].nexla_metadata["resourceType"] == "SOURCE"


def test_sdk_reads_daily_and_run_summary_metrics(
    sdk: NexlaClient, scenarios: dict[str, Any]
) -> None:
    """Daily metrics and metrics by run parse into the SDK's response models."""
    row = scenarios["resource_conflict"]
    daily = sdk.metrics.get_resource_daily_metrics(
        "data_sinks", row["data_sink_ids"][0], "2020-01-01"
    )
    assert isinstance(daily, MetricsResponse) and daily.status == 200
    assert daily.metrics and all(day["errors"] > 0 for day in daily.metrics[-1:])
    by_run = sdk.metrics.get_resource_metrics_by_run(
        "data_sinks", row["data_sink_ids"][0], orderby="runId", page=1, size=3
    )
    assert isinstance(by_run, MetricsByRunResponse)
    assert len(by_run.metrics["data"]) == 3 and by_run.metrics["meta"]["currentPage"] == 1
    assert by_run.metrics["data"][0]["errors"] > 0


def test_sdk_reads_flow_logs_and_flow_metrics(sdk: NexlaClient, scenarios: dict[str, Any]) -> None:
    """Flow logs and flow metrics parse into the SDK models (not its raw-dict fallback)."""
    row = scenarios["credential_expired"]
    run_id = sdk.metrics.get_resource_metrics_by_run(
        "data_sources", row["data_source_id"], size=1
    ).metrics["data"][0]["runId"]
    logs = sdk.metrics.get_flow_logs(
        "data_sources", row["data_source_id"], run_id=run_id, from_ts=run_id
    )
    assert isinstance(logs, ResourceFlowLogsResponse) and logs.meta.run_id == run_id
    assert any(
        entry.level == "ERROR" and "401 Unauthorized" in entry.message for entry in logs.logs
    )
    same = sdk.flows.get_logs("data_sources", row["data_source_id"], run_id=run_id, from_ts=run_id)
    assert [entry.message for entry in same.logs] == [entry.message for entry in logs.logs]
    metrics = sdk.metrics.get_flow_metrics(
        "data_sources", row["data_source_id"], from_date="2020-01-01", groupby="runId", per_page=2
    )
    assert isinstance(metrics, ResourceFlowMetricsResponse) and len(metrics.metrics.data) == 2
    by_flow = sdk.flows.get_flow_logs(
        row["flow_id"], from_date="2020-01-01", severity="ERROR", per_page=5
    )
    assert by_flow["logs"]["data"] and {entry["severity"] for entry in by_flow["logs"]["data"]} == {
        "ERROR"
    }
    status = sdk.flows.get_run_status(row["flow_id"], run_id)
    assert status[0]["output"]["state"] == "FAILED"


def test_sdk_maps_unknown_ids_to_not_found(sdk: NexlaClient) -> None:
    """A bare 404 from the sandbox becomes the SDK's NotFoundError."""
    with pytest.raises(NotFoundError):
        sdk.sources.get(999999)
