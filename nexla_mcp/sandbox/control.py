"""The `/_sandbox/` control API for tests and demos: no auth, never subject to faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from nexla_mcp.sandbox import history
from nexla_mcp.sandbox.errors import ApiError, bad_request
from nexla_mcp.sandbox.faults import FaultConfig
from nexla_mcp.sandbox.http import iso, json_response, read_object
from nexla_mcp.sandbox.incidents import EXPECTED_CATEGORY, KINDS, apply_incident
from nexla_mcp.sandbox.model import LOG_RESOURCE_TYPE, Flow, LogLine
from nexla_mcp.sandbox.profiles import RUN_PROFILES, outcome
from nexla_mcp.sandbox.scenarios import scenario_view

if TYPE_CHECKING:
    from nexla_mcp.sandbox.app import Sandbox

_OUTCOMES = {
    "success": "healthy",
    "failure": "generic_failure",
    **{name: name for name in RUN_PROFILES},
}
_RESOURCE_TYPES = {
    **{label: rt for rt, label in LOG_RESOURCE_TYPE.items()},
    **{rt: rt for rt in LOG_RESOURCE_TYPE},
}
_SEVERITIES = {
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "DEBUG": "DEBUG",
}


def _flow(sandbox: Sandbox, body: dict[str, Any]) -> Flow:
    flow_id = body.get("flow_id")
    if type(flow_id) is not int:
        raise bad_request("flow_id must be an integer")
    node = sandbox.store.nodes.get(flow_id)
    if node is None:
        raise ApiError(404, f"No flow with id {flow_id}")
    return sandbox.store.flows[node.origin_id]


async def reset(request: Request, sandbox: Sandbox) -> Response:
    """Rebuild the seeded (and generated) org relative to now; clears faults, keeps tokens."""
    sandbox.reset()
    return json_response({"status": "ok", "counts": sandbox.store.counts()})


async def scenarios(request: Request, sandbox: Sandbox) -> Response:
    rows = [scenario_view(sandbox.store, entry) for entry in sandbox.store.scenarios]
    return json_response({"scenarios": [row for row in rows if row is not None]})


async def inject_incident(request: Request, sandbox: Sandbox) -> Response:
    body = await read_object(request)
    kind = body.get("kind")
    if kind not in KINDS:
        raise bad_request(f"kind must be one of: {', '.join(KINDS)}")
    flow = _flow(sandbox, body)
    apply_incident(sandbox.store, flow, kind, sandbox.now_ms())
    entry = {"kind": kind, "flow_id": flow.id, "expected_category": EXPECTED_CATEGORY[kind]}
    store = sandbox.store
    store.scenarios = [row for row in store.scenarios if row["flow_id"] != flow.id] + [entry]
    return json_response(scenario_view(store, entry))


async def set_faults(request: Request, sandbox: Sandbox) -> Response:
    config = FaultConfig.parse(await read_object(request, required=False))
    sandbox.faults.set(config)
    sandbox.tokens.ttl_cap_s = config.token_ttl_s
    return json_response({"faults": config.view()})


async def get_faults(request: Request, sandbox: Sandbox) -> Response:
    return json_response({"faults": sandbox.faults.config.view()})


async def add_run(request: Request, sandbox: Sandbox) -> Response:
    """Start a run now with the given outcome ("success", "failure" or an incident profile)."""
    body = await read_object(request)
    flow = _flow(sandbox, body)
    wanted = body.get("outcome", "success")
    if wanted not in _OUTCOMES:
        raise bad_request(f"outcome must be one of: {', '.join(_OUTCOMES)}")
    store, now = sandbox.store, sandbox.now_ms()
    run = history.add_manual_run(flow, now, _OUTCOMES[wanted])
    result = outcome(store, flow, run)
    if result.errors:
        source = store.source_of(flow)
        first_error = next(
            (line.text for line in result.logs if line.severity == "ERROR"), "run failed"
        )
        store.notify(
            "ERROR",
            "SOURCE",
            source.id,
            f"Run {run.run_id} of '{source.name}' failed: {first_error[:200]}",
            now,
        )
    return json_response(
        {
            "flow_id": flow.id,
            "run_id": run.run_id,
            "profile": run.profile,
            "started_at": iso(run.run_id),
            "errors": result.errors,
        }
    )


async def add_log(request: Request, sandbox: Sandbox) -> Response:
    """Append a log line to the latest run of the resource's flow."""
    body = await read_object(request)
    resource_type = _RESOURCE_TYPES.get(str(body.get("resource_type", "")))
    if resource_type is None:
        raise bad_request(
            "resource_type must be data_sources|data_sets|data_sinks or SOURCE|DATASET|SINK"
        )
    resource_id = body.get("resource_id")
    resource = (
        sandbox.store.table(resource_type).get(resource_id) if type(resource_id) is int else None
    )
    if resource is None:
        raise ApiError(404, "No such resource")
    severity = _SEVERITIES.get(str(body.get("severity", "INFO")).upper())
    message = body.get("message")
    if severity is None or not isinstance(message, str) or not message or len(message) > 4000:
        raise bad_request("severity must be INFO|WARNING|ERROR and message a non-empty string")
    flow = sandbox.store.flow_of_node(resource.node_id)
    now = sandbox.now_ms()
    run = history.last_run(flow, now)
    if run is None:
        raise ApiError(409, "The flow has no run to attach a log line to")
    line = LogLine(
        max(now, run.run_id + 1),
        LOG_RESOURCE_TYPE[resource_type],
        resource.id,
        severity,
        "LOG",
        message,
    )
    flow.extra_logs.setdefault(run.run_id, []).append(line)
    return json_response(
        {
            "run_id": run.run_id,
            "timestamp": line.timestamp_ms,
            "resource_type": line.resource_type,
            "resource_id": resource.id,
        }
    )


async def state(request: Request, sandbox: Sandbox) -> Response:
    return json_response({"digest": sandbox.store.digest(), "counts": sandbox.store.counts()})
