"""A rotation scene on the sandbox: the seeded expired credential spread over several flows.

``rotation_scene`` makes credential 5009 (the seeded ``credential_expired`` flow's, expired)
the credential of: that flow's source (ACTIVE flow 9015), the destination of the ACTIVE
orders flow (9001), the destination of the PAUSED inventory flow (9038) and a new source of
its own (an INIT flow), and makes one nexset of the orders flow PAUSED, so an exact restore
is visible. It also creates the replacement: a valid ``rest`` credential.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from nexla_mcp.nexla import NexlaClient
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY

from .write_support import WriteStack

__all__ = ["EXPIRED", "RotationScene", "api", "flow_statuses", "rotation_scene"]

EXPIRED = 5009
EXPIRED_FLOW = 9015
ORDERS, INVENTORY = 9001, 9038


@asynccontextmanager
async def api(stack: WriteStack) -> AsyncIterator[NexlaClient]:
    """A Nexla client straight on the sandbox, for setting scenes and reading them back."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app))
    async with (
        http,
        NexlaClient(
            api_url="http://sandbox.test", service_key=DEFAULT_SERVICE_KEY, http_client=http
        ) as client,
    ):
        yield client


async def flow_statuses(client: NexlaClient, flow_id: int) -> dict[str, str]:
    document = await client.get_flow(flow_id)
    return {
        f"{kind}/{item.id}": item.status or ""
        for kind in ("data_sources", "data_sets", "data_sinks")
        for item in getattr(document, kind)
    }


@dataclass
class RotationScene:
    new_credential: int
    users: list[tuple[str, int]]
    flows: list[int]


async def rotation_scene(stack: WriteStack) -> RotationScene:
    async with api(stack) as client:
        orders = await client.get_flow(ORDERS)
        inventory = await client.get_flow(INVENTORY)
        orders_sink = orders.data_sinks[0].id
        inventory_sink = inventory.data_sinks[0].id
        for sink in (orders_sink, inventory_sink):
            await client.update_destination(sink, {"data_credentials_id": EXPIRED})
        await client.pause_nexset(orders.data_sets[-1].id)
        extra = await client.create_source(
            {"name": "contacts-backfill", "source_type": "rest", "data_credentials_id": EXPIRED}
        )
        new = await client.create_credential(
            {
                "name": "hubspot-oauth-replacement",
                "credentials_type": "rest",
                "credentials": {"access_token": "fresh-token-value-0123456789", "url": "https://x"},
            }
        )
    users = [
        ("data_sources", 5105),
        ("data_sinks", orders_sink),
        ("data_sinks", inventory_sink),
        ("data_sources", extra.id),
    ]
    flows = [EXPIRED_FLOW, ORDERS, INVENTORY, int(extra.origin_node_id or 0)]
    return RotationScene(new.id, users, flows)


async def credentials_of(client: NexlaClient, users: list[tuple[str, int]]) -> list[Any]:
    found = []
    for kind, ident in users:
        getter = client.get_source if kind == "data_sources" else client.get_destination
        found.append((await getter(ident, expand=True)).credential_id)
    return found
