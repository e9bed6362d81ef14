"""The audit chain: keyed hash-chained records in the state store, a file copy that survives a
torn last line, special files refused at start, verifiable from the command line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from nexla_mcp.cli import main as cli_main
from nexla_mcp.server.app import build_server
from nexla_mcp.server.audit import (
    GENESIS_HASH,
    MAX_RECORD_CHARS,
    AuditFileError,
    AuditLog,
    ChainKey,
    verify_audit_file,
    verify_audit_store,
)
from nexla_mcp.settings import Settings
from nexla_mcp.state.sqlite import STATE_FILE, SQLiteStore

pytestmark = pytest.mark.anyio

SECRET = "audit-test-secret-0123456789abcdefghij"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLXZhbHVlLTEyMzQ"


def audit_log(state_dir: Path, mirror: Path | None = None, secret: str = SECRET) -> AuditLog:
    return AuditLog(SQLiteStore(state_dir), ChainKey(secret), mirror=mirror)


async def write_records(log: AuditLog, count: int) -> list[dict[str, object]]:
    return [
        await log.append("plan", tool="pause_flow", args={"flow_id": 9000 + n})
        for n in range(count)
    ]


def sql(state_dir: Path, statement: str, *params: object) -> None:
    """Change the store behind the server's back, as someone with the file would."""
    with sqlite3.connect(state_dir / STATE_FILE) as db:
        db.execute(statement, params)


async def store_check(state_dir: Path, secret: str = SECRET) -> tuple[bool, int | None, str]:
    check = await verify_audit_store(SQLiteStore(state_dir), ChainKey(secret))
    return check.ok, check.bad_line, check.problem or ""


async def test_records_chain_each_to_the_one_before(tmp_path: Path) -> None:
    """Numbered from 1; the first links to the genesis hash, every later one to its predecessor."""
    records = await write_records(audit_log(tmp_path), 3)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev_hash"] == GENESIS_HASH
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert await store_check(tmp_path) == (True, None, "")


async def test_a_new_log_object_continues_the_existing_chain(tmp_path: Path) -> None:
    """A restarted server appends to the chain instead of starting a second one."""
    first = await write_records(audit_log(tmp_path), 2)
    later = await audit_log(tmp_path).append("refusal", tool="pause_flow", reason="expired")
    assert (later["seq"], later["prev_hash"]) == (3, first[-1]["hash"])
    assert (await verify_audit_store(SQLiteStore(tmp_path), ChainKey(SECRET))).records == 3


async def test_concurrent_appends_from_two_stores_on_one_directory_make_one_chain(
    tmp_path: Path,
) -> None:
    """Two connections (as two processes would have) append at once; the chain stays whole."""
    one, two = audit_log(tmp_path), audit_log(tmp_path)
    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(write_records, one if n % 2 else two, 1)
    assert await store_check(tmp_path) == (True, None, "")
    assert (await verify_audit_store(SQLiteStore(tmp_path), ChainKey(SECRET))).records == 20


@pytest.mark.parametrize(
    ("damage", "bad_line", "problem"),
    [
        pytest.param(
            ("UPDATE audit_records SET record = replace(record, '9001', '9999') WHERE seq = 2",),
            2, "edited", id="edited",
        ),
        pytest.param(("DELETE FROM audit_records WHERE seq = 2",), 2, "missing", id="deleted"),
        pytest.param(("DELETE FROM audit_records WHERE seq >= 3",), None, "cut off", id="cut"),
        pytest.param(
            ("DELETE FROM audit_records WHERE seq >= 3",
             "UPDATE audit_head SET count = 2, hash = (SELECT hash FROM audit_records "
             "WHERE seq = 2)"),
            None, "head does not match its MAC", id="cut-and-head-moved",
        ),
        pytest.param(("DELETE FROM audit_head",), None, "head is missing", id="head-deleted"),
    ],
)  # fmt: skip
async def test_verify_detects_edited_deleted_and_truncated_rows(
    tmp_path: Path, damage: tuple[str, ...], bad_line: int | None, problem: str
) -> None:
    """Any change to the rows, or cutting rows off the end (even moving the head along, which
    needs the secret to MAC), breaks the check."""
    await write_records(audit_log(tmp_path), 4)
    for statement in damage:
        sql(tmp_path, statement)
    ok, line, text = await store_check(tmp_path)
    assert (ok, line) == (False, bad_line)
    assert problem in text


async def test_an_edited_record_cannot_be_rehashed_without_the_secret(tmp_path: Path) -> None:
    """Re-hashing an edit with plain SHA-256 or another key is caught; only the server's key
    makes it pass (so the check is the key, not the format)."""
    import hashlib

    from nexla_mcp.server.guard import canonical_json

    mirror = tmp_path / "audit.jsonl"
    await write_records(audit_log(tmp_path, mirror), 1)
    record = json.loads(mirror.read_text())
    record["args"] = {"flow_id": 1}

    def rewrite(digest: str) -> tuple[bool, str]:
        mirror.write_text(canonical_json({**record, "hash": digest}) + "\n")
        check = verify_audit_file(mirror, ChainKey(SECRET))
        return check.ok, check.problem or ""

    body = canonical_json({k: v for k, v in record.items() if k != "hash"}).encode()
    assert rewrite(hashlib.sha256(body).hexdigest()) == (
        False, "content does not match its MAC (edited)"
    )  # fmt: skip
    assert rewrite(ChainKey("another-secret-0123456789abcdefghij").mac(record))[0] is False
    assert rewrite(ChainKey(SECRET).mac(record)) == (True, "")


async def test_a_record_written_under_another_key_is_named_as_such(tmp_path: Path) -> None:
    """Verifying with the wrong secret says so instead of calling every record edited."""
    await write_records(audit_log(tmp_path), 1)
    ok, line, text = await store_check(tmp_path, secret="wrong-secret-0123456789abcdefghijkl")
    assert (ok, line) == (False, 1) and "another key" in text


async def test_the_file_copy_holds_the_same_chain_and_verifies(tmp_path: Path) -> None:
    """Every append brings the file up to date; it is private and verifies on its own."""
    mirror = tmp_path / "logs" / "audit.jsonl"
    records = await write_records(audit_log(tmp_path, mirror), 3)
    assert [json.loads(line) for line in mirror.read_text().splitlines()] == records
    assert mirror.stat().st_mode & 0o777 == 0o600
    assert verify_audit_file(mirror, ChainKey(SECRET)).records == 3


async def test_a_torn_last_line_is_cut_off_and_written_again_whole(tmp_path: Path) -> None:
    """A crash mid-line leaves a partial record; verify names it, and the next append drops the
    fragment, rewrites that record from the store and goes on, so the file verifies again."""
    mirror = tmp_path / "audit.jsonl"
    await write_records(audit_log(tmp_path, mirror), 2)
    whole = mirror.read_bytes()
    mirror.write_bytes(whole[: len(whole) - 40])  # the second record loses its end
    torn = verify_audit_file(mirror, ChainKey(SECRET))
    assert (torn.ok, torn.bad_line, torn.problem) == (
        False,
        2,
        "torn last line (interrupted write)",
    )

    await audit_log(tmp_path, mirror).append("refusal", tool="pause_flow", reason="expired")
    assert mirror.read_bytes().startswith(whole)
    assert verify_audit_file(mirror, ChainKey(SECRET)).records == 3


def test_verify_reads_a_file_without_line_breaks_in_bounded_pieces(tmp_path: Path) -> None:
    """A regular file of 3 MB of zeros is "line too long" at line 1, not read into memory."""
    zeros = tmp_path / "zeros.jsonl"
    zeros.write_bytes(bytes(3 << 20))
    check = verify_audit_file(zeros, ChainKey(SECRET))
    assert (check.ok, check.bad_line, check.problem) == (False, 1, "line too long")


async def test_export_writes_the_whole_chain_to_a_new_file(tmp_path: Path) -> None:
    """A file copy can be made at any time from the store."""
    await write_records(audit_log(tmp_path), 3)
    target = tmp_path / "export.jsonl"
    assert await audit_log(tmp_path, target).sync_mirror() == 3
    assert await audit_log(tmp_path, target).sync_mirror() == 0
    assert verify_audit_file(target, ChainKey(SECRET)).records == 3


async def test_an_oversized_record_keeps_digests_of_its_bulky_fields(tmp_path: Path) -> None:
    """A 1 MB state does not make a 1 MB audit line."""
    record = await audit_log(tmp_path).append(
        "plan", tool="update_resource", args={"name": "x"}, before={"description": "d" * 10**6}
    )
    assert len(json.dumps(record)) < MAX_RECORD_CHARS
    assert record["before"]["omitted"] and len(record["before"]["sha256"]) == 64
    assert record["args"] == {"name": "x"}


async def test_secrets_in_arguments_and_states_are_redacted(tmp_path: Path) -> None:
    """Secret-named keys and secret-looking values never reach the store or the file."""
    mirror = tmp_path / "audit.jsonl"
    await audit_log(tmp_path, mirror).append(
        "plan", tool="update_resource",
        args={"description": f"rotated, new token {JWT}", "password": "hunter2-correct-horse"},
        before={"note": "Bearer abcdefghijklmnopqrstuvwxyz0123456789"},
    )  # fmt: skip
    for text in (mirror.read_text(), (tmp_path / STATE_FILE).read_bytes().decode("latin-1")):
        for secret in (JWT, "hunter2", "abcdefghijklmnopqrstuvwxyz0123"):
            assert secret not in text


async def test_fields_that_are_none_are_left_out(tmp_path: Path) -> None:
    """Records hold only what is known."""
    record = await audit_log(tmp_path).append("plan", tool="pause_flow", plan_digest=None)
    assert "plan_digest" not in record


# --- special files (issue 14, finding 3) --------------------------------------------------------


def special_files(tmp_path: Path) -> list[tuple[Path, str]]:
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    return [(fifo, "named pipe"), (Path("/dev/zero"), "character device"), (tmp_path, "directory")]


def test_a_server_on_a_fifo_or_a_device_is_refused_when_it_is_built(tmp_path: Path) -> None:
    """build_server stats the path (it never opens it), so a pipe cannot hang it."""
    for path, kind in special_files(tmp_path):
        with pytest.raises(AuditFileError, match=kind):
            build_server(Settings(sandbox=True, audit_path=path))


@pytest.mark.parametrize("kind", ["named pipe", "character device"])
def test_the_command_refuses_to_start_on_a_fifo_or_dev_zero(tmp_path: Path, kind: str) -> None:
    """`nexla-mcp` exits 2 at once with a message naming the problem, without reading a byte."""
    path = {k: p for p, k in special_files(tmp_path)}[kind]
    env = {**os.environ, "NEXLA_MCP_AUDIT_LOG": str(path), "NEXLA_MCP_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "nexla_mcp", "--sandbox"], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"NEXLA_MCP_AUDIT_LOG={path} is a {kind}" in done.stderr
    assert "regular file" in done.stderr


async def test_a_fifo_swapped_in_after_start_does_not_hang_the_append(tmp_path: Path) -> None:
    """The file is opened non-blocking and checked again: the record still reaches the store
    and the append returns (the file copy waits for a regular file)."""
    mirror = tmp_path / "audit.jsonl"
    log = audit_log(tmp_path, mirror)
    await write_records(log, 1)
    mirror.unlink()
    os.mkfifo(mirror)
    with anyio.fail_after(10):
        await write_records(log, 1)
    assert (await verify_audit_store(SQLiteStore(tmp_path), ChainKey(SECRET))).records == 2


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment `nexla-mcp audit` reads: the state directory and the secret."""
    monkeypatch.setenv("NEXLA_MCP_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("NEXLA_MCP_SECRET", SECRET)
    return tmp_path


async def test_audit_verify_checks_the_store_and_names_the_first_bad_record(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without PATH it checks the store: 0 and the count when intact, 1 and the record after an
    edit."""
    await write_records(audit_log(configured), 3)
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "verify"]) == 0
    assert "3 records, chain intact" in capsys.readouterr().out
    sql(configured, "UPDATE audit_records SET record = replace(record, 'plan', 'nalp') WHERE seq=3")
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "verify"]) == 1
    assert "record 3: " in capsys.readouterr().err


async def test_audit_export_then_verify_a_file(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit export PATH` writes the chain; `audit verify PATH` checks that file."""
    await write_records(audit_log(configured), 2)
    target = str(configured / "copy.jsonl")
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "export", target]) == 0
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "verify", target]) == 0
    assert "2 records, chain intact" in capsys.readouterr().out


def test_audit_verify_without_the_secret_uses_the_state_directory_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server without NEXLA_MCP_SECRET keys the chain with a key file in its state directory,
    so the chain verifies after a restart and from the command line."""
    key = ChainKey.for_settings(None, tmp_path)
    assert not (tmp_path / "audit.key").exists(), "made on first use, not when built"
    assert ChainKey.for_settings(None, tmp_path).key_id == key.key_id
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
    anyio.run(lambda: AuditLog(SQLiteStore(tmp_path), key).append("plan", tool="pause_flow"))
    monkeypatch.setenv("NEXLA_MCP_STATE_DIR", str(tmp_path))
    assert cli_main(["audit", "verify"]) == 0
    assert "1 records" in capsys.readouterr().out


def test_audit_verify_fails_clearly_on_a_missing_file(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path that does not exist is an error (exit 2), not an intact log."""
    assert cli_main(["audit", "verify", str(configured / "absent.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
