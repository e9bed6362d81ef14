"""``nexla-mcp demo``: a scripted assistant session against the sandbox, through a real MCP client.

It plays what an assistant would do with "which flows are broken, since when, and why?":
list flows with recent errors, then for each one, worst first, read the flow, its clustered
error logs, the run metrics of the resource that logs the errors, and probe the source's
credential. It prints its findings first (worst flow first), then the transcript of every
call with the server's summary, then the next step. The likely cause of each failure is read
from what the tools returned (probe status, log templates, flow status), using the
troubleshooting table's vocabulary; nothing about the seeded flows is built in.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import anyio
from mcp import Client
from mcp.types import TextContent

__all__ = ["CAUSES", "NEXT_STEPS", "Finding", "likely_cause", "main", "run_demo", "worst_first"]

MAX_FLOWS = 25

# Log wording -> cause, first match wins. Credential evidence from probe_credential and the
# flow's status are weighed before these (see likely_cause).
CAUSES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("transform_error", "transform error", re.compile(r"transform failed", re.I)),
    (
        "schema_mismatch",
        "schema mismatch",
        re.compile(r"schema validation|expected \w+, got", re.I),
    ),
    (
        "resource_conflict",
        "resource conflict at the destination",
        re.compile(r"\b409\b|duplicate key|already exists", re.I),
    ),
    (
        "rate_limited",
        "rate limiting by the upstream API",
        re.compile(r"\b429\b|too many requests|rate limit", re.I),
    ),
    ("network_timeout", "network timeouts", re.compile(r"timed out|timeout", re.I)),
    ("credential_expired", "expired credential", re.compile(r"\b401\b|expired", re.I)),
    (
        "permission_denied",
        "permission denied",
        re.compile(r"\b403\b|forbidden|access ?denied|permission denied", re.I),
    ),
    ("high_error_rate", "records rejected as invalid input", re.compile(r"record rejected", re.I)),
)
_LABELS = {code: label for code, label, _ in CAUSES} | {
    "flow_not_running": "flow not running (paused after failed runs)",
    "stale_data": "stale data (no run in the last 24 h)",
    "unknown": "unknown (read the logs)",
}


@dataclass
class Finding:
    """What the session learned about one flow."""

    flow_id: int
    name: str
    health: str
    status: str | None = None
    failing_since: str | None = None
    last_run_status: str | None = None
    templates: list[dict[str, Any]] = field(default_factory=list)
    probe_status: str | None = None
    run_flags: list[str] = field(default_factory=list)
    cause: str = "unknown"
    diagnosis: str | None = None

    @property
    def cause_label(self) -> str:
        return _LABELS.get(self.cause, self.cause)


def likely_cause(finding: Finding) -> str:
    """The troubleshooting-table category the evidence points to."""
    if finding.probe_status in ("expired", "permission_denied"):
        return "credential_expired" if finding.probe_status == "expired" else "permission_denied"
    if (finding.status or "").upper() == "PAUSED" and finding.health == "failing":
        return "flow_not_running"
    if finding.health == "stale":
        return "stale_data"
    # Error lines first (run summary lines say that there were errors, not why), then the rest.
    explaining = [
        t
        for t in finding.templates
        if t.get("severity") == "ERROR" and not t["template"].startswith("Processed ")
    ]
    for template in explaining + finding.templates:
        # The template keeps the wording; the example keeps the status codes it masks.
        text = f"{template['template']} {template.get('example', '')}"
        for code, _label, pattern in CAUSES:
            if pattern.search(text):
                return code
    return "unknown"


class Session:
    """An MCP client session that prints every call and the server's one-line summary."""

    def __init__(self, client: Client, out: TextIO) -> None:
        self.client, self.out, self.calls = client, out, 0

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        self.calls += 1
        shown = ", ".join(f"{key}={value!r}" for key, value in arguments.items())
        print(f"> {name}({shown})", file=self.out)
        result = await self.client.call_tool(name, arguments)
        text = " ".join(b.text for b in result.content if isinstance(b, TextContent)).strip()
        if result.is_error:
            print(f"  ! error: {text[:300]}", file=self.out)
            return None
        print(f"  {text}", file=self.out)
        return result.structured_content


async def _investigate(session: Session, row: dict[str, Any]) -> Finding:
    flow_id = row["flow_id"]
    finding = Finding(
        flow_id=flow_id,
        name=row.get("name", "?"),
        health=row.get("health", "?"),
        status=row.get("status"),
    )
    flow = await session.call("get_flow", {"flow_id": flow_id}) or {}
    runs = flow.get("runs", {})
    finding.failing_since, finding.last_run_status = (
        runs.get("failing_since"),
        runs.get("last_run_status"),
    )
    logs = await session.call(
        "get_flow_logs", {"flow_id": flow_id, "severity": "WARNING", "limit": 3}
    )
    finding.templates = (logs or {}).get("clusters", [])
    errors = [t for t in finding.templates if t.get("severity") == "ERROR"] or finding.templates
    where = next((r for t in errors for r in t.get("resources", [])), None)
    resource = _resource_of(where) if where else None
    if resource is None and flow.get("source"):
        resource = ("data_sources", flow["source"]["resource_id"])
    if resource is not None:
        metrics = (
            await session.call(
                "get_run_metrics",
                {"resource_type": resource[0], "resource_id": resource[1], "limit": 5},
            )
            or {}
        )
        finding.run_flags = sorted(
            {flag for run in metrics.get("runs", []) for flag in run.get("flags", [])}
        )
    credential_id = (flow.get("source") or {}).get("credential_id")
    if credential_id is not None:
        probe = await session.call("probe_credential", {"credential_id": credential_id}) or {}
        finding.probe_status = probe.get("status")
    finding.cause = likely_cause(finding)
    return finding


# Worst first: a failing flow before a degraded one, then stale, then anything else; among
# equals the one failing longest (oldest failing_since) first.
_HEALTH_RANK = {"failing": 0, "degraded": 1, "stale": 2}


def worst_first(findings: list[Finding]) -> list[Finding]:
    """Findings ordered by how badly the flow is broken."""
    return sorted(
        findings,
        key=lambda f: (_HEALTH_RANK.get(f.health, 3), f.failing_since or "~", f.flow_id),
    )


NEXT_STEPS = (
    "Next: point it at your org. Set NEXLA_SERVICE_KEY (and NEXLA_API_URL if your org is not\n"
    "on dataops.nexla.io), run `nexla-mcp doctor` until every check passes, then add the\n"
    "server to your MCP host (README, 'Set up a host': Claude Desktop, Claude Code, Cursor,\n"
    "VS Code)."
)

_LOG_KINDS = {"SOURCE": "data_sources", "DATASET": "data_sets", "SINK": "data_sinks"}


def _resource_of(label: str) -> tuple[str, int] | None:
    kind, _, number = label.partition(" ")
    return (_LOG_KINDS[kind], int(number)) if kind in _LOG_KINDS and number.isdigit() else None


def _report(findings: list[Finding], out: TextIO) -> None:
    print("== Findings, worst flow first ==", file=out)
    if not findings:
        print("No broken flows: every flow's recent runs are clean.", file=out)
    for finding in findings:
        since = f", failing since {finding.failing_since}" if finding.failing_since else ""
        print(f"- Flow {finding.flow_id} '{finding.name}' ({finding.health}{since})", file=out)
        print(f"  likely cause: {finding.cause_label} [{finding.cause}]", file=out)
        evidence = next(
            (
                t
                for t in finding.templates
                if t.get("severity") == "ERROR" and not t["template"].startswith("Processed ")
            ),
            finding.templates[0] if finding.templates else None,
        )
        if evidence:
            print(f'  evidence: {evidence["count"]}x "{evidence["example"][:160]}"', file=out)
        if finding.probe_status:
            print(f"  source credential probe: {finding.probe_status}", file=out)
        if finding.run_flags:
            print(f"  abnormal runs: {', '.join(finding.run_flags)}", file=out)
        if finding.diagnosis:
            print(f"  diagnose_flow, in one call: {finding.diagnosis}", file=out)


async def _diagnose(session: Session, findings: list[Finding], out: TextIO) -> None:
    """The same flows again, each with the one server-side runbook call."""
    print("\n-- the same flows, one diagnose_flow call each --", file=out)
    for finding in findings:
        verdict = await session.call("diagnose_flow", {"flow_id": finding.flow_id})
        if verdict is not None:
            finding.diagnosis = f"{verdict['category']} (confidence {verdict['confidence']:.2f})"


async def run_demo(out: TextIO, *, mode: Literal["auto", "legacy"] = "auto") -> list[Finding]:
    """Run the session against a fresh sandbox; print the findings (worst first), then the
    transcript, then the next step, to ``out``."""
    from nexla_mcp.server.app import build_server
    from nexla_mcp.settings import Settings

    # The default profile: the demo is the troubleshooting path it was chosen for.
    settings = Settings(sandbox=True, read_only=True)
    transcript = io.StringIO()
    started = time.perf_counter()
    async with Client(build_server(settings), mode=mode) as client:
        session = Session(client, transcript)
        broken = await session.call("list_flows", {"has_recent_errors": True, "limit": MAX_FLOWS})
        everything = await session.call(
            "list_flows", {"has_recent_errors": False, "limit": MAX_FLOWS}
        )
        rows = list((broken or {}).get("flows", []))
        rows += [row for row in (everything or {}).get("flows", []) if row.get("health") == "stale"]
        findings = []
        for row in sorted(rows, key=lambda row: _HEALTH_RANK.get(row.get("health", ""), 3)):
            print(
                f"\n-- investigating flow {row['flow_id']} '{row.get('name', '?')}' --",
                file=transcript,
            )
            findings.append(await _investigate(session, row))
        await _diagnose(session, findings, transcript)
    elapsed = time.perf_counter() - started
    print(
        f"nexla-mcp demo: an assistant session over MCP (protocol {mode}) against the embedded "
        f"Nexla sandbox; {session.calls} tool calls in {elapsed:.1f} s.\n",
        file=out,
    )
    findings = worst_first(findings)
    _report(findings, out)
    print("\n== Transcript ==", file=out)
    print(transcript.getvalue().strip("\n"), file=out)
    print(f"\n{NEXT_STEPS}", file=out)
    return findings


def main(argv: list[str] | None = None) -> int:
    """``nexla-mcp demo [--protocol auto|legacy]``; prints the transcript, returns 0."""
    parser = argparse.ArgumentParser(
        prog="nexla-mcp demo",
        description="Run a scripted assistant session over MCP against the embedded Nexla "
        "sandbox: find the broken flows and say why, worst first.",
    )
    parser.add_argument(
        "--protocol",
        choices=["auto", "legacy"],
        default="auto",
        help="auto: the 2026-07-28 protocol; legacy: the 2025-11-25 handshake",
    )
    args = parser.parse_args(argv)
    anyio.run(lambda: run_demo(sys.stdout, mode=args.protocol))
    return 0
