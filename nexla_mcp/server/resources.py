"""MCP resources: a compact summary of one flow, and the runbooks as documents.

- ``nexla://flows/{flow_id}``: the flow's status and type, its resources in tree order (kind,
  id, name, status, connector, credential, transform) and credentials, as compact JSON. Names
  come from Nexla and are sanitised; secrets never are part of it.
- ``nexla://runbooks/{name}``: one runbook (the prompt file of that name) as markdown: what it
  is for, its arguments and its steps. Each is also listed as a static resource.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.resources import FunctionResource

from nexla_mcp.errors import NexlaError, NotFoundError
from nexla_mcp.server.envelope import error_payload
from nexla_mcp.server.prompts import PromptArgumentSpec, PromptSpec
from nexla_mcp.server.state import ServerState

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.runbooks.flowmap import FlowMap

__all__ = ["flow_summary", "register_resources", "runbook_markdown"]

FLOW_URI = "nexla://flows/{flow_id}"
RUNBOOK_URI = "nexla://runbooks/{name}"


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value


def flow_summary(flow: FlowMap) -> dict[str, Any]:
    """The compact summary served at ``nexla://flows/{flow_id}``."""
    # The runbooks load with the first flow read, not with every start.
    from nexla_mcp.runbooks.report import iso, untrusted
    from nexla_mcp.runbooks.runs import run_started_at

    resources = []
    for key in flow.order:
        resource = flow.resource(key)
        if resource is None:
            resources.append({"resource_type": key[0], "resource_id": key[1]})
            continue
        transform = flow.transform_of(key[1]) if key[0] == "data_sets" else None
        resources.append({
            "resource_type": key[0], "resource_id": key[1], "name": untrusted(resource.name, 80),
            "status": resource.status,
            "connector": getattr(resource, "source_type", None)
            or getattr(resource, "sink_type", None),
            "credential_id": getattr(resource, "credential_id", None),
            "transform_id": transform.id if transform else None,
        })  # fmt: skip
    last_run = flow.origin.last_run_id
    return _compact({
        "flow_id": flow.flow_id, "name": flow.name, "status": flow.status,
        "flow_type": flow.origin.flow_type,
        "last_run_at": iso(run_started_at(last_run)) if last_run else None,
        "resources": resources,
        "credentials": [
            {"credential_id": c.id, "name": untrusted(c.name, 80), "type": c.credentials_type}
            for c in flow.credentials.values()
        ],
    })  # fmt: skip


def _argument_note(argument: PromptArgumentSpec) -> str:
    if argument.required:
        return " (required)"
    return f" (default: {argument.default})" if argument.default else ""


def runbook_markdown(spec: PromptSpec) -> str:
    """A runbook as a document: title, purpose, arguments, then the steps."""
    arguments = "\n".join(
        f"- `{a.name}`{_argument_note(a)}: {a.description}" for a in spec.arguments
    )
    return (
        f"# {spec.title}\n\n{spec.description}\n\nRun it as the `{spec.name}` prompt.\n\n"
        f"## Arguments\n\n{arguments}\n\n## Steps\n\n{spec.body}"
    )


def register_resources(server: MCPServer, prompts: list[PromptSpec]) -> None:
    """Register the flow summary template and the runbook documents."""
    by_name = {spec.name: spec for spec in prompts}

    @server.resource(
        FLOW_URI, name="flow", title="Flow summary", mime_type="application/json",
        description="One flow: status, resources in tree order, credentials.",
    )  # fmt: skip
    async def flow_resource(flow_id: str, ctx: Context) -> str:
        if not flow_id.isdigit() or int(flow_id) <= 0:
            raise ResourceNotFoundError(f"flow id must be a positive integer, got {flow_id[:40]!r}")
        state = ctx.request_context.lifespan_context
        if not isinstance(state, ServerState):
            raise ResourceError("the server was not built by nexla_mcp.server.build_server")
        from nexla_mcp.runbooks.flowmap import FlowTarget, fetch_flow

        try:
            flow = await fetch_flow(state.client, FlowTarget(flow_id=int(flow_id)))
        except NotFoundError as error:
            raise ResourceNotFoundError(f"no flow {flow_id}") from error
        except NexlaError as error:
            # Our words with the status, cleaned as the error envelope cleans them.
            message = error_payload(error)["error"]["message"]
            raise ResourceError(f"{type(error).__name__}: {message}") from error
        return json.dumps(flow_summary(flow), separators=(",", ":"))

    @server.resource(RUNBOOK_URI, name="runbook", title="Runbook", mime_type="text/markdown",
                     description="A runbook (the prompt of that name) as a document.")  # fmt: skip
    async def runbook_resource(name: str) -> str:
        spec = by_name.get(name)
        if spec is None:
            raise ResourceNotFoundError(f"no runbook {name[:40]!r}; runbooks: {', '.join(by_name)}")
        return runbook_markdown(spec)

    for spec in prompts:
        server.add_resource(FunctionResource(
            uri=RUNBOOK_URI.format(name=spec.name), name=f"runbook-{spec.name}",
            title=spec.title, description=spec.description, mime_type="text/markdown",
            fn=_reader(spec),
        ))  # fmt: skip


def _reader(spec: PromptSpec) -> Callable[[], Awaitable[str]]:
    async def read() -> str:  # async, so the SDK does not hand it to a worker thread
        return runbook_markdown(spec)

    return read
