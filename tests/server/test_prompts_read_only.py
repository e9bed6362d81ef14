"""Every prompt adapts to the tools the server has: on a read-only server none of them tells the
assistant to call a write tool (it says what the user does instead), and with writes on the
troubleshooting prompt names the fix tools."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client

from nexla_mcp.server.app import build_server
from nexla_mcp.server.prompts import load_prompts, parse_prompt, resolve_sections
from nexla_mcp.settings import Settings

pytestmark = pytest.mark.anyio


async def _write_tools() -> set[str]:
    async with Client(build_server(Settings(sandbox=True, profile="all"))) as client:
        tools = (await client.list_tools()).tools
    return {
        tool.name for tool in tools if not (tool.annotations and tool.annotations.read_only_hint)
    }


def _arguments(prompt: Any) -> dict[str, str]:
    return {argument.name: "7" for argument in prompt.arguments or [] if argument.required}


async def _rendered(settings: Settings) -> dict[str, str]:
    async with Client(build_server(settings)) as client:
        prompts = (await client.list_prompts()).prompts
        return {
            prompt.name: (await client.get_prompt(prompt.name, _arguments(prompt)))
            .messages[0]
            .content.text  # type: ignore[union-attr]
            for prompt in prompts
        }


@pytest.mark.parametrize(
    "settings",
    [Settings(sandbox=True, read_only=True), Settings(sandbox=True, writes="off"),
     Settings(sandbox=True, toolsets=["flows", "resources", "runbooks", "credentials"]),
     Settings(sandbox=True)],
    ids=["read-only", "writes-off", "no-control-toolset", "default-profile"],
)  # fmt: skip
async def test_no_prompt_instructs_a_write_tool_the_server_lacks(settings: Settings) -> None:
    writes = await _write_tools()
    for name, text in (await _rendered(settings)).items():
        # "the `rotate_credential` prompt" names a prompt, which stays: only tool calls count.
        named = sorted(tool for tool in writes if re.search(rf"`{tool}`(?! prompt)", text))
        assert named == [], f"prompt {name} names {named}"
        assert "{{" not in text, name


async def test_read_only_troubleshooting_says_the_user_makes_the_change() -> None:
    text = (await _rendered(Settings(sandbox=True, read_only=True)))["troubleshoot_flow"]
    assert "server is read-only" in text and "in Nexla" in text and "`watch_flow`" in text


async def test_with_writes_the_troubleshooting_prompt_uses_the_fix_tools() -> None:
    text = (await _rendered(Settings(sandbox=True, profile="operator")))["troubleshoot_flow"]
    for tool in ("update_transform", "update_resource", "activate_flow", "watch_flow"):
        assert f"`{tool}`" in text
    assert "server is read-only" not in text


def test_sections_keep_their_text_only_when_the_tool_is_there_or_absent() -> None:
    body = "a{{#t}}B{{^u}}C{{/u}}{{/t}}{{^t}}D{{/t}}e"
    assert resolve_sections(body, frozenset({"t"})) == "aBCe"
    assert resolve_sections(body, frozenset({"t", "u"})) == "aBe"
    assert resolve_sections(body, frozenset()) == "aDe"


def test_an_unclosed_section_is_rejected() -> None:
    with pytest.raises(ValueError, match="not closed"):
        parse_prompt("bad", "---\ntitle: t\ndescription: d\n---\n{{#pause_flow}} pause\n")


def test_every_shipped_prompt_has_balanced_sections() -> None:
    assert {spec.name for spec in load_prompts()} >= {"troubleshoot_flow", "rotate_credential"}
