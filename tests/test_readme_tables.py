"""The README's profile and tool tables are generated from the running server, and stay so.

Each table sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``; this test
renders it from ``build_server`` (tool lists counted in o200k, like the token budget test)
and fails when the README differs. ``UPDATE_README=1`` rewrites the README instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from nexla_mcp.server.app import build_server
from nexla_mcp.server.testing import model_visible, wire_tools
from nexla_mcp.server.testing import o200k_tokens as tokens
from nexla_mcp.settings import Settings
from nexla_mcp.tools.profiles import CATALOG, PROFILE_NAMES, PROFILE_SUMMARIES

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[1] / "README.md"


async def profiles_table() -> str:
    rows = [
        "| Profile | Tools | Model-visible tokens | Wire tokens | What it is for |",
        "|---|---|---|---|---|",
    ]
    for profile in PROFILE_NAMES:
        for dynamic in (False, True) if profile == "default" else (False,):
            settings = Settings(sandbox=True, profile=profile, dynamic_toolsets=dynamic)
            tools = await wire_tools(build_server(settings))
            label = f"`{profile}`" + (" + discovery" if dynamic else "")
            purpose = (
                "the default tools plus `enable_toolset` (`NEXLA_MCP_DYNAMIC_TOOLSETS`)"
                if dynamic
                else PROFILE_SUMMARIES[profile]
            )
            rows.append(
                f"| {label} | {len(tools)} | {tokens(model_visible(tools)):,} | "
                f"{tokens(tools):,} | {purpose} |"
            )
    return "\n".join(rows)


async def tools_table() -> str:
    tools = {
        tool["name"]: tool
        for tool in await wire_tools(build_server(Settings(sandbox=True, profile="all")))
    }
    rows = [
        "| Tool | Toolset | Profile | Writes | Model-visible | Wire |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in CATALOG.items():
        tool: dict[str, Any] = tools[name]
        rows.append(
            f"| `{name}` | {entry.toolset} | {entry.profile} | {'yes' if entry.writes else ''} | "
            f"{tokens(model_visible([tool])[0])} | {tokens(tool)} |"
        )
    return "\n".join(rows)


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(
        rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.S
    )
    assert pattern.search(text), f"README has no generated:{name} block"
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


async def test_the_readme_profile_and_tool_tables_match_the_server() -> None:
    text = README.read_text()
    expected = replace_block(text, "profiles", await profiles_table())
    expected = replace_block(expected, "tools", await tools_table())
    if os.environ.get("UPDATE_README"):
        README.write_text(expected)
    assert text == expected, (
        "README tables are stale: UPDATE_README=1 pytest tests/test_readme_tables.py"
    )
