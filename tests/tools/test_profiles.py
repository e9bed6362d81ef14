"""Profiles: one catalog line per tool, and a default grounded in what the server itself uses.

The default profile must hold every tool the troubleshooting sources call: the
``troubleshoot_flow`` prompt's diagnose, confirm and verify steps, the ``health_check``
prompt, the read tools ``diagnose_flow`` recommends in ``next_actions``, the ``nexla-mcp demo``
session and the server instructions' starting points; and nothing else but
``get_server_context`` (which says how to get the rest). The fix prompts must find their
tools in the operator profile.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client

from nexla_mcp import demo
from nexla_mcp.runbooks import actions
from nexla_mcp.server.app import NexlaMCPServer, build_server, instructions_for
from nexla_mcp.settings import Settings
from nexla_mcp.tools import TOOLSET_NAMES, TOOLSETS
from nexla_mcp.tools.profiles import CATALOG, DISCOVERY_TOOL, enabled_tools, tools_of

pytestmark = pytest.mark.anyio

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def tools_named(text: str) -> set[str]:
    """Catalog tool names that ``text`` mentions as code (`name`) or as a call ("name")."""
    return {name for name in re.findall(r"[`\"](\w+)[`\"]", text) if name in CATALOG}


def prompt_steps(name: str, *steps: int) -> str:
    """The text of the numbered steps ``steps`` of a prompt (up to the next step or blank
    line)."""
    body = (PROMPTS / f"{name}.md").read_text()
    parts = re.split(r"^(\d+)\. ", body, flags=re.MULTILINE)
    chosen = [parts[i + 1] for i in range(1, len(parts), 2) if int(parts[i]) in steps]
    return "".join(part.split("\n\n")[0] for part in chosen)


def troubleshooting_path() -> dict[str, set[str]]:
    """Source -> the tools it calls on the way from "something is broken" to "verified"."""
    next_actions = tools_named(Path(actions.__file__).read_text())
    return {
        "troubleshoot_flow prompt (diagnose, confirm, verify)": tools_named(
            prompt_steps("troubleshoot_flow", 1, 2, 5)
        ),
        "health_check prompt": tools_named((PROMPTS / "health_check.md").read_text()),
        "diagnose_flow next_actions (reads)": {t for t in next_actions if not CATALOG[t].writes},
        "nexla-mcp demo": tools_named(Path(demo.__file__).read_text()),
        "server instructions (where to start)": {
            word
            for line in instructions_for(Settings(sandbox=True)).splitlines()
            if line.startswith("When something is broken")
            for word in re.findall(r"\w+", line)
            if word in CATALOG
        },
    }


def test_the_default_profile_is_exactly_the_troubleshooting_path() -> None:
    """Every tool those sources call is in default, and default holds nothing they don't."""
    path = troubleshooting_path()
    assert all(path.values()), path
    used = set().union(*path.values())
    assert used <= set(tools_of("default")), used - set(tools_of("default"))
    assert set(tools_of("default")) - used == {"get_server_context"}


def test_next_actions_name_writes_that_the_operator_profile_lists() -> None:
    """The fixes diagnose_flow plans (pause, activate) are one profile up, never missing."""
    named = tools_named(Path(actions.__file__).read_text())
    assert {t for t in named if CATALOG[t].writes} <= set(tools_of("operator"))


@pytest.mark.parametrize("prompt", ["rotate_credential", "migrate_schema", "sla_report"])
def test_the_fix_prompts_find_their_tools_in_the_operator_profile(prompt: str) -> None:
    named = tools_named((PROMPTS / f"{prompt}.md").read_text())
    assert named and named <= set(tools_of("operator")), named - set(tools_of("operator"))


def test_profiles_nest() -> None:
    default, operator, everything = (set(tools_of(p)) for p in ("default", "operator", "all"))
    assert default < operator < everything == set(CATALOG)


async def test_each_toolset_registers_exactly_its_catalog_tools_with_honest_write_flags() -> None:
    """The catalog is complete: a tool missing from it could never be listed."""
    settings = Settings(sandbox=True, profile="all")
    for toolset in TOOLSET_NAMES:
        server = NexlaMCPServer(name="catalog-check")
        TOOLSETS[toolset](server, settings)
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == {n for n, e in CATALOG.items() if e.toolset == toolset}
        for tool in tools:
            assert tool.annotations is not None
            assert CATALOG[tool.name].writes == (not tool.annotations.read_only_hint), tool.name


async def listed(settings: Settings) -> list[str]:
    async with Client(build_server(settings)) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


async def test_the_server_lists_the_default_profile_unless_told_otherwise() -> None:
    assert await listed(Settings(sandbox=True)) == list(tools_of("default"))
    assert sorted(await listed(Settings(sandbox=True, profile="all"))) == sorted(CATALOG)


async def test_single_tools_are_added_and_excluded_by_name() -> None:
    settings = Settings(
        sandbox=True, tools="get_transform,pause_flow", exclude_tools="org_health,compare_runs"
    )
    names = await listed(settings)
    assert {"get_transform", "pause_flow"} <= set(names)
    assert not {"org_health", "compare_runs"} & set(names)
    assert set(names) == set(tools_of("default")) - {"org_health", "compare_runs"} | {
        "get_transform",
        "pause_flow",
    }


def test_toolsets_alone_keep_meaning_every_tool_of_those_toolsets() -> None:
    """--toolsets predates profiles: named alone, it still lists whole toolsets."""
    settings = Settings(sandbox=True, toolsets="flows,control")
    assert settings.profile == "all"
    assert enabled_tools(settings) == (
        "list_flows", "get_flow", "pause_flow", "activate_flow", "update_resource",
        "update_transform", "delete_flow",
    )  # fmt: skip


def test_a_profile_and_toolsets_together_list_the_profile_within_those_toolsets() -> None:
    settings = Settings(sandbox=True, profile="operator", toolsets="metrics,control")
    assert enabled_tools(settings) == (
        "get_run_metrics", "get_daily_metrics", "pause_flow", "activate_flow", "update_resource",
        "update_transform",
    )  # fmt: skip


def test_no_write_tool_is_enabled_when_writes_are_off_even_by_name() -> None:
    settings = Settings(sandbox=True, profile="all", read_only=True, tools="pause_flow")
    assert not [name for name in enabled_tools(settings) if CATALOG[name].writes]


def test_an_unknown_tool_name_is_a_configuration_error_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown tool.*pause_flwo.*valid tools: list_flows"):
        Settings(sandbox=True, tools="pause_flwo")


def test_the_instructions_say_which_tools_are_not_listed_and_how_to_list_them() -> None:
    text = instructions_for(Settings(sandbox=True))
    assert "Not listed in profile default: list_resources" in text
    assert "--profile operator or all" in text and "--tools" in text
    assert DISCOVERY_TOOL not in text
    dynamic = instructions_for(Settings(sandbox=True, dynamic_toolsets=True))
    assert f"call {DISCOVERY_TOOL}" in dynamic
    assert "Not listed" not in instructions_for(Settings(sandbox=True, profile="all"))
