"""What a start imports: nothing a stdio server without OAuth does not run (checked in a fresh
process, since this test session has imported everything already)."""

from __future__ import annotations

import subprocess
import sys

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
