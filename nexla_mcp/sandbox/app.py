"""Assemble the sandbox: state, routes, auth, faults; `create_app` is the public entry point."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nexla_mcp.sandbox.auth import DEFAULT_SERVICE_KEY, TokenRegistry, check_accept
from nexla_mcp.sandbox.errors import ApiError
from nexla_mcp.sandbox.faults import FaultConfig, FaultMiddleware, Faults
from nexla_mcp.sandbox.http import empty_response, error_response, read_json
from nexla_mcp.sandbox.model import (
    ACCESS_COLLECTIONS,
    ACTIVE,
    DATA_SETS,
    FLOW_RESOURCE_TYPES,
    PAUSED,
)
from nexla_mcp.sandbox.scenarios import build_seed
from nexla_mcp.sandbox.store import Store
from nexla_mcp.sandbox.views import Ctx

Clock = Callable[[], float]
Endpoint = Callable[[Request], Awaitable[Response]]


class Sandbox:
    """Everything one sandbox instance knows; routes reach it as `request.app.state.sandbox`."""

    def __init__(
        self, *, service_key: str, token_ttl_s: int, flows: int | None, clock: Clock,
        task_ms: int,
    ) -> None:  # fmt: skip
        self.clock = clock
        self.task_ms = task_ms
        self.service_key = service_key
        self.generated_flows = flows
        self.tokens = TokenRegistry(clock, token_ttl_s)
        self.faults = Faults()
        self.store = self._build()

    def _build(self) -> Store:
        store = Store(self.now_ms())
        build_seed(store)
        if self.generated_flows:
            from nexla_mcp.sandbox.generator import generate

            generate(store, self.generated_flows)
        return store

    def reset(self) -> None:
        self.store = self._build()
        self.faults.set(FaultConfig())
        self.tokens.ttl_cap_s = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def ctx(self) -> Ctx:
        return Ctx(self.store, self.now_ms())


def route_handler(name: str) -> Callable[..., Awaitable[Response]]:
    """The handler ``"<module>.<function>"`` of this package, importing its module: routes
    name their handlers so a sandbox imports a route module when it first serves one of its
    routes (a stdio start that lists flows serves three of twelve)."""
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def _endpoint(
    handler_name: str,
    *,
    authenticated: bool = True,
    api: bool = True,
    from_path: tuple[str, ...] = (),
    **bound: Any,
) -> Endpoint:
    """The endpoint of ``handler_name``: authentication, the Accept check and JSON body
    parsing as Rails does them, then ``handler(request, sandbox, **bound)`` with the path
    parameters named in ``from_path`` added to ``bound``."""
    handler: Callable[..., Awaitable[Response]] | None = None

    async def run(request: Request) -> Response:
        nonlocal handler
        sandbox: Sandbox = request.app.state.sandbox
        try:
            if authenticated:
                sandbox.tokens.require(request)
            if api:
                check_accept(request)
                await read_json(request, required=False)  # Rails parses any JSON body first
            handler = handler or route_handler(handler_name)
            from_request = {name: request.path_params[name] for name in from_path}
            return await handler(request, sandbox, **bound, **from_request)
        except ApiError as error:
            return error_response(error)

    run.handler_name = handler_name  # type: ignore[attr-defined]  # for tests: every one resolves
    return run


def _route(path: str, handler: str, *methods: str, **options: Any) -> Route:
    """A route to ``handler`` (``"<module>.<function>"``, see ``route_handler``)."""
    return Route(path, _endpoint(handler, **options), methods=list(methods))


class _OneOf(Convertor[str]):
    """A path segment that is one of ``values``: one route serves every flow resource type
    (or every collection with accessors) instead of one route per type, so a sandbox compiles
    a third of the path patterns it would otherwise."""

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values
        self.regex = "|".join(map(re.escape, values))

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("flow_resource", _OneOf(FLOW_RESOURCE_TYPES))
register_url_convertor("access_collection", _OneOf(ACCESS_COLLECTIONS))


def _resource_routes() -> list[Route]:
    # The handlers take the type as ``resource_type``, from the path.
    typed = {"from_path": ("resource_type",)}
    collection = "/{resource_type:flow_resource}"
    item = f"{collection}/{{id}}"
    in_data_flows = "/data_flows/{resource_type:flow_resource}/{id}"
    return [
        _route(collection, "routes_resources.list_resources", "GET", **typed),
        _route(collection, "routes_resources.create_resource", "POST", **typed),
        _route(item, "routes_resources.get_resource", "GET", **typed),
        _route(item, "routes_resources.update_resource", "PUT", **typed),
        _route(item, "routes_resources.delete_resource", "DELETE", **typed),
        _route(f"{item}/activate", "routes_resources.change_resource", "PUT", **typed,
               status=ACTIVE),
        _route(f"{item}/pause", "routes_resources.change_resource", "PUT", **typed,
               status=PAUSED),
        _route(f"{item}/flow", "routes_flows.get_flow_by_resource", "GET", **typed),
        _route(f"{item}/flow", "routes_flows.delete_flow_by_resource", "DELETE", **typed),
        _route(f"{item}/flow/activate", "routes_flows.change_flow_by_resource", "PUT", **typed,
               status=ACTIVE),
        _route(f"{item}/flow/pause", "routes_flows.change_flow_by_resource", "PUT", **typed,
               status=PAUSED),
        _route(f"{item}/flow/metrics", "routes_metrics.flow_metrics", "GET", **typed),
        _route(f"{in_data_flows}/metrics", "routes_metrics.flow_metrics", "GET", **typed),
        _route(f"{item}/flow/logs", "routes_metrics.flow_logs", "GET", **typed),
        _route(f"{in_data_flows}/logs", "routes_metrics.flow_logs", "GET", **typed),
        _route(f"{item}/metrics", "routes_metrics.daily_metrics", "GET", **typed),
        _route(f"{item}/metrics/run_summary", "routes_metrics.run_summary", "GET", **typed),
        _route(f"/{DATA_SETS}/{{id}}/samples", "routes_resources.data_set_samples", "GET"),
    ]  # fmt: skip


def _shared_routes() -> list[Route]:
    item = "/{collection:access_collection}/{id}"
    methods = ("GET", "PUT", "POST", "DELETE")
    from_path = ("collection",)
    return [
        _route(f"{item}/accessors", "routes_access.accessors", *methods, from_path=from_path),
        _route(f"{item}/audit_log", "routes_access.audit_log", "GET", from_path=from_path),
    ]


def _routes() -> list[Route]:
    routes = [
        _route("/token", "auth.login", "POST", authenticated=False),
        _route("/token/refresh", "auth.refresh", "POST", authenticated=False),
        _route("/token/logout", "auth.logout", "POST", authenticated=False),
        _route("/users/current", "auth.current_user", "GET"),
        _route("/flows", "routes_flows.list_flows", "GET"),
        _route("/flows/{id}", "routes_flows.get_flow", "GET"),
        _route("/flows/{id}", "routes_flows.delete_flow", "DELETE"),
        _route("/flows/{id}/activate", "routes_flows.activate_flow", "PUT"),
        _route("/flows/{id}/pause", "routes_flows.pause_flow", "PUT"),
        _route("/flows/{id}/run_status/{run_id}", "routes_flows.run_status", "GET"),
        _route("/flows/{id}/logs", "routes_metrics.logs_by_flow", "GET"),
        _route("/data_credentials", "routes_credentials.list_credentials", "GET"),
        _route("/data_credentials", "routes_credentials.create_credential", "POST"),
        _route("/data_credentials/{id}", "routes_credentials.get_credential", "GET"),
        _route("/data_credentials/{id}", "routes_credentials.update_credential", "PUT"),
        _route("/data_credentials/{id}", "routes_credentials.delete_credential", "DELETE"),
        _route("/data_credentials/{id}/probe", "routes_credentials.probe", "GET"),
        _route("/data_credentials/{id}/probe/authenticate", "routes_credentials.probe", "GET"),
        _route("/data_credentials/{id}/probe/tree", "routes_credentials.probe_tree", "POST"),
        _route("/data_credentials/{id}/probe/sample", "routes_credentials.probe_sample", "POST"),
        _route("/transforms", "routes_platform.list_transforms", "GET", collection="transforms"),
        _route("/transforms/public", "routes_platform.public_transforms", "GET"),
        _route("/transforms/{id}", "routes_platform.get_transform", "GET"),
        _route("/transforms/{id}", "routes_platform.update_transform", "PUT"),
        _route(
            "/code_containers",
            "routes_platform.list_transforms",
            "GET",
            collection="code_containers",
        ),
        _route("/code_containers/{id}", "routes_platform.get_transform", "GET"),
        _route("/code_containers/{id}", "routes_platform.update_transform", "PUT"),
        _route("/async_tasks", "tasks.list_tasks", "GET"),
        _route("/async_tasks", "tasks.create_task", "POST"),
        _route("/async_tasks/types", "tasks.task_types", "GET"),
        _route("/async_tasks/explain_arguments/{task_type}", "tasks.explain_arguments", "GET"),
        _route("/async_tasks/{id}", "tasks.get_task", "GET"),
        _route("/async_tasks/{id}", "tasks.delete_task", "DELETE"),
        _route("/async_tasks/{id}/result", "tasks.task_result", "GET"),
        _route("/async_tasks/{id}/acknowledge", "tasks.acknowledge_task", "POST"),
        _route("/notifications", "routes_platform.list_notifications", "GET"),
        _route("/notifications/count", "routes_platform.count_notifications", "GET"),
        _route("/notifications/all", "routes_platform.delete_all_notifications", "DELETE"),
        _route("/notifications/mark_read", "routes_platform.mark_notifications", "PUT", read=True),
        _route(
            "/notifications/mark_unread", "routes_platform.mark_notifications", "PUT", read=False
        ),
        _route("/notifications/{id}", "routes_platform.get_notification", "GET"),
        _route("/notifications/{id}", "routes_platform.delete_notification", "DELETE"),
        _route("/limits", "routes_platform.limits", "GET"),
    ]
    routes += _resource_routes()
    routes += _shared_routes()
    control_options = {"authenticated": False, "api": False}
    routes += [
        _route("/_sandbox/reset", "control.reset", "POST", **control_options),
        _route("/_sandbox/scenarios", "control.scenarios", "GET", **control_options),
        _route("/_sandbox/incidents", "control.inject_incident", "POST", **control_options),
        _route("/_sandbox/faults", "control.set_faults", "POST", **control_options),
        _route("/_sandbox/faults", "control.get_faults", "GET", **control_options),
        _route("/_sandbox/runs", "control.add_run", "POST", **control_options),
        _route("/_sandbox/logs", "control.add_log", "POST", **control_options),
        _route("/_sandbox/state", "control.state", "GET", **control_options),
        _route("/_sandbox/drills", "drills.run_drill", "POST", **control_options),
        _route("/_sandbox/drills/heal", "drills.heal_flow", "POST", **control_options),
    ]
    return routes


async def _unknown_route(request: Request, exc: Exception) -> Response:
    """Unknown paths and unsupported methods alike are a bare 404, as Rails routing answers."""
    return empty_response(404)


def create_app(
    *,
    service_key: str = DEFAULT_SERVICE_KEY,
    token_ttl_s: int = 3600,
    flows: int | None = None,
    clock: Clock | None = None,
    task_s: float = 3.0,
) -> Starlette:
    """A fresh sandbox: the seeded org, plus `flows` generated flows when given.

    `clock` returns epoch seconds (default `time.time`); token expiry and every run
    timestamp read it, so tests can move time. An async task (a credential probe, a bulk
    pause) finishes `task_s` seconds on that clock after it was created.
    """
    if flows is not None and (type(flows) is not int or flows < 0):
        raise ValueError("flows must be a non-negative integer or None")
    if token_ttl_s < 0 or task_s < 0:
        raise ValueError("token_ttl_s and task_s must not be negative")
    sandbox = Sandbox(
        service_key=service_key, token_ttl_s=token_ttl_s, flows=flows, clock=clock or time.time,
        task_ms=int(task_s * 1000),
    )  # fmt: skip
    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(FaultMiddleware, faults=sandbox.faults)],
        exception_handlers={404: _unknown_route, 405: _unknown_route},
    )
    app.router.redirect_slashes = False
    app.state.sandbox = sandbox
    return app
