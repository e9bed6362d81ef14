"""The official TypeScript MCP client (the one many IDEs embed) works with our stdio server.

`ts_client.mjs` drives `python -m nexla_mcp --sandbox --profile all` with
`@modelcontextprotocol/sdk` (the version pinned in package-lock.json) and prints one JSON
summary line; these tests read it.
The SDK validates every `structuredContent` against the tool's `outputSchema`, even on error
results, so a schema the server does not keep, or an error result that carries structured
content, makes its `callTool` throw: design contract 3 is checked by the real client here.

The node dependency comes from `npm ci --prefix tests/interop`. Without it the tests skip,
unless NEXLA_MCP_REQUIRE_INTEROP=1 (set by .ci/run), where a missing install fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

INTEROP = Path(__file__).resolve().parent
ROOT = INTEROP.parent.parent
CLIENT = INTEROP / "ts_client.mjs"
NODE_MODULES = INTEROP / "node_modules"
# Read at import: the shared conftest removes every NEXLA_* variable before each test runs.
REQUIRED = os.environ.get("NEXLA_MCP_REQUIRE_INTEROP") == "1"
INSTALL = "npm ci --prefix tests/interop"


def run_client(python: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the TypeScript client against `python -m nexla_mcp --sandbox`, whose state (its
    tool-list cache) goes to ``state_dir``."""
    if not NODE_MODULES.is_dir():
        if REQUIRED:
            pytest.fail(f"tests/interop/node_modules is missing; CI must run `{INSTALL}` first")
        pytest.skip(f"tests/interop/node_modules is missing: run `{INSTALL}` once")
    node = shutil.which("node")
    assert node, "node is not on PATH, but tests/interop/node_modules is installed"
    return subprocess.run(
        [node, str(CLIENT), python],
        env={**os.environ, "NEXLA_MCP_STATE_DIR": str(state_dir)},
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def summary_of(finished: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The client's one stdout line, parsed."""
    lines = finished.stdout.splitlines()
    assert len(lines) == 1, f"expected one summary line, got {finished.stdout!r}"
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One session of the TypeScript client against the sandbox server, shared by the tests."""
    finished = run_client(sys.executable, tmp_path_factory.mktemp("state"))
    seen = summary_of(finished)
    assert seen["failures"] == [], json.dumps(seen, indent=1)
    assert seen["ok"] is True and finished.returncode == 0, finished.stderr[-2000:]
    return seen


def test_the_client_is_the_pinned_sdk_on_the_handshake_protocol(summary: dict[str, Any]) -> None:
    """The SDK version in package-lock.json negotiated 2025-11-25 with our server."""
    lock = json.loads((INTEROP / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@modelcontextprotocol/sdk"]["version"]
    assert summary["sdk_version"] == pinned
    assert summary["protocol_version"] == "2025-11-25"
    assert summary["server"]["name"] == "nexla-mcp"


def test_every_tool_lists_an_output_schema_and_all_four_annotations(
    summary: dict[str, Any],
) -> None:
    """tools/list: the SDK compiled a validator for each tool; none lacks a schema or hint."""
    tools = summary["tools"]
    assert tools["count"] >= 20
    assert {"list_flows", "get_flow", "diagnose_flow", "pause_flow"} <= set(tools["names"])
    assert tools["without_output_schema"] == []
    assert tools["without_all_annotations"] == []
    assert tools["sdk_validators"] == tools["count"]


def test_successful_calls_pass_the_sdks_output_schema_validation(summary: dict[str, Any]) -> None:
    """list_flows, get_flow and diagnose_flow each had their structuredContent validated."""
    flow_ids = summary["list_flows"]["flow_ids"]
    assert flow_ids and summary["list_flows"]["validated"] is True
    assert summary["get_flow"]["validated"] is True
    assert summary["get_flow"]["flow_id"] == flow_ids[0]
    assert summary["diagnose_flow"]["validated"] is True
    assert summary["diagnose_flow"]["evidence"] > 0
    assert summary["validations"]["passed"] == 3


def test_the_sdk_rejects_a_result_that_breaks_the_output_schema(summary: dict[str, Any]) -> None:
    """The negative control: against a deliberately wrong schema the same validation throws."""
    assert "does not match the tool's output schema" in summary["broken_schema_rejected"]
    assert summary["validations"]["failed"] == 1


def test_an_unknown_flow_is_an_error_envelope_the_sdk_accepts(summary: dict[str, Any]) -> None:
    """get_flow on a missing id: isError with a NotFoundError envelope, no structuredContent."""
    assert summary["not_found"] == {
        "threw": False,
        "is_error": True,
        "has_structured_content": False,
        "type": "NotFoundError",
    }


def test_a_bad_argument_is_an_error_envelope_that_names_it(summary: dict[str, Any]) -> None:
    """An out-of-range limit and a misspelt filter: each envelope names the argument."""
    expected = [
        {"threw": False, "is_error": True, "has_structured_content": False,
         "type": "InvalidArgumentsError", "arguments": [argument]}
        for argument in ("limit", "has_recent_error")
    ]  # fmt: skip
    assert summary["bad_arguments"] == expected


def test_prompts_list_and_troubleshoot_flow_renders_for_the_flow(summary: dict[str, Any]) -> None:
    """prompts/list has the five runbook prompts; troubleshoot_flow renders with the flow id."""
    assert {"troubleshoot_flow", "health_check", "rotate_credential"} <= set(
        summary["prompts"]["names"]
    )
    rendered = summary["prompts"]["troubleshoot_flow"]
    assert rendered["messages"] >= 1 and rendered["mentions_flow_id"] is True


def test_the_client_reports_failure_when_the_server_cannot_start(tmp_path: Path) -> None:
    """A python that does not exist: exit 1 and a summary with ok false and the reason."""
    finished = run_client(str(tmp_path / "no-such-python"), tmp_path)
    seen = summary_of(finished)
    assert finished.returncode == 1
    assert seen["ok"] is False
    assert any("ENOENT" in failure for failure in seen["failures"])
