"""Drills: give one flow a messy, multi-incident history in one call (`POST /_sandbox/drills`).

The seeded kinds each show one clean incident. Real incidents overlap, heal, leave old alerts
behind and drown in log noise; a drill describes such a history as a timeline, oldest first,
that ends now:

```json
{"flow_id": 9001, "interval_min": 16, "records": 800,
 "timeline": [{"profile": "transform_error", "runs": 6},
              {"profile": "credential_expired", "runs": 3},
              {"profile": "healthy", "runs": 1}],
 "noise": [{"run": "latest_failing", "lines": 3000, "severity": "WARNING",
            "messages": ["Connection pool: idle connection {n} closed by peer"]}],
 "alerts": [{"kind": "network_timeout", "hours_ago": 40}],
 "sink_credential": "expired", "end": "paused_by_system"}
```

- `timeline` entries are `{"profile", "runs"}` (any run profile, `empty` for runs that move no
  records) or `{"gap_hours"}` (no runs; a trailing gap makes the flow stale). A week of healthy
  runs comes first unless `"prefill": false`.
- Each failing stretch leaves the evidence an incident of its kind leaves: the change just
  before its first run (credential swap, transform edit, schema change; `"lead_min"` on the
  entry moves it that many minutes earlier) and its alerts after its first and last failing
  runs. Broken state persists into later stretches (a transform
  broken before a credential expired is still broken) until a `healthy` or `empty` stretch,
  which starts with the audited fix (credential updated, transform and schema reverted).
- `noise` adds log lines to one run (`latest_failing` or `latest`) at its `start` (before the
  run's own lines) or `end`; `{n}` in a message counts lines.
- `fixed_after` (`credential`, `transform`, `schema`) fixes those 10 minutes ago, audited,
  whatever the runs did (e.g. a credential rotated while the flow is paused).
- `alerts` adds stray alerts of a kind, `hours_ago`; `sink_credential` breaks the first
  destination's credential (runs still deliver: only its probe fails); `end` pauses the flow
  after its last run (`paused_by_system` with Nexla's alert, or `paused_by_user`).

`POST /_sandbox/drills/heal` `{"flow_id"}` heals the flow now (the same audited fixes; runs
after now succeed). Drills replace the flow's whole history, audit trail and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import history, incidents
from nexla_mcp.sandbox.alerts import alert_of
from nexla_mcp.sandbox.breakage import (
    CREDENTIAL_KINDS,
    STATEFUL,
    STEADY,
    Breakage,
    heal,
    own_sink_credential,
)
from nexla_mcp.sandbox.causes import first_sink, pause_all
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.http import json_response, read_object
from nexla_mcp.sandbox.model import (
    ACTIVE,
    DATA_SETS,
    LOG_RESOURCE_TYPE,
    SINKS,
    SOURCES,
    Flow,
    LogLine,
    Run,
    Segment,
)
from nexla_mcp.sandbox.profiles import RUN_PROFILES, outcome
from nexla_mcp.sandbox.scenarios import scenario_view
from nexla_mcp.sandbox.store import DANA, SYSTEM_USER, Store

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

__all__ = ["heal", "run_drill"]

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS
PREFILL_MS = 8 * 24 * HOUR_MS
MAX_RUNS = 5000
MAX_NOISE_LINES = 20_000
_SEVERITIES = {"INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR",
               "FATAL": "FATAL", "DEBUG": "DEBUG"}  # fmt: skip
_FIXABLE = {"credential": set(CREDENTIAL_KINDS), "transform": {"transform_error"},
            "schema": {"schema_mismatch"}}  # fmt: skip


@dataclass
class _Stretch:
    profile: str
    lead_min: int | None = None
    runs: list[Run] = field(default_factory=list)


def _int(body: dict[str, Any], name: str, low: int, high: int, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}")
    return value


def _number(entry: dict[str, Any], name: str, high: float) -> float:
    value = entry.get(name)
    if type(value) not in (int, float) or not 0 <= value <= high:
        raise bad_request(f"{name} must be a number from 0 to {high:g}")
    return float(value)


def _timeline(body: dict[str, Any]) -> list[dict[str, Any]]:
    timeline = body.get("timeline")
    if not isinstance(timeline, list) or not timeline:
        raise bad_request("timeline must be a non-empty list")
    total = 0
    for entry in timeline:
        if not isinstance(entry, dict):
            raise bad_request("timeline entries must be objects")
        if "gap_hours" in entry:
            _number(entry, "gap_hours", 24 * 30)
            continue
        if entry.get("profile") not in RUN_PROFILES:
            raise bad_request(f"profile must be one of: {', '.join(RUN_PROFILES)}")
        total += _int(entry, "runs", 1, MAX_RUNS, None) or 0
    if total == 0:
        raise bad_request("timeline must hold at least one run")
    return timeline


def _forget(store: Store, flow: Flow) -> None:
    """Drop the flow's audit trail and alerts: the drill writes its own."""
    keys = set()
    for node in store.subtree(flow.id):
        keys.add((node.resource_type, node.resource_id))
        resource = store.node_resource(node)
        if node.resource_type == DATA_SETS and resource.code_container_id:
            keys.add(("code_containers", resource.code_container_id))
    for key in keys:
        store.audit.pop(key, None)
    kinds = {(LOG_RESOURCE_TYPE[rt], rid) for rt, rid in keys if rt in LOG_RESOURCE_TYPE}
    for note_id in [n.id for n in store.notifications.values()
                    if (n.resource_type, n.resource_id) in kinds]:  # fmt: skip
        del store.notifications[note_id]


def _lay_out(flow: Flow, timeline: list[dict[str, Any]], now_ms: int) -> list[_Stretch]:
    """Segments for the timeline, ending so that the latest run is 5+ minutes old."""
    interval = flow.interval_ms
    advance = sum(
        int(entry["gap_hours"] * HOUR_MS) if "gap_hours" in entry else entry["runs"] * interval
        for entry in timeline
    )
    quiet = 5 * MINUTE_MS
    ago = quiet + flow.seed % max(1, interval - 2 * quiet)
    cursor = now_ms - ago - (advance - interval)
    stretches: list[_Stretch] = []
    for position, entry in enumerate(timeline):
        if "gap_hours" in entry:
            cursor += int(entry["gap_hours"] * HOUR_MS)
            continue
        count = entry["runs"]
        last = position == len(timeline) - 1
        end = None if last else cursor + (count - 1) * interval + interval // 2
        segment = Segment(cursor, end, interval, entry["profile"])
        flow.segments.append(segment)
        stretch = _Stretch(entry["profile"], _int(entry, "lead_min", 1, 7 * 24 * 60, None))
        stretch.runs = [
            Run(history._run_time(flow, segment, index), segment.profile, index)
            for index in range(count)
        ]
        stretches.append(stretch)
        cursor += count * interval
    return stretches


def _alerts_for(store: Store, flow: Flow, stretch: _Stretch, now_ms: int) -> None:
    """Alerts after the first and the last failing run of a stretch, as Nexla sends them."""
    failing = [run for run in stretch.runs if outcome(store, flow, run).errors]
    alert = alert_of(store, flow, stretch.profile)
    if not failing or alert is None:
        return
    moments = {failing[0].run_id + 5 * MINUTE_MS, failing[-1].run_id + 5 * MINUTE_MS}
    for moment in sorted(moments):
        if moment <= now_ms:
            store.notify(*alert, moment)


def _noise(store: Store, flow: Flow, spec: Any, stretches: list[_Stretch]) -> None:
    if not isinstance(spec, dict):
        raise bad_request("noise entries must be objects")
    runs = [run for stretch in stretches for run in stretch.runs]
    which = spec.get("run", "latest_failing")
    if which == "latest_failing":
        runs = [run for run in runs if outcome(store, flow, run).errors]
    elif which != "latest":
        raise bad_request("noise run must be latest_failing or latest")
    if not runs:
        raise bad_request("no run to add noise to")
    run = runs[-1]
    lines = _int(spec, "lines", 1, MAX_NOISE_LINES, None) or 0
    severity = _SEVERITIES.get(str(spec.get("severity", "WARNING")).upper())
    messages = spec.get("messages")
    if (
        severity is None
        or not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, str) and 0 < len(m) <= 400 for m in messages)
    ):
        raise bad_request("noise needs a severity and messages (1-400 characters each)")
    at = spec.get("at", "start")
    if at not in ("start", "end"):
        raise bad_request("noise at must be start or end")
    source = store.source_of(flow)
    kind, resource_id = LOG_RESOURCE_TYPE[SOURCES], source.id
    if spec.get("resource") == "destination":
        sink = first_sink(store, flow)
        if sink is not None:
            kind, resource_id = LOG_RESOURCE_TYPE[SINKS], sink.id
    # At the start, lines share the run's first 800 ms (its own lines come after); at the
    # end, they follow its last line.
    first = run.run_id + 1 if at == "start" else outcome(store, flow, run).finished_ms + 1
    span = 799 if at == "start" else lines
    added = [
        LogLine(first + n * span // lines, kind, resource_id, severity, "LOG",
                messages[n % len(messages)].replace("{n}", str(1000 + n)))
        for n in range(lines)
    ]  # fmt: skip
    flow.extra_logs.setdefault(run.run_id, []).extend(added)


def _pause(store: Store, flow: Flow, how: str, last_run: int, failed: int) -> None:
    at = last_run + 2 * MINUTE_MS
    by_system = how == "paused_by_system"
    pause_all(store, flow, at, SYSTEM_USER.id if by_system else DANA.id,
              "nexla-flow-monitor" if by_system else "nexla-ui/2025.3")  # fmt: skip
    if by_system:
        source = store.source_of(flow)
        store.notify("ERROR", "SOURCE", source.id, f"Data source '{source.name}' was paused "
                     f"automatically after {failed} consecutive failed runs", at)  # fmt: skip


def apply_drill(store: Store, flow: Flow, body: dict[str, Any], now_ms: int) -> None:
    """Rewrite the flow's history per the drill `body` (see the module docstring)."""
    timeline = _timeline(body)
    interval = _int(body, "interval_min", 5, 7 * 24 * 60, None)
    records = _int(body, "records", 1, 10_000_000, None)
    end = body.get("end", "active")
    if end not in ("active", "paused_by_system", "paused_by_user"):
        raise bad_request("end must be active, paused_by_system or paused_by_user")
    sink_credential = body.get("sink_credential")
    if sink_credential not in (None, "expired", "forbidden"):
        raise bad_request("sink_credential must be expired or forbidden")
    incidents.apply_incident(store, flow, "healthy", now_ms)
    _forget(store, flow)
    history.reset_history(flow)
    if interval is not None:
        flow.interval_ms = interval * MINUTE_MS
    if records is not None:
        flow.base_records = records
    if body.get("prefill", True):
        prefill = max(1, PREFILL_MS // flow.interval_ms)
        timeline = [{"profile": "healthy", "runs": prefill}, *timeline]
    if end != "active" and "gap_hours" not in timeline[-1]:
        timeline = [*timeline, {"gap_hours": 0}]  # a paused flow has no further runs
    stretches = _lay_out(flow, timeline, now_ms)
    state = Breakage(store, flow)
    for stretch in stretches:
        first = stretch.runs[0].run_id
        if stretch.profile in STEADY and state.broken:
            state.fix_all(incidents.just_before(flow, first, 9))
        state.breaks(stretch.profile, first, stretch.lead_min)
        _alerts_for(store, flow, stretch, now_ms)
    last = stretches[-1].profile
    if last not in STEADY and last not in STATEFUL:
        flow.profile = last
    if sink_credential is not None:
        credential = own_sink_credential(store, flow, now_ms - 26 * HOUR_MS)
        if credential is not None:
            credential.health = CREDENTIAL_KINDS[
                "credential_expired" if sink_credential == "expired" else "permission_denied"
            ]
    for spec in body.get("noise") or []:
        _noise(store, flow, spec, stretches)
    for spec in body.get("alerts") or []:
        if not isinstance(spec, dict):
            raise bad_request("alerts entries must be objects")
        alert = alert_of(store, flow, str(spec.get("kind")))
        if alert is None:
            raise bad_request("alerts kind must be an incident kind with an alert")
        store.notify(*alert, now_ms - int(_number(spec, "hours_ago", 24 * 30) * HOUR_MS))
    fixed_after = body.get("fixed_after") or []
    if not isinstance(fixed_after, list) or any(name not in _FIXABLE for name in fixed_after):
        raise bad_request(f"fixed_after lists: {', '.join(_FIXABLE)}")
    if fixed_after:
        state.fix_all(now_ms - 10 * MINUTE_MS, set().union(*(_FIXABLE[n] for n in fixed_after)))
    if end != "active":
        last = stretches[-1].runs[-1].run_id
        failed = 0
        for run in reversed([run for s in stretches for run in s.runs]):
            if not outcome(store, flow, run).errors:
                break
            failed += 1
        _pause(store, flow, end, last, failed)
    store.touch()


def _flow(sandbox: Sandbox, body: dict[str, Any]) -> Flow:
    flow_id = body.get("flow_id")
    if type(flow_id) is not int:
        raise bad_request("flow_id must be an integer")
    node = sandbox.store.nodes.get(flow_id)
    if node is None or node.parent_id is not None:
        raise ApiError(404, f"No flow with id {flow_id}")
    flow = sandbox.store.flows[node.origin_id]
    if not sandbox.store.nodes[flow.id].children:
        raise ApiError(409, "The flow has no nexset yet; activate it once first")
    return flow


async def run_drill(request: Request, sandbox: Sandbox) -> Response:
    body = await read_object(request)
    store = sandbox.store
    flow = _flow(sandbox, body)
    apply_drill(store, flow, body, sandbox.now_ms())
    expected = body.get("expected_category")
    entry = {"kind": "drill", "flow_id": flow.id, "expected_category": expected}
    store.scenarios = [row for row in store.scenarios if row["flow_id"] != flow.id] + [entry]
    return json_response(scenario_view(store, entry))


async def heal_flow(request: Request, sandbox: Sandbox) -> Response:
    flow = _flow(sandbox, await read_object(request))
    heal(sandbox.store, flow, sandbox.now_ms())
    status = {sandbox.store.node_resource(node).status for node in sandbox.store.subtree(flow.id)}
    return json_response({"flow_id": flow.id, "healed": True, "active": status == {ACTIVE}})
