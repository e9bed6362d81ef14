"""A generated 10,000-flow org builds in seconds and pages flows quickly."""

from __future__ import annotations

import time

import httpx
import pytest

from nexla_mcp.sandbox import create_app

from .conftest import BASE_URL, FakeClock, authorize

pytestmark = pytest.mark.anyio

FLOWS = 10_000
# Generous guards against pathological slowness on a loaded 2-core machine, not benchmarks.
BUILD_GUARD_S = 30.0
REQUEST_GUARD_S = 5.0


async def test_ten_thousand_flow_org_builds_and_pages_flows_quickly() -> None:
    """flows=10000 adds that many flows; a 100-flow page with side-loads answers fast."""
    started = time.perf_counter()
    app = create_app(flows=FLOWS, clock=FakeClock())
    build_s = time.perf_counter() - started
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        await authorize(client)
        started = time.perf_counter()
        reply = await client.get("/flows", params={"page": 1, "per_page": 100})
        page_s = time.perf_counter() - started
        body = reply.json()
        counts = (await client.get("/_sandbox/state")).json()["counts"]
        started = time.perf_counter()
        sources = await client.get("/data_sources", params={"page": 3, "per_page": 100})
        sources_s = time.perf_counter() - started
    print(
        f"\nbuild {FLOWS} flows: {build_s:.2f}s; GET /flows page of 100: {page_s * 1000:.0f} ms; "
        f"GET /data_sources page of 100: {sources_s * 1000:.0f} ms"
    )
    assert counts["flows"] == FLOWS + 15
    assert reply.status_code == 200 and len(body["flows"]) == 100
    assert reply.headers["X-Total-Count"] == str(FLOWS + 15)
    assert len(body["data_sources"]) == 100 and len(body["data_sinks"]) >= 100
    assert len(sources.json()) == 100
    assert build_s < BUILD_GUARD_S and page_s < REQUEST_GUARD_S and sources_s < REQUEST_GUARD_S


async def test_generated_org_sprinkles_incidents_among_healthy_flows() -> None:
    """About one generated flow in 50 carries an incident, listed as a scenario."""
    seeded, generated_app = create_app(clock=FakeClock()), create_app(flows=500, clock=FakeClock())
    rows = {}
    for name, app in (("seeded", seeded), ("generated", generated_app)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as client:
            rows[name] = (await client.get("/_sandbox/scenarios")).json()["scenarios"]
    seeded_ids = {row["flow_id"] for row in rows["seeded"]}
    extra = [row for row in rows["generated"] if row["flow_id"] not in seeded_ids]
    assert 5 <= len(extra) <= 20
    assert "healthy" not in {row["kind"] for row in extra}
    assert len({row["kind"] for row in extra}) >= 5
