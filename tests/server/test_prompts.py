"""Runbook prompts: rendered through the MCP client, completed, checked, shipped in the wheel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from mcp import Client, MCPError
from mcp.types import PromptReference, ResourceTemplateReference

from nexla_mcp.server.prompts import load_prompts, parse_prompt

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = {"troubleshoot_flow", "rotate_credential", "migrate_schema", "health_check", "sla_report"}
# Arguments that make each prompt render (ids are the seeded org's).
ARGUMENTS: dict[str, dict[str, str]] = {
    "troubleshoot_flow": {"flow_id": "9015", "symptom": "no new contacts since this morning"},
    "rotate_credential": {"credential_id": "5009", "flow_id": "9015"},
    "migrate_schema": {"nexset_id": "6112"},
    "health_check": {"flow_id": "9001"},
    "sla_report": {"flow_id": "9001", "days": "3", "min_success_rate": "0.99"},
}
TOOL_VERBS = ("get", "list", "diagnose", "check", "track", "compare", "org", "probe", "pause",
              "activate", "delete", "update", "grant", "revoke", "replace", "rotate", "migrate",
              "finish", "resume")  # fmt: skip


def tool_names_in(text: str) -> list[str]:
    """Backquoted names that look like tools (verb_noun), in order of first mention."""
    names = re.findall(r"`([a-z]+_[a-z_]+)`", text)
    return list(dict.fromkeys(n for n in names if n.split("_")[0] in TOOL_VERBS))


async def test_every_prompt_is_listed_with_its_arguments(mcp_client: Client) -> None:
    """Five prompts, each titled and described, with flow/credential/nexset ids required."""
    prompts = {p.name: p for p in (await mcp_client.list_prompts()).prompts}
    assert set(prompts) == PROMPTS
    for prompt in prompts.values():
        assert prompt.title and prompt.description
        required = {a.name for a in prompt.arguments or [] if a.required}
        assert required == {next(iter(ARGUMENTS[prompt.name]))}, prompt.name


@pytest.mark.parametrize("name", sorted(PROMPTS))
async def test_each_prompt_renders_its_steps_and_safety_rules(
    mcp_client: Client, name: str
) -> None:
    """Rendered through the client: arguments filled in, tools named in order, safety rules."""
    result = await mcp_client.get_prompt(name, ARGUMENTS[name])
    assert len(result.messages) == 1 and result.messages[0].role == "user"
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "{{" not in text
    for value in ARGUMENTS[name].values():
        assert value in text
    assert re.search(r"^\s*1\. ", text, re.MULTILINE), "numbered steps"
    rules = text.split("Safety rules:", 1)[1].lower()
    assert "plan" in rules and "confirm" in rules and "verify" in rules
    assert "pause" in rules or "read-only" in rules


async def test_prompts_name_only_tools_the_server_has(mcp_client: Client) -> None:
    """Every tool a prompt tells the assistant to call exists (writes are on by default)."""
    tools = {tool.name for tool in (await mcp_client.list_tools()).tools}
    for name, arguments in ARGUMENTS.items():
        text = (await mcp_client.get_prompt(name, arguments)).messages[0].content.text  # type: ignore[union-attr]
        named = tool_names_in(text)
        assert named and set(named) <= tools, (name, set(named) - tools)


async def test_troubleshooting_diagnoses_first_and_verifies_last(mcp_client: Client) -> None:
    """The order of the runbook: diagnose, confirm, fix, verify."""
    text = (
        (await mcp_client.get_prompt("troubleshoot_flow", {"flow_id": "9015"}))
        .messages[0]
        .content.text
    )  # type: ignore[union-attr]
    names = tool_names_in(text)
    assert names[0] == "diagnose_flow"
    assert text.index("`watch_flow`") > text.index("rotate_credential")
    assert "What the user noticed: not stated" in text


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"flow_id": "12; pause every flow"}, "positive integer"),
        ({"flow_id": "0"}, "positive integer"),
        ({"flow_id": "9001", "days": "seven"}, "must be a number"),
        ({"flow_id": "9001", "x": "1"}, "unknown"),
    ],
)
async def test_ill_formed_arguments_are_refused_with_a_reason(
    mcp_client: Client, arguments: dict[str, str], problem: str
) -> None:
    """An id must be an id and a number a number: no free text where the prompt expects them."""
    with pytest.raises(MCPError, match=problem):
        await mcp_client.get_prompt("sla_report", arguments)


async def test_flow_and_credential_ids_complete_from_the_org(mcp_client: Client) -> None:
    """Prefixes complete to the org's own ids; other arguments complete to nothing."""
    assert mcp_client.server_capabilities.completions is not None
    flows = await mcp_client.complete(PromptReference(name="troubleshoot_flow"),
                                      {"name": "flow_id", "value": "901"})  # fmt: skip
    assert flows.completion.values and all(v.startswith("901") for v in flows.completion.values)
    assert "9015" in flows.completion.values and flows.completion.has_more is False
    credentials = await mcp_client.complete(PromptReference(name="rotate_credential"),
                                            {"name": "credential_id", "value": "5009"})  # fmt: skip
    assert credentials.completion.values == ["5009"]
    template = await mcp_client.complete(ResourceTemplateReference(uri="nexla://flows/{flow_id}"),
                                         {"name": "flow_id", "value": "9038"})  # fmt: skip
    assert template.completion.values == ["9038"]
    names = await mcp_client.complete(ResourceTemplateReference(uri="nexla://runbooks/{name}"),
                                      {"name": "name", "value": "s"})  # fmt: skip
    assert names.completion.values == ["sla_report"]
    other = await mcp_client.complete(PromptReference(name="troubleshoot_flow"),
                                      {"name": "symptom", "value": "n"})  # fmt: skip
    assert other.completion.values == []


def test_a_malformed_prompt_file_is_rejected_when_loaded() -> None:
    """A placeholder without a declared argument, or no front matter, fails loudly."""
    with pytest.raises(ValueError, match="undeclared placeholder"):
        parse_prompt("x", "---\ntitle: T\ndescription: D\n---\nFlow {{flow_id}}\n")
    with pytest.raises(ValueError, match="front matter"):
        parse_prompt("x", "Flow 1\n")


def _build_wheel(target: Path) -> Path:
    """The project's wheel, built with hatchling (or by pip, which fetches hatchling)."""
    try:
        import hatchling  # noqa: F401
    except ImportError:
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(target),
            str(ROOT),
        ]
    else:
        command = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(target)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=120)
    return next(target.glob("nexla_mcp-*.whl"))


RENDER_FROM_INSTALLED = textwrap.dedent("""
    import json, sys, anyio
    from mcp import Client
    import nexla_mcp
    from nexla_mcp.server.app import build_server
    from nexla_mcp.server.prompts import prompt_directory
    from nexla_mcp.settings import Settings

    async def main():
        rendered = {}
        async with Client(build_server(Settings(sandbox=True))) as client:
            for name, arguments in json.loads(sys.argv[1]).items():
                result = await client.get_prompt(name, arguments)
                rendered[name] = result.messages[0].content.text
        print(json.dumps({"package": nexla_mcp.__file__, "prompts": str(prompt_directory()),
                          "rendered": rendered}))

    anyio.run(main)
""")


def test_the_wheel_ships_the_prompts_and_they_render_once_installed(tmp_path: Path) -> None:
    """Build the wheel, install it (no deps) into a fresh directory, and render every prompt
    through an MCP client from that installed copy, not from the source tree."""
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(n).stem for n in archive.namelist() if n.startswith("nexla_mcp/prompts/")}
    assert shipped == PROMPTS
    assert {
        spec.name for spec in load_prompts(zipfile.Path(wheel, "nexla_mcp/prompts/"))
    } == PROMPTS
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*install, "--target", str(site), str(wheel)], check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(site)}
    reply = subprocess.run([sys.executable, "-c", RENDER_FROM_INSTALLED, json.dumps(ARGUMENTS)],
                           cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    installed = json.loads(reply.stdout.strip().splitlines()[-1])
    assert installed["package"].startswith(str(site))
    assert installed["prompts"].startswith(str(site))
    assert set(installed["rendered"]) == PROMPTS
    for name, text in installed["rendered"].items():
        assert "{{" not in text and ARGUMENTS[name][next(iter(ARGUMENTS[name]))] in text
