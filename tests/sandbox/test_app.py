import inspect
import subprocess
import sys

from starlette.routing import Route

from nexla_mcp.sandbox import create_app
from nexla_mcp.sandbox.app import route_handler


def test_every_route_names_a_handler_that_exists() -> None:
    routes = [route for route in create_app().routes if isinstance(route, Route)]
    assert len(routes) > 50
    for route in routes:
        handler = route_handler(route.endpoint.handler_name)  # type: ignore[attr-defined]
        assert inspect.iscoroutinefunction(handler), route.path


def test_creating_the_sandbox_imports_only_the_route_modules_it_serves_first() -> None:
    # A stdio start lists flows first; the other route modules load when first served.
    code = (
        "import sys; from nexla_mcp.sandbox import create_app; create_app(); "
        "print(sorted(m for m in sys.modules if m.startswith('nexla_mcp.sandbox.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for lazy in ("control", "drills", "routes_credentials", "routes_platform", "generator"):
        assert f"nexla_mcp.sandbox.{lazy}'" not in loaded
