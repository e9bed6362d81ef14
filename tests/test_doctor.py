"""`nexla-mcp doctor`: each setup fault is one line with its fix, and its own exit code.

The acceptance path of the README: a sandbox served over loopback HTTP by
`nexla-mcp sandbox --port 0` with a key of its own, then `python -m nexla_mcp doctor` (a real
process) against it with another key, a wrong path, a closed port, and finally right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexla_mcp.doctor import EXIT_CODES, main
from nexla_mcp.sandbox import DEFAULT_SERVICE_KEY
from tests.ports import free_port

SANDBOX_KEY = "nxsk_doctor_test_7c1e9a3b5d"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """`nexla-mcp sandbox --port 0 --service-key <its own>` in a subprocess; its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nexla_mcp", "sandbox", "--port", "0", "--service-key", SANDBOX_KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Nexla sandbox API at "), first
        yield first.removeprefix("Nexla sandbox API at ").strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    clean.update(HOME=str(tmp_path), NEXLA_MCP_TIMEOUT="5", **env)
    return subprocess.run(
        [sys.executable, "-m", "nexla_mcp", "doctor", *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
    )


def _failures(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("FAIL")]


def test_doctor_passes_against_a_right_setup(sandbox_url: str, tmp_path: Path) -> None:
    """The right key at the right URL: every check passes, identity and org are shown."""
    run = _doctor(tmp_path, NEXLA_SERVICE_KEY=SANDBOX_KEY, NEXLA_API_URL=sandbox_url)
    assert run.returncode == 0, run.stdout
    assert _failures(run.stdout) == []
    assert "ops@acme-retail.example, org Acme Retail Analytics (101)" in run.stdout
    assert "15 flows visible" in run.stdout
    assert "probed" in run.stdout and "writable" in run.stdout


def test_a_different_key_is_one_line_naming_nexla_service_key(
    sandbox_url: str, tmp_path: Path
) -> None:
    """The sandbox was started with another key: exit 6, the fix names the variable."""
    run = _doctor(tmp_path, NEXLA_SERVICE_KEY=DEFAULT_SERVICE_KEY, NEXLA_API_URL=sandbox_url)
    assert run.returncode == EXIT_CODES["service_key"]
    [line] = _failures(run.stdout)
    assert "session token" in line and "Fix: Set NEXLA_SERVICE_KEY" in line
    assert DEFAULT_SERVICE_KEY not in run.stdout + run.stderr


def test_a_wrong_path_is_one_line_naming_nexla_api_url(sandbox_url: str, tmp_path: Path) -> None:
    """The host answers but /wrong is not the API: exit 3, not 'check the id'."""
    run = _doctor(tmp_path, NEXLA_SERVICE_KEY=SANDBOX_KEY, NEXLA_API_URL=f"{sandbox_url}/wrong")
    assert run.returncode == EXIT_CODES["api_url"]
    [line] = _failures(run.stdout)
    assert "does not point at the Nexla API" in line and "Fix: Set NEXLA_API_URL" in line


def test_a_closed_port_is_one_line_saying_nothing_listens(tmp_path: Path) -> None:
    """Connection refused: exit 4, the later API checks are skipped, not failed."""
    port = free_port()
    run = _doctor(tmp_path, NEXLA_SERVICE_KEY=SANDBOX_KEY, NEXLA_API_URL=f"http://127.0.0.1:{port}")
    assert run.returncode == EXIT_CODES["unreachable"]
    [line] = _failures(run.stdout)
    assert f"127.0.0.1:{port} refused the connection" in line and "NEXLA_API_URL" in line
    assert run.stdout.count("skip ") == 4


def test_json_reports_the_same_checks_for_scripts(sandbox_url: str, tmp_path: Path) -> None:
    """--json: one object with the exit code, the failure class and every check."""
    run = _doctor(tmp_path, "--json", NEXLA_SERVICE_KEY="wrong-key-123", NEXLA_API_URL=sandbox_url)
    report = json.loads(run.stdout)
    assert report["exit_code"] == run.returncode == EXIT_CODES["service_key"]
    assert report["failure"] == "service_key" and report["ok"] is False
    names = [check["name"] for check in report["checks"]]
    assert names == [
        "configuration", "reach the API", "session token", "identity and org", "read flows",
        "credential probe", "audit log", "state directory",
    ]  # fmt: skip
    assert "wrong-key-123" not in run.stdout


def test_missing_credentials_are_a_configuration_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key, no token, no --sandbox: exit 2 before any request."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main([]) == EXIT_CODES["config"]
    [line] = _failures(capsys.readouterr().out)
    assert "NEXLA_SERVICE_KEY" in line and "Fix:" in line


def test_an_unwritable_state_directory_fails_with_its_own_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded sandbox passes every API check; a state dir under a file cannot be made."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("NEXLA_MCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("NEXLA_MCP_STATE_DIR", str(blocker / "state"))
    assert main(["--sandbox"]) == EXIT_CODES["local_state"]
    out = capsys.readouterr().out
    [line] = _failures(out)
    assert "state directory" in line and "NEXLA_MCP_STATE_DIR" in line
    assert "ok    audit log" in out and not (tmp_path / "audit.jsonl").exists()
