"""Run the drill corpus and print the accuracy of the verdicts per class.

    .venv/bin/python bench/drills.py [--only SUBSTRING] [--verbose]

Each drill (``bench/drill_corpus.py``) gets a fresh sandbox, has its history written through
the control API (``/_sandbox/drills``, faults, heal), and is then judged by ``diagnose_flow``,
``check_flow_health`` and ``org_health`` exactly as the server runs them (a real
``NexlaClient`` against the sandbox in process). A drill passes when every expectation holds;
the table counts each drill in every class it belongs to. ``tests/runbooks/test_drills.py``
runs the same drills as tests. Exit status 1 when any drill fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drill_corpus import CLASSES, DRILLS, Drill
from harness import billed_tokens, stack
from run import table

from nexla_mcp.errors import NexlaError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.nexla.reliability import reset_host_guards
from nexla_mcp.runbooks.diagnose import Diagnosis, diagnose_flow
from nexla_mcp.runbooks.flowmap import FlowTarget
from nexla_mcp.runbooks.gather import DEFAULT_DEADLINE_S
from nexla_mcp.runbooks.health import FlowHealthReport, check_flow_health
from nexla_mcp.runbooks.org import OrgHealthReport, org_health
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.server.testing import NO_BACKOFF

API_URL = "http://sandbox.test"
NOISE = {"lines": 9998, "severity": "INFO", "messages": ["Fetched page {n}"]}
LONG_RUN = {"flow_id": 9035, "timeline": [{"profile": "resource_conflict", "runs": 2}],
            "noise": [NOISE]}  # fmt: skip


class SeverityIgnored(httpx.AsyncBaseTransport):
    """Plays a Nexla that ignores ``severity`` on flow logs (the fact sheet lists it as a
    server extra, not a documented parameter), so the reader has to page."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/flow/logs"):
            kept = [(k, v) for k, v in request.url.params.multi_items() if k != "severity"]
            request.url = request.url.copy_with(params=kept)
        return await self.inner.handle_async_request(request)


@dataclass
class Outcome:
    """What the three tools said about one drill, and which expectations failed."""

    drill: Drill
    diagnosis: Diagnosis | None = None
    health: FlowHealthReport | None = None
    org: OrgHealthReport | None = None
    error: NexlaError | None = None
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    reply = await http.post(f"{API_URL}/_sandbox/{path}", json=body)
    if reply.status_code != 200:
        raise RuntimeError(f"POST /_sandbox/{path} answered {reply.status_code}: {reply.text}")


async def run_drill(drill: Drill) -> Outcome:
    """Set the drill up in a fresh sandbox and ask the three tools about it."""
    outcome = Outcome(drill)
    started = time.perf_counter()
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        for flow_id, body in drill.others:
            await _post(http, "drills", {"flow_id": flow_id, **body})
        await _post(http, "drills", {"flow_id": drill.flow_id, **drill.body})
        if drill.heal:
            await _post(http, "drills/heal", {"flow_id": drill.flow_id})
        if drill.faults:
            await _post(http, "faults", drill.faults)
        now = datetime.now(UTC)
        target = FlowTarget(flow_id=drill.ask_id or drill.flow_id)

        def client() -> NexlaClient:
            # Each tool starts with a closed circuit breaker: a faulted drill judges the
            # verdicts, not how long the breaker of the previous tool's failures stays open.
            reset_host_guards()
            return NexlaClient(api_url=API_URL, service_key=DEFAULT_SERVICE_KEY,
                               http_client=http, policy=NO_BACKOFF)  # fmt: skip

        async with client() as nexla:
            try:
                outcome.diagnosis = await diagnose_flow(nexla, target, now=now)
            except NexlaError as error:
                outcome.error = error
        if outcome.diagnosis is not None:
            async with client() as nexla:
                outcome.health = await check_flow_health(nexla, target, now=now)
            async with client() as nexla:
                outcome.org = await org_health(nexla, now=now, limit=100)
    outcome.failures = judge(outcome)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _names(diagnosis: Diagnosis) -> list[str]:
    return [action.tool or action.prompt or "" for action in diagnosis.next_actions]


def judge(outcome: Outcome) -> list[str]:
    """Every expectation of the drill that the answers do not meet."""
    expect, diagnosis = outcome.drill.expect, outcome.diagnosis
    if expect.category == "error":
        if outcome.error is None:
            return [f"expected a refusal, got {diagnosis.category if diagnosis else None}"]
        hint = outcome.error.hint or ""
        return [] if expect.hint_has and expect.hint_has in hint else [f"hint: {hint!r}"]
    if diagnosis is None:
        return [f"diagnose_flow failed: {outcome.error!r}"]
    failures = []
    if diagnosis.category != expect.category:
        failures.append(f"category {diagnosis.category}, expected {expect.category}")
    if expect.resource and not (diagnosis.resource or "").startswith(expect.resource):
        failures.append(f"resource {diagnosis.resource!r}, expected a {expect.resource}")
    recovery = diagnosis.recovery.state if diagnosis.recovery else None
    if recovery != expect.recovery:
        failures.append(f"recovery {recovery}, expected {expect.recovery}")
    names = _names(diagnosis)
    if expect.first and (not names or names[0] != expect.first):
        failures.append(f"first step {names[:1]}, expected {expect.first}")
    failures += [f"unsafe step {name}" for name in expect.forbid if name in names]
    failures += [f"missing step {name}" for name in expect.require if name not in names]
    others = sorted(cause.category for cause in diagnosis.other_causes)
    if others != sorted(expect.others):
        failures.append(f"other causes {others}, expected {sorted(expect.others)}")
    summary = diagnosis.summary
    failures += [f"summary lacks {text!r}" for text in expect.says if text not in summary]
    failures += [f"summary says {text!r}" for text in expect.never_says if text in summary]
    if expect.error_has and not any(
        expect.error_has in f"{error.template} {error.example or ''}" for error in diagnosis.errors
    ):
        failures.append(f"errors[] lacks {expect.error_has!r}")
    if expect.max_confidence is not None and diagnosis.confidence > expect.max_confidence:
        failures.append(f"confidence {diagnosis.confidence} above {expect.max_confidence}")
    healthy = expect.healthy if expect.healthy is not None else expect.category == "healthy"
    if outcome.health is not None and outcome.health.healthy != healthy:
        failures.append(f"check_flow_health healthy={outcome.health.healthy}: "
                        f"{outcome.health.issues}")  # fmt: skip
    listed = expect.listed if expect.listed is not None else expect.category != "healthy"
    problems = {p.flow_id: p for p in outcome.org.problems} if outcome.org else {}
    if outcome.org is not None and (outcome.drill.flow_id in problems) != listed:
        failures.append(f"org_health listed={not listed}")
    order = outcome.drill.extra.get("rank_order")
    if order and outcome.org is not None:
        ranked = [p.flow_id for p in outcome.org.problems if p.flow_id in order]
        if ranked != list(order):
            failures.append(f"org_health order {ranked}, expected {list(order)}")
    for flow_id, severity in outcome.drill.extra.get("severity", {}).items():
        found = problems.get(flow_id)
        if found is None or found.severity != severity:
            got = found.severity if found else None
            failures.append(f"org_health severity of {flow_id}: {got}, expected {severity}")
    return failures


def accuracy(outcomes: list[Outcome]) -> list[list[Any]]:
    """One row per class: drills, passed, accuracy; and the total."""
    rows = []
    for name in CLASSES:
        mine = [o for o in outcomes if name in o.drill.classes]
        passed = sum(o.passed for o in mine)
        rows.append([name, len(mine), passed, f"{passed / len(mine):.0%}" if mine else "-"])
    passed = sum(o.passed for o in outcomes)
    rows.append(["all", len(outcomes), passed, f"{passed / len(outcomes):.0%}"])
    return rows


async def long_runs(latency_ms: int) -> list[list[Any]]:
    """diagnose_flow over MCP on a failing run of 10,000 log lines (the ERROR last), with the
    severity filter honoured and ignored upstream: calls, log pages, wall time, tokens."""
    rows = []
    for label, upstream in (("filter honoured", None), ("filter ignored", SeverityIgnored)):
        async with stack(upstream=upstream) as s:
            await s.control("POST", "drills", LONG_RUN)
            await s.latency(latency_ms)
            started = time.perf_counter()
            result = await s.mcp.call_tool("diagnose_flow", {"flow_id": LONG_RUN["flow_id"]})
            wall = time.perf_counter() - started
            calls = s.recorder.api_calls()
            found = result.structured_content or {}
            rows.append([label, found.get("category"), len(calls),
                         sum(c.path.endswith("/flow/logs") for c in calls),
                         round(wall * 1000), f"{DEFAULT_DEADLINE_S:g} s",
                         billed_tokens(result)])  # fmt: skip
    return rows


async def main(options: argparse.Namespace) -> int:
    logging.getLogger("nexla_mcp").setLevel(logging.ERROR)  # retries of faulted drills
    if options.long_runs:
        table(f"diagnose_flow on a 10,000-line failing run, {options.latency_ms} ms per call",
              ["upstream", "category", "calls", "log pages", "wall ms", "deadline", "tokens"],
              await long_runs(options.latency_ms))  # fmt: skip
    chosen = [d for d in DRILLS if not options.only or options.only in d.name]
    outcomes = [await run_drill(drill) for drill in chosen]
    table(
        f"Drill corpus: {len(outcomes)} drills, verdicts of diagnose_flow, check_flow_health "
        "and org_health",
        ["class", "drills", "passed", "accuracy"],
        accuracy(outcomes),
    )
    for outcome in outcomes:
        if not outcome.passed or options.verbose:
            mark = "ok  " if outcome.passed else "FAIL"
            print(f"{mark} {outcome.drill.name} ({outcome.seconds:.1f} s)")
            for failure in outcome.failures:
                print(f"       {failure}")
            if options.verbose and outcome.diagnosis is not None:
                print(f"       {outcome.diagnosis.summary}")
    return 0 if all(o.passed for o in outcomes) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="", help="run the drills whose name holds this")
    parser.add_argument("--verbose", action="store_true", help="print every summary")
    parser.add_argument("--latency-ms", type=int, default=50, help="latency for --long-runs")
    parser.add_argument("--no-long-runs", dest="long_runs", action="store_false",
                        help="skip the 10,000-line diagnose_flow measurement")  # fmt: skip
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse()))
