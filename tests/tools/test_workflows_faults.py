"""rotate_credential when a step fails: the probe, the Nth repoint, an activation (refused, or
sent with its reply lost). Each time the operation rolls back and GET /_sandbox/state equals
its value before the operation started.

The probe fault is the sandbox's own (``/_sandbox/faults`` on the probe path). A repoint or an
activation is one request among several to the same paths, so those faults fail the Nth
matching request at the HTTP boundary (``FailNth`` wraps the sandbox's transport).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, call_error, call_ok

from .workflow_support import EXPIRED, api, credentials_of, rotation_scene
from .write_support import WriteStack

pytestmark = pytest.mark.anyio


class FailNth(httpx.AsyncBaseTransport):
    """Forwards to the sandbox, but the ``n``th request matching ``wanted`` fails: refused
    (400, not retried) without reaching the sandbox, or (``lose_reply``) applied by the
    sandbox with the reply lost, as when a connection drops after the server acted."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        wanted: Callable[[httpx.Request], bool],
        n: int,
        *,
        lose_reply: bool = False,
    ) -> None:
        self.inner, self.wanted, self.n, self.lose_reply = inner, wanted, n, lose_reply
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.wanted(request):
            self.seen += 1
            if self.seen == self.n:
                if self.lose_reply:
                    await self.inner.handle_async_request(request)
                    raise httpx.ReadError("connection dropped", request=request)
                body = {"message": "Injected refusal"}
                return httpx.Response(400, json=body, request=request)
        return await self.inner.handle_async_request(request)


def repoint(request: httpx.Request) -> bool:
    return request.method == "PUT" and b"data_credentials_id" in request.content


def activation(request: httpx.Request) -> bool:
    return request.method == "PUT" and request.url.path.endswith("/activate")


@pytest.fixture
def stack(tmp_path: Path) -> WriteStack:
    return WriteStack(tmp_path)


async def rotate(
    stack: WriteStack,
    transport: httpx.AsyncBaseTransport | None = None,
    prepare: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Plan and confirm a rotation of the scene; returns the error of the failed confirm.
    ``prepare`` gets the replacement credential's id before anything is read."""
    scene = await rotation_scene(stack)
    if prepare is not None:
        prepare(scene.new_credential)
    before = await stack.digest()
    http = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=stack.app))
    settings = stack.settings(state_dir=stack.audit_dir / "state", verify_timeout_s=2)
    server = build_server(settings, http_client=http, retry_policy=NO_BACKOFF)
    arguments = {"credential_id": EXPIRED, "new_credential_id": scene.new_credential}
    async with http, Client(server) as client:
        plan = await call_ok(client, "rotate_credential", arguments)
        error = await call_error(
            client,
            "rotate_credential",
            {**arguments, "confirm": True, "plan_token": plan["plan_token"]},
        )
        operation = await call_ok(
            client, "get_operation", {"operation_id": error["details"]["operation_id"]}
        )
    await stack.control("POST", "/_sandbox/faults", json={})
    assert await stack.digest() == before, json.dumps(error)
    async with api(stack) as nexla:
        assert set(await credentials_of(nexla, scene.users)) == {EXPIRED}
    assert operation["operations"][0]["status"] == "rolled_back"
    assert error["details"]["state_restored"] is True
    return error


async def test_a_replacement_that_fails_its_probe_aborts_before_any_change(
    stack: WriteStack,
) -> None:
    """The user's replacement is itself expired (the external system refuses it): the probe
    task says so and nothing else changes."""

    def expire(credential_id: int) -> None:
        stack.app.state.sandbox.store.credentials[credential_id].health = "expired"

    error = await rotate(stack, prepare=expire)
    assert error["type"] == "OperationFailedError"
    assert error["details"]["failed_step"] == "probe the new credential"
    assert error["details"]["cause"]["type"] == "CredentialError"
    assert error["details"]["done"] == [] and error["details"]["undone"] == []


@pytest.mark.parametrize("n", [1, 2, 3, 4])
async def test_the_nth_repoint_failing_rolls_everything_back(stack: WriteStack, n: int) -> None:
    transport = FailNth(httpx.ASGITransport(app=stack.app), repoint, n)
    error = await rotate(stack, transport)
    details = error["details"]
    assert details["status"] == "rolled_back"
    assert details["failed_step"].startswith("repoint ")
    repointed = [name for name in details["done"] if name.startswith("repoint ")]
    assert len(repointed) == n - 1
    assert details["undone"][: n - 1] == list(reversed(repointed))
    assert {name.split()[0] for name in details["undone"][n - 1 :]} == {"pause"}


@pytest.mark.parametrize("lose_reply", [False, True])
@pytest.mark.parametrize("n", [1, 4])
async def test_a_failing_activation_rolls_everything_back(
    stack: WriteStack, n: int, lose_reply: bool
) -> None:
    """Refused, or applied with the reply lost: either way the state ends as it began."""
    transport = FailNth(httpx.ASGITransport(app=stack.app), activation, n, lose_reply=lose_reply)
    error = await rotate(stack, transport)
    details = error["details"]
    assert details["failed_step"].startswith("re-activate flow ")
    assert details["undone"][-1].startswith("pause flow ")
