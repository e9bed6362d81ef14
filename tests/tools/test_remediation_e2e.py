"""Broken to recovered through MCP calls alone, as an assistant would do it: diagnose, read
what the diagnosis points at, plan the fix, confirm it, then watch the next run.

The sandbox runs on a clock the test moves: after the fix, three hours pass, so the flow's
next scheduled run has happened when ``watch_flow`` looks. Every result and the audit log are
scanned for planted secrets at the end of each test.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.sandbox import PLANTED_SECRETS, create_app
from nexla_mcp.server.testing import call_ok

from .write_support import WriteStack, plan_and_confirm

pytestmark = pytest.mark.anyio

HOURS = 3600.0


class MovableClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Assistant:
    """An MCP client that keeps every result, to scan them for secrets afterwards."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.texts: list[str] = []

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await call_ok(self.client, tool, arguments)
        self.texts += [json.dumps(arguments), json.dumps(result)]
        return result

    async def fix(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        plan, receipt = await plan_and_confirm(self.client, tool, arguments)
        self.texts += [json.dumps(arguments), json.dumps(plan), json.dumps(receipt)]
        assert receipt["status"] == "applied", receipt
        return {"plan": plan, "receipt": receipt}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def stack(tmp_path: Path, clock: MovableClock) -> WriteStack:
    stack = WriteStack(tmp_path)
    stack.app = create_app(clock=clock)
    return stack


async def _flow_of(stack: WriteStack, kind: str) -> int:
    scenarios = await stack.control("GET", "/_sandbox/scenarios")
    return next(row["flow_id"] for row in scenarios["scenarios"] if row["kind"] == kind)


async def _verify(
    assistant: Assistant, clock: MovableClock, receipt: dict[str, Any], flow_id: int
) -> dict[str, Any]:
    verify = receipt["verify_with"]
    assert verify["tool"] == "watch_flow" and verify["arguments"]["flow_id"] == flow_id
    clock.offset += 3 * HOURS  # the next scheduled run happens
    return await assistant.call("watch_flow", {**verify["arguments"], "timeout_s": 0})


def _no_secrets(assistant: Assistant, stack: WriteStack, logs: str) -> None:
    """No planted secret in any argument or result, the audit log or the server's logs."""
    text = " ".join(assistant.texts) + (stack.audit_dir / "audit.jsonl").read_text() + logs
    assert [secret[:10] for secret in PLANTED_SECRETS if secret in text] == []


def _failing_nexset(flow: dict[str, Any]) -> dict[str, Any]:
    return [nexset for nexset in flow["nexsets"] if nexset.get("transform_id")][-1]


Remedy = Callable[[Assistant, int, dict[str, Any]], Awaitable[dict[str, Any]]]


async def correct_the_transform(
    assistant: Assistant, flow_id: int, diagnosis: dict[str, Any]
) -> dict[str, Any]:
    """The error names the field the transform reads; the samples show it under another name."""
    missing = re.search(r"KeyError '(\w+)'", json.dumps(diagnosis["errors"]))
    assert missing is not None
    flow = await assistant.call("get_flow", {"flow_id": flow_id})
    transform_id = _failing_nexset(flow)["transform_id"]
    transform = await assistant.call(
        "get_transform", {"transform_id": transform_id, "detail": "full"}
    )
    field = missing[1].removesuffix("_cents")
    samples = await assistant.call(
        "get_nexset_samples", {"resource_id": flow["nexsets"][0]["resource_id"]}
    )
    assert field in samples["fields"] and missing[1] not in samples["fields"]
    code = transform["code"].replace(f"r['{missing[1]}'] / 100", f"r['{field}']")
    fixed = await assistant.fix("update_transform", {"transform_id": transform_id, "code": code})
    diff = next(c for c in fixed["plan"]["changes"] if c["field"].startswith("code"))
    assert f"-    r['total'] = r['{missing[1]}'] / 100" in diff["after"]
    assert fixed["plan"]["reverse_action"]["arguments"]["code"] == transform["code"]
    return fixed


async def convert_the_field_back(
    assistant: Assistant, flow_id: int, diagnosis: dict[str, Any]
) -> dict[str, Any]:
    """The error names the field that arrives as text; the transform makes it a number again."""
    field = re.search(r"field '(\w+)' expected number", json.dumps(diagnosis["errors"]))
    assert field is not None
    flow = await assistant.call("get_flow", {"flow_id": flow_id})
    transform_id = _failing_nexset(flow)["transform_id"]
    code = (f"def transform(r):\n    r['{field[1]}'] = float(str(r['{field[1]}'])"
            ".replace(',', '.'))\n    return r")  # fmt: skip
    fixed = await assistant.fix(
        "update_transform", {"transform_id": transform_id, "code": code, "code_type": "python"}
    )
    assert fixed["plan"]["blast_radius"]["affected"]
    return fixed


async def poll_half_as_often(
    assistant: Assistant, flow_id: int, diagnosis: dict[str, Any]
) -> dict[str, Any]:
    """The source's schedule is read, and doubled."""
    flow = await assistant.call("get_flow", {"flow_id": flow_id})
    source_id = flow["source"]["resource_id"]
    source = await assistant.call(
        "get_resource",
        {"resource_type": "data_sources", "resource_id": source_id, "detail": "full"},
    )
    minutes = int(re.fullmatch(r"every (\d+) minutes", source["poll_schedule"])[1])  # type: ignore[index]
    schedule = f"every {2 * minutes} minutes"
    fixed = await assistant.fix(
        "update_resource",
        {"resource_type": "data_sources", "resource_id": source_id, "poll_schedule": schedule},
    )
    assert fixed["plan"]["reverse_action"]["arguments"]["poll_schedule"] == source["poll_schedule"]
    return fixed


@pytest.mark.parametrize(
    ("category", "remedy"),
    [
        pytest.param("transform_error", correct_the_transform, id="transform-corrected"),
        pytest.param("schema_mismatch", convert_the_field_back, id="field-converted-back"),
        pytest.param("rate_limited", poll_half_as_often, id="polling-halved"),
    ],
)
async def test_a_diagnosed_incident_is_fixed_and_watched_recovered(
    stack: WriteStack, clock: MovableClock, caplog: pytest.LogCaptureFixture,
    category: str, remedy: Remedy,
) -> None:  # fmt: skip
    """diagnose_flow names the category; the remedy reads what the diagnosis points at and
    plans and confirms the fix; watch_flow sees the next run recovered; nothing leaked."""
    caplog.set_level(logging.DEBUG)
    flow_id = await _flow_of(stack, category)
    async with stack.connect() as client:
        assistant = Assistant(client)
        diagnosis = await assistant.call("diagnose_flow", {"flow_id": flow_id})
        assert diagnosis["category"] == category
        fixed = await remedy(assistant, flow_id, diagnosis)
        watched = await _verify(assistant, clock, fixed["receipt"], flow_id)
    assert watched["status"] == "recovered", watched
    _no_secrets(assistant, stack, caplog.text)


async def test_a_wrong_fix_is_watched_still_failing_with_its_category(
    stack: WriteStack, clock: MovableClock
) -> None:
    """Polling only a little less often does not get under the limit: still rate limited."""
    flow_id = await _flow_of(stack, "rate_limited")
    async with stack.connect() as client:
        assistant = Assistant(client)
        flow = await assistant.call("get_flow", {"flow_id": flow_id})
        fixed = await assistant.fix(
            "update_resource",
            {"resource_type": "data_sources", "resource_id": flow["source"]["resource_id"],
             "poll_schedule": "every 70 minutes"},
        )  # fmt: skip
        watched = await _verify(assistant, clock, fixed["receipt"], flow_id)
    assert watched["status"] == "still_failing" and watched["category"] == "rate_limited"
