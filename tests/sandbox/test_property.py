"""Generated bad input on every route gets a 4xx (or a normal answer), never a 5xx or a hang."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from nexla_mcp.sandbox import create_app

from .conftest import BASE_URL, FakeClock, authorize

APP = create_app(clock=FakeClock())
# Every API route as (method, path template). Left out: the control API (a fuzzed fault setting
# would rightly turn later requests into injected 5xx answers) and logout (it would end the
# shared session, turning later answers into 401s).


def _paths(route: Route) -> list[str]:
    """The route's path template once per value of each one-of segment (``{name:convertor}``,
    e.g. every flow resource type), the other parameters left as ``{name}``."""
    paths = [route.path]
    for name, convertor in route.param_convertors.items():
        values = getattr(convertor, "values", None)
        if values is not None:
            placeholder = re.search(rf"{{{name}:\w+}}", route.path)
            assert placeholder is not None
            paths = [path.replace(placeholder[0], value) for path in paths for value in values]
    return paths


ROUTES = sorted(
    (method, path)
    for route in APP.router.routes
    if isinstance(route, Route)
    and not route.path.startswith("/_sandbox")
    and route.path != "/token/logout"
    for path in _paths(route)
    for method in route.methods or ()
    if method != "HEAD"
)
WRITE_ROUTES = [(method, path) for method, path in ROUTES if method in ("POST", "PUT", "DELETE")]
ID_ROUTES = [(method, path) for method, path in ROUTES if "{id}" in path]
KNOWN_IDS = [5001, 5101, 5105, 6101, 6102, 7101, 7701, 9001, 9002, 9015, 30001, 88001]
PARAMS = [
    "page",
    "per_page",
    "size",
    "from",
    "to",
    "run_id",
    "count",
    "expand",
    "flows_only",
    "all",
    "full_tree",
    "async",
    "request_id",
    "severity",
    "level",
    "status",
    "name",
    "sort_by",
    "sort_order",
    "groupby",
    "orderby",
    "include_metadata",
    "live",
    "access_role",
    "resource_type",
    "resource_id",
    "credentials_type",
    "source_type",
    "reusable",
    "force",
    "order_by",
    "read",
]
BODY_KEYS = PARAMS + [
    "accessors",
    "task_type",
    "type",
    "arguments",
    "credentials",
    "depth",
    "parent_data_set_id",
    "data_set_id",
    "transform",
    "has_custom_transform",
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

junk_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
junk_ids = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    junk_text.filter(lambda text: not text.isdigit()),
    st.sampled_from(["0", "-1", "1e3", "9" * 40, "latest", "null", "%00", "..", "NaN"]),
)
param_values = st.one_of(
    junk_text,
    st.integers(-(10**15), 10**15).map(str),
    st.sampled_from(
        [
            "",
            "1",
            "0",
            "true",
            "False",
            "2025-03-04",
            "2025-02-30",
            "9999-12-31",
            "-5",
            "1e10",
            "ts",
            "desc",
            "ERROR",
            "SOURCE",
            "all",
        ]
    ),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False),
        junk_text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(BODY_KEYS), children, max_size=5),
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
    st.just(b"{not json"),
    st.just(b"[" * 5000),
)
path_values = st.lists(
    st.one_of(st.sampled_from(KNOWN_IDS).map(str), junk_ids), min_size=2, max_size=2
)
Send = Callable[..., httpx.Response]


def segment(value: str) -> str:
    """`value` as one URL path segment (slashes escaped, never empty)."""
    return quote(value, safe="") or "x"


def fill(path: str, values: list[str]) -> str:
    """Put the drawn values into the template's path parameters, in order."""
    remaining = iter(values)
    return re.sub(r"\{(\w+)\}", lambda match: segment(next(remaining)), path)


@pytest.fixture(scope="module")
def send() -> Iterator[Send]:
    """A synchronous sender into the in-process app; every request has a 5 s deadline."""
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url=BASE_URL)
        portal.call(authorize, client)

        def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
            async def bounded() -> httpx.Response:
                with anyio.fail_after(5):
                    return await client.request(method, url, **kwargs)

            return portal.call(bounded)

        yield request
        portal.call(client.aclose)


@given(
    route=st.sampled_from(ROUTES),
    ids=path_values,
    params=st.dictionaries(st.sampled_from(PARAMS), param_values, max_size=4),
    body=bodies,
)
@SETTINGS
def test_fuzzed_requests_never_fail_on_the_server(
    send: Send, route: tuple[str, str], ids: list[str], params: dict[str, str], body: bytes | None
) -> None:
    """Any mix of ids, query parameters and bodies on any route answers below 500, promptly."""
    method, path = route
    reply = send(
        method,
        fill(path, ids),
        params=params,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code < 500, (method, str(reply.request.url), reply.text[:200])


@given(route=st.sampled_from(ID_ROUTES), bad_id=junk_ids.filter(lambda text: not text.isdigit()))
@SETTINGS
def test_non_numeric_ids_are_404_on_every_route(
    send: Send, route: tuple[str, str], bad_id: str
) -> None:
    """A path id that is not a number names no record: 404 with an empty body."""
    method, path = route
    url = fill(path.replace("{run_id}", "latest").replace("{task_type}", "CallProbe"), [bad_id])
    reply = send(method, url, json={"accessors": []})
    assert (reply.status_code, reply.content) == (404, b""), url


@given(
    route=st.sampled_from(WRITE_ROUTES),
    body=st.sampled_from([b"{not json", b"[1,", b"\xff\xfe", b"{'a': 1}"]),
)
@SETTINGS
def test_malformed_json_bodies_are_400_on_every_write_route(
    send: Send, route: tuple[str, str], body: bytes
) -> None:
    """A body that does not parse is the server's 400 wherever it is sent."""
    method, path = route
    url = path.replace("{id}", "9001").replace("{task_type}", "CallProbe")
    reply = send(method, url, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["message"] == "Cannot parse JSON request body"


@given(
    path=st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789-.", min_size=1, max_size=10),
        min_size=1,
        max_size=5,
    ).map(lambda parts: "/" + "/".join(parts)),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
)
@SETTINGS
def test_random_paths_are_404_unless_they_name_a_route(send: Send, path: str, method: str) -> None:
    """Paths and methods that are not routes are bare 404s; anything else stays below 500."""
    reply = send(method, path)
    assert reply.status_code < 500
    known = any(
        verb == method and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path)
        for verb, template in ROUTES
    )
    if not known and not path.startswith("/_sandbox"):
        assert (reply.status_code, reply.content) == (404, b"")


def _valid(text: str, *, positive: bool) -> bool:
    try:
        number = int(text)
    except ValueError:
        return text == ""
    return number > 0 or not positive


@given(page=param_values, per_page=param_values)
@SETTINGS
def test_bad_paging_parameters_are_400s_naming_the_parameter(
    send: Send, page: str, per_page: str
) -> None:
    """Non-integer or non-positive per_page (or non-integer page) is a 400; valid ones page."""
    reply = send("GET", "/data_sources", params={"page": page, "per_page": per_page})
    if _valid(page, positive=False) and _valid(per_page, positive=True):
        assert reply.status_code == 200
    else:
        assert reply.status_code == 400
        assert reply.json()["message"].startswith("Query parameter")


CONTROL_ROUTES = sorted(
    (method, route.path)
    for route in APP.router.routes
    if isinstance(route, Route) and route.path.startswith("/_sandbox")
    for method in route.methods or ()
    if method != "HEAD"
)
control_bodies = st.one_of(
    bodies,
    st.fixed_dictionaries(
        {},
        optional={
            "kind": st.one_of(junk_text, st.sampled_from(["stale_data", "healthy", "paused"])),
            "flow_id": st.one_of(st.sampled_from(KNOWN_IDS), st.integers(), junk_text, st.none()),
            "outcome": st.one_of(junk_text, st.sampled_from(["success", "failure"])),
            "resource_type": st.one_of(junk_text, st.sampled_from(["SOURCE", "data_sinks"])),
            "resource_id": st.one_of(st.sampled_from(KNOWN_IDS), st.integers(), junk_text),
            "severity": junk_text,
            "message": st.one_of(junk_text, st.integers()),
            "error_rate": st.one_of(st.floats(), st.integers(), junk_text),
            "paths": st.one_of(st.lists(junk_text, max_size=2), junk_text),
        },
    ).map(lambda value: json.dumps(value).encode()),
)


@given(route=st.sampled_from(CONTROL_ROUTES), body=control_bodies)
@SETTINGS
def test_fuzzed_control_requests_never_fail_on_the_server(
    send: Send, route: tuple[str, str], body: bytes | None
) -> None:
    """The control API answers malformed or out-of-range input with 4xx, never 5xx."""
    method, path = route
    try:
        reply = send(method, path, content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code < 500, (method, path, reply.text[:200])
    finally:
        send("POST", "/_sandbox/faults", json={})
