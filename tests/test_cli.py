"""The command line: flags become Settings, bad configuration exits 2 with a clear message."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import AliasChoices

from nexla_mcp.cli import _parser, main, parse_settings
from nexla_mcp.settings import Settings
from nexla_mcp.tools import TOOLSET_NAMES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_flags_become_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every serve flag lands on the matching Settings field."""
    monkeypatch.setenv("NEXLA_MCP_HTTP_TOKEN", "t0ken-for-the-flags-test")  # HTTP writes need it
    settings = parse_settings(
        ["--sandbox", "--transport", "http", "--host", "localhost", "--port", "9001",
         "--toolsets", "flows,context", "--writes", "human", "--allow-flows", "4,2",
         "--deny-flows", "9", "--timeout", "5", "--log-level", "info"]
    )  # fmt: skip
    assert settings.sandbox is True
    assert (settings.transport, settings.host, settings.port) == ("http", "localhost", 9001)
    assert settings.toolsets == ("flows", "context")
    assert settings.write_policy == "human"
    assert (settings.allow_flows, settings.deny_flows) == ((2, 4), (9,))
    assert (settings.timeout_s, settings.log_level) == (5.0, "INFO")


def test_read_only_flag_turns_writes_off() -> None:
    """--read-only overrides the default confirm policy."""
    assert parse_settings(["--sandbox", "--read-only"]).write_policy == "off"


def test_the_stateless_flag_sets_the_setting_and_it_is_off_by_default() -> None:
    """--http-stateless is NEXLA_MCP_HTTP_STATELESS=true, like the other switches."""
    assert parse_settings(["--sandbox", "--http-stateless"]).http_stateless is True
    assert parse_settings(["--sandbox"]).http_stateless is False


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flags", "session"),
    [pytest.param([], True, id="sessions"), pytest.param(["--http-stateless"], False, id="none")],
)
async def test_with_the_stateless_flag_a_handshake_creates_no_session(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], session: bool
) -> None:
    """The flag reaches the HTTP app: a 2025-era initialize answered without Mcp-Session-Id,
    so the next request may go to any replica (tests/server/test_non_sticky.py)."""
    from nexla_mcp.server.app import build_server
    from nexla_mcp.server.http import MCP_PATH, http_app

    monkeypatch.setenv("NEXLA_MCP_HTTP_TOKEN", "stateless-flag-token-0123456789")
    settings = parse_settings(["--sandbox", "--transport", "http", "--toolsets", "context", *flags])
    server = build_server(settings)
    app = http_app(server, settings)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "test", "version": "0"}}}  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream",
               "Authorization": "Bearer stateless-flag-token-0123456789"}  # fmt: skip
    async with server.session_manager.run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            reply = await http.post(MCP_PATH, json=initialize, headers=headers)
    assert reply.status_code == 200
    assert ("mcp-session-id" in reply.headers) is session


def test_the_readme_table_names_each_flag_beside_its_variable() -> None:
    """The configuration table's Flag column is the command line's: no flag missing from it,
    none that does not exist or sets another setting."""
    variable_of = {
        name: str(field.validation_alias.choices[0])
        for name, field in Settings.model_fields.items()
        if isinstance(field.validation_alias, AliasChoices)
    }
    flags = {
        variable_of[action.dest]: action.option_strings[0]
        for action in _parser()._actions
        if action.dest in variable_of
    }
    rows = re.findall(r"^\| `(NEXLA_[A-Z_]+)` \| (?:`(--[a-z-]+)`)? *\|", README, re.MULTILINE)
    assert {variable: flag for variable, flag in rows if flag} == flags


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag beats the NEXLA_MCP_* variable of the same option."""
    monkeypatch.setenv("NEXLA_MCP_WRITES", "human")
    assert parse_settings(["--sandbox", "--writes", "confirm"]).write_policy == "confirm"


def test_missing_credentials_exit_2_naming_the_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Serving without credentials or --sandbox fails before anything starts."""
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    for needed in ("NEXLA_SERVICE_KEY", "NEXLA_ACCESS_TOKEN", "--sandbox"):
        assert needed in captured.err


def test_unknown_toolset_exits_2_listing_valid_toolsets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A typo in --toolsets is reported with the names that would have worked."""
    assert main(["--sandbox", "--toolsets", "flows,metrix"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nexla-mcp: --toolsets: unknown toolset(s) metrix;")
    assert err.count("\n") == 1, "one line"
    for name in TOOLSET_NAMES:
        assert name in err


def test_a_bad_variable_is_reported_under_the_variable_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same mistake made in the environment names the variable, not the flag."""
    monkeypatch.setenv("NEXLA_MCP_TOOLSETS", "metrix")
    assert main(["--sandbox"]) == 2
    assert capsys.readouterr().err.startswith("nexla-mcp: NEXLA_MCP_TOOLSETS: unknown toolset")


def test_public_http_without_token_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Binding HTTP to all interfaces without NEXLA_MCP_HTTP_TOKEN is refused."""
    assert main(["--sandbox", "--transport", "http", "--host", "0.0.0.0"]) == 2
    assert "NEXLA_MCP_HTTP_TOKEN" in capsys.readouterr().err


def test_malformed_flag_exits_2_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse rejects a non-numeric port before Settings are built."""
    with pytest.raises(SystemExit) as caught:
        main(["--sandbox", "--port", "eighty"])
    assert caught.value.code == 2
    assert "usage: nexla-mcp" in capsys.readouterr().err


@pytest.mark.parametrize("subcommand", ["sandbox", "demo", "doctor"])
def test_subcommands_dispatch_to_their_own_parsers(
    subcommand: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nexla-mcp sandbox`, `demo` and `doctor` hand their arguments to their own mains."""
    with pytest.raises(SystemExit) as caught:
        main([subcommand, "--help"])
    assert caught.value.code == 0
    assert f"usage: nexla-mcp {subcommand}" in capsys.readouterr().out


def test_help_mentions_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    """The serve help points at the other two commands."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "nexla-mcp sandbox" in out and "nexla-mcp demo" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`nexla-mcp --version` says the installed version and exits 0."""
    from importlib.metadata import version

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"nexla-mcp {version('nexla-mcp')}\n"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something already listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def _one_line(command: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    run = subprocess.run(
        [sys.executable, "-m", "nexla_mcp", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    return run.returncode, run.stderr


def test_http_on_a_busy_port_is_one_line_naming_the_flag(busy_port: int) -> None:
    """`--transport http --port <busy>` ends in one line that names --port, exit 2."""
    code, err = _one_line(["--sandbox", "--transport", "http", "--port", str(busy_port)])
    assert code == 2
    assert f"(--port {busy_port}): Address already in use; choose another port with --port" in err


def test_http_on_a_busy_port_from_the_environment_names_the_variable(busy_port: int) -> None:
    """The port came from NEXLA_MCP_PORT, so the message names NEXLA_MCP_PORT."""
    code, err = _one_line(
        ["--sandbox"], {"NEXLA_MCP_TRANSPORT": "http", "NEXLA_MCP_PORT": str(busy_port)}
    )
    assert code == 2 and f"(NEXLA_MCP_PORT {busy_port})" in err


def test_sandbox_on_a_busy_port_is_one_line_naming_the_flag(busy_port: int) -> None:
    """`nexla-mcp sandbox --port <busy>` used to end in a traceback."""
    code, err = _one_line(["sandbox", "--port", str(busy_port)])
    assert code == 2
    assert err.startswith(f"nexla-mcp sandbox: cannot listen on 127.0.0.1:{busy_port} (--port")
