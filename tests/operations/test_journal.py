"""The SQLite journal: durable across instances, private on disk, and honest about who runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nexla_mcp.operations.journal import (
    FOREIGN_OWNER_QUIET_S,
    JournalError,
    SqliteJournal,
    StepRecord,
    is_interrupted,
    this_process,
)

pytestmark = pytest.mark.anyio


async def test_an_operation_and_its_steps_survive_a_new_journal_instance(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ops.sqlite3"
    journal = SqliteJournal(path)
    record = await journal.create("rotate_credential", {"credential_id": 1}, {"steps": []})
    step = StepRecord(0, "probe", {"op": "probe_credential"}, None, "started")
    await journal.put_step(record.id, step)
    step.status, step.result = "done", {"ok": True}
    await journal.put_step(record.id, step)
    await journal.set_status(record.id, "completed", note="all good")

    again = await SqliteJournal(path).get(record.id)
    assert again is not None
    assert (again.kind, again.status, again.note) == ("rotate_credential", "completed", "all good")
    assert [(s.name, s.status, s.result) for s in again.steps] == [("probe", "done", {"ok": True})]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [r.id for r in await journal.recent(5)] == [record.id]
    assert await journal.get("op-000000000000") is None


async def test_only_an_operation_nobody_runs_is_interrupted(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "ops.sqlite3")
    record = await journal.create("rotate_credential", {}, {"steps": []})
    assert record.owner == this_process()
    assert not is_interrupted(record, {record.id})  # this process runs it
    assert is_interrupted(record, set())  # this process, but not running it any more

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = this_process().split(":")[0]
    record.owner = f"{host}:{dead.stdout.strip()}:abc"
    assert is_interrupted(record, set())  # its process on this host is gone
    record.owner = f"{host}:{os.getppid()}:abc"
    assert not is_interrupted(record, set())  # a live process on this host still may run it

    record.owner = "elsewhere:1:abc"
    assert not is_interrupted(record, set(), now=record.updated_at + 60)
    assert is_interrupted(record, set(), now=record.updated_at + FOREIGN_OWNER_QUIET_S + 1)
    record.status = "completed"
    assert not is_interrupted(record, set(), now=record.updated_at + FOREIGN_OWNER_QUIET_S + 1)


async def test_an_unusable_state_dir_is_a_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    with pytest.raises(JournalError) as caught:
        await SqliteJournal(blocker / "ops.sqlite3").create("rotate_credential", {}, {})
    assert "NEXLA_MCP_STATE_DIR" in (caught.value.hint or "")
