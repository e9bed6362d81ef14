"""What a start imports: nothing a stdio server without OAuth does not run (checked in a fresh
process, since this test session has imported everything already)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from nexla_mcp.server.testing import call_ok

BUILD_STDIO_SERVER = (
    "import sys\n"
    "from nexla_mcp.settings import Settings\n"
    "from nexla_mcp.server.app import build_server\n"
    "build_server(Settings(sandbox=True{options}))\n"
    "print(sorted(name for name in ('joserfc', 'nexla_mcp.server.oauth') if name in sys.modules))\n"
)


def run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_server_without_oauth_does_not_import_the_jwt_library() -> None:
    assert run(BUILD_STDIO_SERVER.format(options="")) == "[]"


def test_a_server_with_oauth_imports_it() -> None:
    options = (
        ", oauth_issuer='https://id.example.com', oauth_audience='https://mcp.example.com/mcp'"
    )
    assert (
        run(BUILD_STDIO_SERVER.format(options=options)) == "['joserfc', 'nexla_mcp.server.oauth']"
    )


def test_the_cli_imports_httpx_without_its_command_line_client_which_stays_importable() -> None:
    code = (
        "import sys\n"
        "from nexla_mcp.cli import _import_httpx_without_its_command_line as load\n"
        "load()\n"
        "import httpx\n"
        "print('httpx._main' in sys.modules, httpx.AsyncClient.__name__)\n"
        "import httpx._main\n"
        "print('httpx._main' in sys.modules)\n"
    )
    assert run(code).split() == ["False", "AsyncClient", "True"]


# Runs the CLI as `nexla-mcp --sandbox` does and, when the client hangs up, says on stderr
# which of the modules a first list_flows does not need the process had loaded.
REPORT_ON_EXIT = (
    "import atexit, sys\n"
    "def report():\n"
    "    loaded = [name for name in sys.argv[1].split(',') if name in sys.modules]\n"
    "    print('loaded:', ','.join(loaded), file=sys.stderr)\n"
    "atexit.register(report)\n"
    "from nexla_mcp.cli import main\n"
    "main(['--sandbox'])\n"
)
NOT_NEEDED_FOR_LIST_FLOWS = (
    "nexla_mcp.runbooks.clustering",
    "nexla_mcp.runbooks.flowmap",
    "statistics",
    "_strptime",
    "nexla_mcp.sandbox.control",
    "nexla_mcp.sandbox.drills",
    "nexla_mcp.sandbox.routes_credentials",
    "nexla_mcp.sandbox.routes_platform",
    "nexla_mcp.sandbox.writes",
    "nexla_mcp.sandbox.generator",
)


@pytest.mark.anyio
async def test_a_stdio_session_that_lists_flows_loads_only_what_that_needs(tmp_path: Path) -> None:
    """The start path stays lean: the tool list comes from the cache a first start wrote, and
    neither the log tools, the write machinery nor the state store's engine load for a read."""
    environment = {**os.environ, "NEXLA_MCP_STATE_DIR": str(tmp_path)}
    server = StdioServerParameters(
        command=sys.executable,
        args=["-c", REPORT_ON_EXIT, ",".join(NOT_NEEDED_FOR_LIST_FLOWS)],
        env=environment,
    )
    errors = tmp_path / "stderr.txt"
    for _ in range(2):  # the first start writes the tool-list cache the second one reads
        with errors.open("w") as stderr:
            async with Client(stdio_client(server, errlog=stderr)) as client:
                await call_ok(client, "list_flows", {})
    report = errors.read_text().splitlines()[-1]
    assert report == "loaded: ", report
    assert not (tmp_path / "state.db").exists()  # the store opens with the first write
