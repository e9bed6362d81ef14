"""The client a configuration describes signs in the way its auth mode says."""

from __future__ import annotations

import httpx
import pytest

from nexla_mcp.connect import api_url, nexla_client
from nexla_mcp.sandbox import create_app
from nexla_mcp.settings import SANDBOX_API_URL, Settings

pytestmark = pytest.mark.anyio


def recorder(requests: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "session-tok", "expires_in": 3600})
        return httpx.Response(200, json=[])

    return httpx.MockTransport(answer)


async def test_the_service_key_wins_over_an_access_token_set_beside_it() -> None:
    """Both set: the client logs in with the service key, as ``Settings.auth_mode`` says."""
    requests: list[httpx.Request] = []
    settings = Settings(service_key="svc-abcdef", access_token="tok-abcdef",
                        api_url="https://acme.nexla.test/nexla-api")  # fmt: skip
    async with nexla_client(settings, transport=recorder(requests)) as client:
        await client.list_flows(page=1, per_page=1)
    assert requests[0].url.path == "/nexla-api/token"
    assert requests[0].headers["authorization"] == "Basic svc-abcdef"
    assert requests[-1].headers["authorization"] == "Bearer session-tok"


async def test_an_access_token_alone_is_sent_as_is() -> None:
    """No service key: the token goes on every request, and there is no login."""
    requests: list[httpx.Request] = []
    settings = Settings(access_token="tok-abcdef", api_url="https://acme.nexla.test/nexla-api")
    async with nexla_client(settings, transport=recorder(requests)) as client:
        await client.list_flows(page=1, per_page=1)
    assert [r.headers["authorization"] for r in requests] == ["Bearer tok-abcdef"]


async def test_sandbox_mode_signs_in_to_the_sandbox_with_its_own_key() -> None:
    """Sandbox mode needs no credentials: the client uses the sandbox's URL and key."""
    settings = Settings(sandbox=True)
    assert api_url(settings) == SANDBOX_API_URL
    transport = httpx.ASGITransport(app=create_app())
    async with nexla_client(settings, transport=transport) as client:
        flows = await client.list_flows(page=1, per_page=1)
        assert client.api_url == SANDBOX_API_URL and flows  # the sandbox refuses other keys
