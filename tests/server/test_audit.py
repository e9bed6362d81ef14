"""The audit log: hash-chained JSON lines, redacted, verifiable from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexla_mcp.cli import main as cli_main
from nexla_mcp.server.audit import GENESIS_HASH, AuditLog, verify_audit_log

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLXZhbHVlLTEyMzQ"


def write_records(path: Path, count: int) -> list[dict[str, object]]:
    log = AuditLog(path)
    return [log.append("plan", tool="pause_flow", args={"flow_id": 9000 + n}) for n in range(count)]


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_records_chain_each_to_the_one_before(tmp_path: Path) -> None:
    """The first record links to the genesis hash, every later one to its predecessor."""
    path = tmp_path / "audit.jsonl"
    records = write_records(path, 3)
    assert records[0]["prev_hash"] == GENESIS_HASH
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert [json.loads(line) for line in lines_of(path)] == records
    assert verify_audit_log(path).ok and verify_audit_log(path).records == 3


def test_a_new_log_object_continues_the_existing_chain(tmp_path: Path) -> None:
    """A restarted server appends to the chain instead of starting a second one."""
    path = tmp_path / "audit.jsonl"
    first = write_records(path, 2)
    later = AuditLog(path).append("refusal", tool="pause_flow", reason="expired")
    assert later["prev_hash"] == first[-1]["hash"]
    assert verify_audit_log(path).records == 3


def test_the_parent_directory_is_created_and_the_file_is_private(tmp_path: Path) -> None:
    """The log may live in a directory that does not exist yet; only its owner can read it."""
    path = tmp_path / "state" / "nexla-mcp" / "audit.jsonl"
    write_records(path, 1)
    assert path.stat().st_mode & 0o777 == 0o600


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_verify_reports_the_first_edited_line(tmp_path: Path) -> None:
    """Changing one value in line 2 breaks line 2, even though the line is valid JSON."""
    path = tmp_path / "audit.jsonl"
    write_records(path, 4)
    lines = lines_of(path)
    lines[1] = lines[1].replace("9001", "9999")
    _rewrite(path, lines)
    check = verify_audit_log(path)
    assert (check.ok, check.bad_line, check.records) == (False, 2, 1)


@pytest.mark.parametrize(
    ("damage", "bad_line"),
    [
        pytest.param(lambda ls: [ls[0], ls[2], ls[3]], 2, id="deleted"),
        pytest.param(lambda ls: [ls[1], ls[0], ls[2], ls[3]], 1, id="reordered"),
        pytest.param(lambda ls: [ls[0], ls[1], "{not json", ls[2], ls[3]], 3, id="garbage"),
        pytest.param(lambda ls: [ls[0], ls[1], ls[1], ls[2], ls[3]], 3, id="duplicated"),
    ],
)
def test_verify_detects_deleted_reordered_and_inserted_lines(
    tmp_path: Path, damage: object, bad_line: int
) -> None:
    """Any change to the sequence breaks the chain at the first affected line."""
    path = tmp_path / "audit.jsonl"
    write_records(path, 4)
    _rewrite(path, damage(lines_of(path)))  # type: ignore[operator]
    assert verify_audit_log(path).bad_line == bad_line


def test_secrets_in_arguments_and_states_are_redacted(tmp_path: Path) -> None:
    """Secret-named keys and secret-looking values never reach the file."""
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append(
        "plan", tool="update_resource",
        args={"description": f"rotated, new token {JWT}", "password": "hunter2-correct-horse"},
        before={"note": "Bearer abcdefghijklmnopqrstuvwxyz0123456789"},
    )  # fmt: skip
    text = path.read_text()
    for secret in (JWT, "hunter2", "abcdefghijklmnopqrstuvwxyz0123"):
        assert secret not in text
    assert verify_audit_log(path).ok


def test_fields_that_are_none_are_left_out(tmp_path: Path) -> None:
    """Records hold only what is known."""
    record = AuditLog(tmp_path / "a.jsonl").append("plan", tool="pause_flow", plan_digest=None)
    assert "plan_digest" not in record


def test_audit_verify_command_exits_zero_on_an_intact_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nexla-mcp audit verify PATH` prints the record count and exits 0."""
    path = tmp_path / "audit.jsonl"
    write_records(path, 2)
    assert cli_main(["audit", "verify", str(path)]) == 0
    assert "2 records" in capsys.readouterr().out


def test_audit_verify_command_names_the_first_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edited log exits non-zero and says which line broke."""
    path = tmp_path / "audit.jsonl"
    write_records(path, 3)
    lines = lines_of(path)
    lines[2] = lines[2].replace("pause_flow", "activate_flow")
    _rewrite(path, lines)
    assert cli_main(["audit", "verify", str(path)]) == 1
    assert "line 3" in capsys.readouterr().err


def test_audit_verify_command_reads_the_configured_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without PATH it checks NEXLA_MCP_AUDIT_LOG."""
    path = tmp_path / "configured.jsonl"
    write_records(path, 1)
    monkeypatch.setenv("NEXLA_MCP_AUDIT_LOG", str(path))
    assert cli_main(["audit", "verify"]) == 0
    assert str(path) in capsys.readouterr().out


def test_audit_verify_command_fails_clearly_on_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path that does not exist is an error (exit 2), not an intact log."""
    assert cli_main(["audit", "verify", str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
