"""logread: a failing run's error lines however many lines it has, filtered upstream or paged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.runbooks.evidence import fetch_runs
from nexla_mcp.runbooks.logread import read_whole_run
from nexla_mcp.runbooks.runs import RunTotals
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from tests.runbooks.sandbox_org import API_URL, now

pytestmark = pytest.mark.anyio

SOURCE = ("data_sources", 5111)  # flow 9035's source


class Logs(httpx.AsyncBaseTransport):
    """The sandbox, counting log pages; with ``ignore_severity`` it plays a Nexla that ignores
    ``severity`` on flow logs (a server extra in the fact sheet, not a documented parameter)."""

    def __init__(self, *, ignore_severity: bool) -> None:
        self.inner = httpx.ASGITransport(app=create_app())
        self.ignore_severity = ignore_severity
        self.log_pages = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/flow/logs"):
            self.log_pages += 1
            if self.ignore_severity:
                kept = [(k, v) for k, v in request.url.params.multi_items() if k != "severity"]
                request.url = request.url.copy_with(params=kept)
        return await self.inner.handle_async_request(request)


async def noisy_failing_run(transport: Logs) -> tuple[NexlaClient, RunTotals]:
    """Flow 9035's latest run: 4,000 WARN lines first, then its own duplicate-key ERROR."""
    http = httpx.AsyncClient(transport=transport)
    body = {
        "flow_id": 9035,
        "timeline": [{"profile": "resource_conflict", "runs": 2}],
        "noise": [{"lines": 4000, "severity": "WARNING", "messages": ["Slow batch {n}"]}],
    }
    (await http.post(f"{API_URL}/_sandbox/drills", json=body)).raise_for_status()
    client = NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY, http_client=http)
    failed, _ = (await fetch_runs(client, SOURCE, now())).focus()
    assert failed is not None
    return client, failed


@pytest.fixture(params=[False, True], ids=["filter honoured", "filter ignored"])
async def reading(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Logs, NexlaClient, RunTotals]]:
    transport = Logs(ignore_severity=request.param)
    client, run = await noisy_failing_run(transport)
    async with client:
        transport.log_pages = 0
        yield transport, client, run


async def test_the_late_error_line_is_found_behind_thousands_of_warnings(
    reading: tuple[Logs, NexlaClient, RunTotals],
) -> None:
    transport, client, run = reading
    found = await read_whole_run(client, SOURCE, run, time_left=lambda: 60.0)
    assert found.complete and found.total is not None and found.total > 4000
    assert any("duplicate key" in entry.message for entry in found.entries)
    if transport.ignore_severity:
        assert not found.filtered_upstream and transport.log_pages >= 5  # paged through
    else:
        assert found.filtered_upstream and transport.log_pages == 2  # first page + errors


async def test_paging_stops_before_the_deadline_and_says_so() -> None:
    transport = Logs(ignore_severity=True)
    client, run = await noisy_failing_run(transport)
    async with client:
        found = await read_whole_run(client, SOURCE, run, time_left=lambda: 1.0)
    assert not found.complete
    assert not any("duplicate key" in entry.message for entry in found.entries)
