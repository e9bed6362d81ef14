"""The tool contract: a committed snapshot of tools/list, and rules every tool must keep.

After an intended change to any tool's name, description, schema or annotations, regenerate
the snapshot and review its diff:

    UPDATE_CONTRACT=1 .venv/bin/python -m pytest tests/server/test_contract.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.server.app import NexlaMCPServer, build_server
from nexla_mcp.server.testing import MODES
from nexla_mcp.settings import Settings
from nexla_mcp.tools import TOOLSET_NAMES
from nexla_mcp.tools._common import registered_tools

pytestmark = pytest.mark.anyio

CONTRACT = Path(__file__).with_name("tools_contract.json")
ANNOTATIONS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


@pytest.fixture
def full_server(live_settings: Callable[..., Settings], fake_nexla: Any) -> NexlaMCPServer:
    """Every toolset, default write policy: the largest tool list a client can see."""
    return build_server(live_settings(), http_client=fake_nexla({}))


async def contract_of(server: NexlaMCPServer, mode: Any) -> dict[str, Any]:
    """What a client sees: the instructions and each tool's wire form, sorted by name."""
    async with Client(server, mode=mode) as client:
        tools = (await client.list_tools()).tools
        instructions = client.instructions
    return {
        "instructions": instructions,
        "tools": [
            tool.model_dump(mode="json", by_alias=True, exclude_none=True)
            for tool in sorted(tools, key=lambda t: t.name)
        ],
    }


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_matches_the_committed_contract(
    full_server: NexlaMCPServer, mode: Any
) -> None:
    """tools/list (and the instructions) change only on purpose, identically in both eras."""
    current = (
        json.dumps(
            await contract_of(full_server, mode), indent=2, sort_keys=True, ensure_ascii=False
        )
        + "\n"
    )
    if os.environ.get("UPDATE_CONTRACT") == "1":
        CONTRACT.write_text(current)
    assert current == CONTRACT.read_text(), (
        "tools/list changed; if intended, run "
        "UPDATE_CONTRACT=1 .venv/bin/python -m pytest tests/server/test_contract.py"
    )


async def test_every_tool_sets_all_four_annotations(full_server: NexlaMCPServer) -> None:
    """readOnly, destructive, idempotent and openWorld hints are explicit on every tool."""
    tools = (await contract_of(full_server, "auto"))["tools"]
    assert tools
    for tool in tools:
        missing = [hint for hint in ANNOTATIONS if hint not in tool.get("annotations", {})]
        assert not missing, f"{tool['name']} lacks {missing}"
        if tool["annotations"]["readOnlyHint"]:
            assert tool["annotations"]["destructiveHint"] is False, tool["name"]


async def test_every_tool_is_typed_titled_and_described(full_server: NexlaMCPServer) -> None:
    """Each tool has a title, a description, an output schema and described arguments."""
    for tool in (await contract_of(full_server, "auto"))["tools"]:
        assert tool.get("title") and tool.get("description"), tool["name"]
        assert tool.get("outputSchema", {}).get("type") == "object", tool["name"]
        for argument, schema in tool["inputSchema"].get("properties", {}).items():
            assert schema.get("description"), f"{tool['name']}.{argument} has no description"


async def test_every_tool_belongs_to_exactly_one_enabled_toolset(
    full_server: NexlaMCPServer,
) -> None:
    """Tools come only from toolsets, through nexla_tool (so failures use the envelope)."""
    names = [tool["name"] for tool in (await contract_of(full_server, "auto"))["tools"]]
    assert sorted(registered_tools(full_server)) == names
    assert sorted(full_server.toolset_of) == names
    assert set(full_server.toolset_of.values()) <= set(TOOLSET_NAMES)
