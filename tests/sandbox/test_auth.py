"""Session tokens, Bearer checks and Accept headers (fact sheet §2, §20.12)."""

from __future__ import annotations

import httpx
import pytest

from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app

from .conftest import BASE_URL, HOUR, FakeClock, login

pytestmark = pytest.mark.anyio


async def test_token_is_issued_for_the_raw_service_key_with_the_documented_body(
    anonymous: httpx.AsyncClient,
) -> None:
    """POST /token with `Basic <service key>` returns a Bearer token, its lifetime and the user."""
    reply = await anonymous.post(
        "/token", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"}
    )
    body = reply.json()
    assert reply.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2
    assert body["user"]["email"] and body["org_membership"]["is_admin?"] is True


async def test_wrong_service_key_is_a_401_with_an_empty_body(anonymous: httpx.AsyncClient) -> None:
    """A bad key is refused with a bare 401."""
    reply = await anonymous.post("/token", headers={"Authorization": "Basic not-the-key"})
    assert (reply.status_code, reply.content) == (401, b"")


async def test_token_request_without_a_two_part_header_is_a_400(
    anonymous: httpx.AsyncClient,
) -> None:
    """A missing or one-word Authorization header is 'Invalid header format'."""
    for headers in ({}, {"Authorization": "Basic"}):
        reply = await anonymous.post("/token", headers=headers)
        assert reply.status_code == 400
        assert reply.json()["message"] == "Invalid header format"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer made-up"}, id="unknown-token"),
        pytest.param({"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"}, id="basic-not-bearer"),
    ],
)
async def test_api_calls_without_a_valid_bearer_token_get_an_empty_401(
    anonymous: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Every endpoint except /token needs a valid Bearer token; the refusal has no body."""
    reply = await anonymous.get("/flows", headers=headers)
    assert (reply.status_code, reply.content) == (401, b"")


async def test_token_expires_when_the_injected_clock_passes_its_lifetime(
    anonymous: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A token works until `expires_in` seconds have passed on the sandbox clock, then 401."""
    headers = {"Authorization": f"Bearer {await login(anonymous)}"}
    clock.advance(HOUR - 1)
    assert (await anonymous.get("/flows?flows_only=1", headers=headers)).status_code == 200
    clock.advance(1)
    assert (await anonymous.get("/flows?flows_only=1", headers=headers)).status_code == 401


async def test_token_lifetime_follows_token_ttl_s() -> None:
    """create_app(token_ttl_s=...) sets expires_in."""
    app = create_app(token_ttl_s=120, clock=FakeClock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        reply = await client.post(
            "/token", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"}
        )
    assert reply.json()["expires_in"] == 120


async def test_custom_service_key_replaces_the_default() -> None:
    """Only the configured service key is accepted."""
    app = create_app(service_key="custom-key-123", clock=FakeClock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        assert await login(client, "custom-key-123")
        reply = await client.post(
            "/token", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"}
        )
    assert reply.status_code == 401


async def test_logout_invalidates_the_token(anonymous: httpx.AsyncClient) -> None:
    """After POST /token/logout the same token is refused."""
    headers = {"Authorization": f"Bearer {await login(anonymous)}"}
    reply = await anonymous.post("/token/logout", headers=headers)
    assert (reply.status_code, reply.content) == (200, b"")
    assert (await anonymous.get("/flows", headers=headers)).status_code == 401


async def test_refresh_returns_a_new_working_token(
    anonymous: httpx.AsyncClient, clock: FakeClock
) -> None:
    """POST /token/refresh with a valid Bearer token returns a fresh token with a full lifetime."""
    old = await login(anonymous)
    clock.advance(HOUR - 10)
    reply = await anonymous.post("/token/refresh", headers={"Authorization": f"Bearer {old}"})
    new = reply.json()["access_token"]
    assert reply.status_code == 200 and new != old
    clock.advance(60)
    headers = {"Authorization": f"Bearer {new}"}
    assert (await anonymous.get("/flows?flows_only=1", headers=headers)).status_code == 200


async def test_refresh_with_an_expired_token_is_refused(
    anonymous: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An expired token cannot be refreshed (401)."""
    old = await login(anonymous)
    clock.advance(HOUR + 1)
    reply = await anonymous.post("/token/refresh", headers={"Authorization": f"Bearer {old}"})
    assert (reply.status_code, reply.content) == (401, b"")


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.nexla.api.v1+json",
        "application/vnd.nexla.v1+json",
        "application/json",
        "*/*",
        None,
    ],
)
async def test_documented_accept_headers_are_all_accepted(
    api: httpx.AsyncClient, accept: str | None
) -> None:
    """The SDK's vendor type, the seed's variant, plain JSON, wildcards and no Accept all work."""
    headers = dict(api.headers)
    headers.pop("accept", None)
    if accept:
        headers["Accept"] = accept
    request = api.build_request("GET", "/data_sources", headers=headers)
    if accept is None:
        request.headers.pop("accept", None)
    assert (await api.send(request)).status_code == 200


async def test_unsupported_accept_header_is_a_406(api: httpx.AsyncClient) -> None:
    """Asking only for a format the API never produces is refused with a JSON 406."""
    reply = await api.get("/data_sources", headers={"Accept": "text/html"})
    assert reply.status_code == 406
    assert "Accept" in reply.json()["message"]


async def test_current_user_is_the_service_key_owner(api: httpx.AsyncClient) -> None:
    """GET /users/current answers with the user the token belongs to."""
    body = (await api.get("/users/current")).json()
    assert body["email"] == "ops@acme-retail.example"
    assert body["org"]["id"] == body["default_org"]["id"]
