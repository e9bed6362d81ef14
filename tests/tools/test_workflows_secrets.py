"""Secret material in a rotation never passes through the model, the logs or the records.

The new credential is created by the server from an entry of NEXLA_MCP_NEW_CREDENTIALS_FILE
whose token comes from the server host's environment: the token reaches Nexla (the sandbox
holds it) and appears in no argument, result, error, log line, audit record or journal row.
When a later step fails, the created credential is deleted again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.types import TextContent

from nexla_mcp.sandbox import PLANTED_SECRETS
from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import NO_BACKOFF, call_error, call_ok
from nexla_mcp.state.sqlite import STATE_FILE

from .test_workflows_faults import FailNth, repoint
from .workflow_support import EXPIRED, rotation_scene
from .write_support import WriteStack, audit_events

pytestmark = pytest.mark.anyio

TOKEN = "hs-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # the new secret, only in the environment


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteStack:
    monkeypatch.setenv("HUBSPOT_NEW_TOKEN", TOKEN)
    entries = {
        "hubspot-2026": {
            "name": "hubspot-oauth-2026",
            "credentials_type": "rest",
            "credentials": {
                "access_token": {"env": "HUBSPOT_NEW_TOKEN"},
                "url": "https://api.hubapi.com",
            },
        }
    }
    (tmp_path / "new-credentials.json").write_text(json.dumps(entries))
    return WriteStack(tmp_path)


def server(stack: WriteStack, transport: httpx.AsyncBaseTransport | None = None) -> Any:
    settings = stack.settings(
        state_dir=stack.audit_dir / "state",
        verify_timeout_s=2,
        log_level="DEBUG",
        new_credentials_file=stack.audit_dir / "new-credentials.json",
    )
    http = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=stack.app))
    return build_server(settings, http_client=http, retry_policy=NO_BACKOFF)


def everything_written(stack: WriteStack, results: list[Any], logs: str) -> str:
    """Every result, log line, audit record and journal byte of the session, as text."""
    texts = [logs, (stack.audit_dir / "audit.jsonl").read_text()]
    with closing(sqlite3.connect(stack.audit_dir / "state" / STATE_FILE)) as db:
        texts += db.iterdump()  # every table of the state store, the journal's included
    for result in results:
        texts += [block.text for block in result.content if isinstance(block, TextContent)]
        texts.append(json.dumps(result.structured_content or {}))
    return "\n".join(texts)


def sandbox_credentials(stack: WriteStack) -> dict[int, Any]:
    return stack.app.state.sandbox.store.credentials


async def test_a_credential_created_from_the_environment_never_shows_its_secret(
    stack: WriteStack, caplog: pytest.LogCaptureFixture
) -> None:
    await rotation_scene(stack)
    arguments = {"credential_id": EXPIRED, "new_credential_entry": "hubspot-2026"}
    caplog.set_level(logging.DEBUG)
    async with Client(server(stack)) as client:
        plan = await client.call_tool("rotate_credential", arguments)
        token = plan.structured_content["plan_token"]
        receipt = await client.call_tool(
            "rotate_credential", {**arguments, "confirm": True, "plan_token": token}
        )
        operation = await client.call_tool("get_operation", {})
    assert not receipt.is_error, receipt.content
    assert plan.structured_content["current_state"]["new_credential"]["created_from"]["keys"] == [
        "access_token",
        "url",
    ]
    created = [c for c in sandbox_credentials(stack).values() if c.name == "hubspot-oauth-2026"]
    assert [c.secrets.get("access_token") for c in created] == [TOKEN]
    written = everything_written(stack, [plan, receipt, operation], caplog.text)
    assert TOKEN not in written
    assert not [secret for secret in PLANTED_SECRETS if secret in written]
    assert {event["event"] for event in audit_events(stack.audit_dir / "audit.jsonl")} >= {
        "plan",
        "approval",
        "execution",
        "verification",
    }


async def test_a_failed_rotation_deletes_the_credential_it_created(
    stack: WriteStack, caplog: pytest.LogCaptureFixture
) -> None:
    await rotation_scene(stack)
    before = await stack.digest()
    arguments = {"credential_id": EXPIRED, "new_credential_entry": "hubspot-2026"}
    caplog.set_level(logging.DEBUG)
    transport = FailNth(httpx.ASGITransport(app=stack.app), repoint, 2)
    async with Client(server(stack, transport)) as client:
        plan = await call_ok(client, "rotate_credential", arguments)
        error = await call_error(
            client,
            "rotate_credential",
            {**arguments, "confirm": True, "plan_token": plan["plan_token"]},
        )
    assert error["details"]["undone"][-1] == "create credential from entry 'hubspot-2026'"
    assert await stack.digest() == before
    assert not [c for c in sandbox_credentials(stack).values() if c.name == "hubspot-oauth-2026"]
    assert TOKEN not in json.dumps(error) + caplog.text


async def test_without_a_new_credentials_file_the_server_creates_nothing(
    stack: WriteStack,
) -> None:
    await rotation_scene(stack)
    settings = stack.settings(state_dir=stack.audit_dir / "state")
    async with Client(
        build_server(
            settings,
            http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app)),
            retry_policy=NO_BACKOFF,
        )
    ) as client:
        error = await call_error(
            client,
            "rotate_credential",
            {"credential_id": EXPIRED, "new_credential_entry": "hubspot-2026"},
        )
    assert "new_credential_id" in error["hint"]
    assert stack.writes() == []
