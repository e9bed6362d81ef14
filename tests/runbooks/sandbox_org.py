"""The sandbox's control API, as the runbook tests drive it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

API_URL = "http://sandbox.test"


def now() -> datetime:
    return datetime.now(UTC)


class Org:
    """Seeded scenarios, injected incidents and faults of one sandbox app."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def scenarios(self) -> list[dict[str, Any]]:
        reply = await self.http.get(f"{API_URL}/_sandbox/scenarios")
        reply.raise_for_status()
        return reply.json()["scenarios"]

    async def scenario(self, kind: str) -> dict[str, Any]:
        """The first seeded flow showing ``kind``."""
        return next(row for row in await self.scenarios() if row["kind"] == kind)

    async def inject(self, kind: str, flow_id: int) -> dict[str, Any]:
        """Give ``flow_id`` the history and state of incident ``kind``; returns its scenario row."""
        reply = await self.http.post(
            f"{API_URL}/_sandbox/incidents", json={"kind": kind, "flow_id": flow_id}
        )
        reply.raise_for_status()
        return reply.json()

    async def faults(self, **config: Any) -> None:
        reply = await self.http.post(f"{API_URL}/_sandbox/faults", json=config)
        reply.raise_for_status()
