"""Configuration faults name their real cause and the setting to fix (issue: first contact).

The NexlaClient runs against the sandbox (in process, or over loopback HTTP) and against real
non-Nexla servers (Python's http.server, a web page app); only the clock-skew reply, which
neither can produce, comes from httpx.MockTransport.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from nexla_mcp.errors import (
    ApiUrlError,
    AuthenticationError,
    NexlaError,
    TlsError,
    UnreachableError,
)
from nexla_mcp.faults import _connect_cause as connect_cause
from nexla_mcp.faults import fault_of
from nexla_mcp.nexla import NexlaClient, RetryPolicy
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY, create_app
from nexla_mcp.sandbox.serve import serve_in_thread
from tests.ports import free_port

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(backoff_base_s=0.0, backoff_cap_s=0.0)


async def _first_error(client: NexlaClient) -> NexlaError:
    with pytest.raises(NexlaError) as caught:
        await client.list_flows()
    return caught.value


def _in_process(app: object, api_url: str = "http://sandbox.test", **kwargs: object) -> NexlaClient:
    kwargs.setdefault("service_key", DEFAULT_SERVICE_KEY)
    return NexlaClient(
        api_url=api_url, transport=httpx.ASGITransport(app=app), policy=FAST, **kwargs
    )


async def test_a_wrong_api_path_says_the_api_url_is_wrong_not_check_the_id() -> None:
    """POST /token answering 404 is a wrong NEXLA_API_URL, not an unknown resource."""
    async with _in_process(create_app(), api_url="http://sandbox.test/wrong") as client:
        error = await _first_error(client)
    assert isinstance(error, ApiUrlError)
    assert fault_of(error) == "api_url"
    assert "NEXLA_API_URL" in error.message and "NEXLA_API_URL" in (error.hint or "")
    assert error.retryable is False


def _web_page_app() -> Starlette:
    async def page(request: object) -> HTMLResponse:
        return HTMLResponse("<html><body><h1>Nexla</h1>Sign in</body></html>")

    return Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])


async def test_a_web_page_where_the_api_should_be_is_a_wrong_api_url() -> None:
    """A UI answering 200 with HTML on POST /token (the base URL without /nexla-api)."""
    async with _in_process(_web_page_app(), api_url="http://dataops.test") as client:
        error = await _first_error(client)
    assert isinstance(error, ApiUrlError)
    assert "not JSON" in error.message


@contextmanager
def _python_http_server() -> Iterator[str]:
    """Python's own http.server: answers POST with 501 and an HTML page, like many servers."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_non_nexla_501_is_a_wrong_api_url_and_not_retried() -> None:
    """http.server answers POST /token with 501: the API URL is wrong, retrying cannot help."""
    with _python_http_server() as base_url:
        async with NexlaClient(
            api_url=base_url, service_key=DEFAULT_SERVICE_KEY, policy=FAST
        ) as client:
            error = await _first_error(client)
    assert isinstance(error, ApiUrlError)
    assert error.status_code == 501 and error.retryable is False
    assert "try again" not in (error.hint or "")


async def test_an_html_404_on_a_read_is_a_wrong_api_url() -> None:
    """With an access token the first call is a read; a web server's 404 page says the same."""
    with _python_http_server() as base_url:
        async with NexlaClient(api_url=base_url, access_token="tok-123456", policy=FAST) as client:
            error = await _first_error(client)
    assert isinstance(error, ApiUrlError)


async def test_an_unknown_id_is_still_not_found() -> None:
    """Nexla's own empty 404 for an unknown id keeps its NotFound meaning."""
    async with _in_process(create_app()) as client:
        with pytest.raises(NexlaError) as caught:
            await client.get_flow(987654)
    assert type(caught.value).__name__ == "NotFoundError"


async def test_a_closed_port_says_nothing_listens_there() -> None:
    """Connection refused names the host and port and points at NEXLA_API_URL."""
    port = free_port()
    async with NexlaClient(
        api_url=f"http://127.0.0.1:{port}", service_key=DEFAULT_SERVICE_KEY, policy=FAST
    ) as client:
        error = await _first_error(client)
    assert isinstance(error, UnreachableError)
    assert f"127.0.0.1:{port} refused the connection" in error.message
    assert "NEXLA_API_URL" in (error.hint or "")
    assert fault_of(error) == "unreachable"


async def test_https_to_a_plain_http_port_is_a_tls_failure() -> None:
    """The handshake fails against a server that does not speak TLS; not retried."""
    with serve_in_thread(create_app()) as base_url:
        url = base_url.replace("http://", "https://")
        async with NexlaClient(api_url=url, service_key=DEFAULT_SERVICE_KEY, policy=FAST) as client:
            error = await _first_error(client)
    assert isinstance(error, TlsError)
    assert error.retryable is False and fault_of(error) == "tls"
    assert "https://" in (error.hint or "")


@pytest.mark.parametrize(
    ("chain", "cause"),
    [
        (ssl.SSLCertVerificationError("certificate verify failed"), "tls"),
        (socket.gaierror(-2, "Name or service not known"), "dns"),
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
        (OSError("something else"), None),
    ],
)
def test_the_cause_of_a_connect_error_is_found_down_its_chain(
    chain: BaseException, cause: str | None
) -> None:
    """httpx wraps the OS error twice; the classification reads through the wrapping."""
    try:
        try:
            raise chain
        except BaseException as inner:
            raise httpx.ConnectError("wrapped") from inner
    except httpx.ConnectError as outer:
        assert connect_cause(outer) == cause


async def test_a_wrong_service_key_names_nexla_service_key() -> None:
    """A sandbox started with another key rejects ours: the message says which setting."""
    app = create_app(service_key="nxsk_another_key_0000000000000000")
    async with _in_process(app) as client:
        error = await _first_error(client)
    assert isinstance(error, AuthenticationError)
    assert fault_of(error) == "service_key"
    assert "NEXLA_SERVICE_KEY" in error.message and "NEXLA_SERVICE_KEY" in (error.hint or "")


async def test_an_expired_access_token_says_it_expired_and_how_to_renew() -> None:
    """An access token past its lifetime: the hint offers the service key that renews itself."""
    now = [1_800_000_000.0]
    app = create_app(token_ttl_s=60, clock=lambda: now[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        reply = await http.post(
            "http://sandbox.test/token", headers={"Authorization": f"Basic {DEFAULT_SERVICE_KEY}"}
        )
    token = reply.json()["access_token"]
    now[0] += 120
    async with _in_process(app, service_key=None, access_token=token) as client:
        error = await _first_error(client)
    assert isinstance(error, AuthenticationError)
    assert fault_of(error) == "access_token"
    assert "expired" in error.message
    assert "NEXLA_SERVICE_KEY" in (error.hint or "") and "NEXLA_ACCESS_TOKEN" in (error.hint or "")


async def test_a_rejection_with_a_skewed_clock_blames_the_clock() -> None:
    """A 401 whose Date header is two hours from our clock names the clock, not the key."""
    import time

    def nexla(request: httpx.Request) -> httpx.Response:
        date = formatdate(time.time() - 7200, usegmt=True)
        return httpx.Response(401, json={"message": "Token expired"}, headers={"Date": date})

    async with NexlaClient(
        api_url="http://nexla.test",
        access_token="tok-123456",
        transport=httpx.MockTransport(nexla),
        policy=FAST,
    ) as client:
        error = await _first_error(client)
    assert fault_of(error) == "clock_skew"
    assert "120 min ahead" in error.message
    assert "clock" in (error.hint or "")
