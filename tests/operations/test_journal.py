"""The operations journal in the state store, on both engines: durable across store instances
(a restart, another replica), taken over by exactly one of many concurrent claimants, honest
about who runs an operation, and importing the old ``operations.sqlite3`` it replaces."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from nexla_mcp.operations.journal import (
    FOREIGN_OWNER_QUIET_S,
    LEGACY_JOURNAL_FILE,
    JournalError,
    MemoryJournal,
    OperationTakenError,
    StepRecord,
    StoreJournal,
    is_interrupted,
    this_process,
)
from nexla_mcp.state import StateStore
from nexla_mcp.state.postgres import PostgresStore
from nexla_mcp.state.sqlite import STATE_FILE, SQLiteStore

pytestmark = pytest.mark.anyio

Factory = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """Makes stores on one shared location (each its own connection, as a replica's)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "state")
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url)


async def test_an_operation_and_its_steps_survive_a_new_store_instance(
    new_store: Factory, tmp_path: Path
) -> None:
    first, second = new_store(), new_store()
    journal = StoreJournal(first)
    record = await journal.create("rotate_credential", {"credential_id": 1}, {"steps": []})
    step = StepRecord(0, "probe", {"op": "probe_credential"}, None, "started")
    await journal.put_step(record.id, step)
    step.status, step.result = "done", {"ok": True}
    await journal.put_step(record.id, step)
    await journal.set_status(record.id, "completed", note="all good")

    again = await StoreJournal(second).get(record.id)
    assert again is not None
    assert (again.kind, again.status, again.note) == ("rotate_credential", "completed", "all good")
    assert again.arguments == {"credential_id": 1} and again.owner == this_process()
    assert [(s.name, s.status, s.result) for s in again.steps] == [("probe", "done", {"ok": True})]
    assert [r.id for r in await StoreJournal(second).recent(5)] == [record.id]
    assert await journal.get("op-000000000000") is None
    if isinstance(first, SQLiteStore):
        assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    for store in (first, second):
        await store.close()


async def test_of_twenty_concurrent_claims_over_three_connections_exactly_one_wins(
    new_store: Factory,
) -> None:
    """Replicas resuming the same interrupted operation at once: the database lets one take
    it over; every other claim is refused and changes nothing."""
    stores = [new_store() for _ in range(3)]
    journals = [StoreJournal(store) for store in stores]
    record = await journals[0].create("rotate_credential", {}, {"steps": []})
    # What each claimant read: an operation whose owner is gone.
    await stores[0].claim_operation(record.id, "gone-host:1:dead", record.owner, 1.0)
    seen = await journals[1].get(record.id)
    assert seen is not None and seen.owner == "gone-host:1:dead"
    outcomes: list[str] = []

    async def claim(n: int) -> None:
        copy = await journals[n % 3].get(record.id)
        assert copy is not None
        copy.owner = seen.owner  # as read before anyone claimed it
        try:
            await journals[n % 3].claim(copy)
            outcomes.append("claimed")
        except OperationTakenError:
            outcomes.append("taken")

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(claim, n)
    assert sorted(outcomes) == ["claimed"] + ["taken"] * 19
    now = await journals[2].get(record.id)
    assert now is not None and now.owner == this_process()
    for store in stores:
        await store.close()


async def test_only_an_operation_nobody_runs_is_interrupted(new_store: Factory) -> None:
    store = new_store()
    record = await StoreJournal(store).create("rotate_credential", {}, {"steps": []})
    await store.close()
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


_OLD_SCHEMA = """
CREATE TABLE operations (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
    arguments TEXT NOT NULL, plan TEXT NOT NULL, owner TEXT NOT NULL, note TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE steps (operation_id TEXT NOT NULL REFERENCES operations(id), seq INTEGER NOT NULL,
    name TEXT NOT NULL, action TEXT NOT NULL, undo TEXT, status TEXT NOT NULL, result TEXT,
    error TEXT, updated_at REAL NOT NULL, PRIMARY KEY (operation_id, seq));
"""


def old_journal(path: Path) -> None:
    """An ``operations.sqlite3`` as the journal wrote it before it moved into the store: one
    rotation interrupted after its first step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    plan = {"steps": [{"name": "pause 9001", "action": {"op": "pause"}, "undo": None}]}
    db.execute(
        "INSERT INTO operations VALUES ('op-old000000001', 'rotate_credential', 'running', ?, ?, "
        "'oldhost:1:dead', NULL, 100.0, 110.0)",
        (json.dumps({"credential_id": 5009}), json.dumps(plan)),
    )
    db.execute(
        "INSERT INTO steps VALUES ('op-old000000001', 0, 'pause 9001', '{\"op\":\"pause\"}', NULL, "
        "'done', '{\"id\":9001}', NULL, 110.0)"
    )
    db.commit()
    db.close()


async def test_the_old_journal_file_is_imported_once_then_renamed(
    new_store: Factory, tmp_path: Path
) -> None:
    legacy = tmp_path / "old-state" / LEGACY_JOURNAL_FILE
    old_journal(legacy)
    store = new_store()
    journal = StoreJournal(store, legacy=legacy)
    imported = await journal.get("op-old000000001")
    assert imported is not None
    assert (imported.status, imported.owner, imported.updated_at) == (
        "running", "oldhost:1:dead", 110.0,
    )  # fmt: skip
    assert imported.arguments == {"credential_id": 5009}
    assert [(s.name, s.status, s.result) for s in imported.steps] == [
        ("pause 9001", "done", {"id": 9001})
    ]
    assert not legacy.exists() and legacy.with_name(LEGACY_JOURNAL_FILE + ".imported").exists()

    # A second copy of the same file (another replica's directory): nothing is overwritten.
    await journal.set_status("op-old000000001", "rolled_back")
    old_journal(legacy)
    assert await StoreJournal(store, legacy=legacy).recent(5) != []
    again = await journal.get("op-old000000001")
    assert again is not None and again.status == "rolled_back"
    await store.close()


async def test_an_unreadable_old_journal_is_left_in_place_and_the_journal_works(
    tmp_path: Path,
) -> None:
    legacy = tmp_path / "state" / LEGACY_JOURNAL_FILE
    legacy.parent.mkdir()
    legacy.write_bytes(b"not a database at all, but long enough to have a header" * 4)
    store = SQLiteStore(tmp_path / "state")
    journal = StoreJournal(store, legacy=legacy)
    record = await journal.create("rotate_credential", {}, {"steps": []})
    assert [r.id for r in await journal.recent(5)] == [record.id]
    assert legacy.exists()
    await store.close()


async def test_an_unusable_state_dir_is_a_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    with pytest.raises(JournalError) as caught:
        await StoreJournal(SQLiteStore(blocker)).create("rotate_credential", {}, {})
    assert "NEXLA_MCP_STATE_DIR" in (caught.value.hint or "")
    assert STATE_FILE not in caught.value.message  # the type of failure, not the path


async def test_a_memory_journal_resumes_a_stored_operation_on_a_copy(tmp_path: Path) -> None:
    """Shadow writes resume a journaled operation in memory: the stored one stays as it was."""
    store = SQLiteStore(tmp_path)
    stored = await StoreJournal(store).create("rotate_credential", {}, {"steps": []})
    memory = MemoryJournal()
    await memory.claim(stored)
    await memory.set_status(stored.id, "rolled_back")
    shadow = await memory.get(stored.id)
    assert shadow is not None and shadow.status == "rolled_back"
    kept = await StoreJournal(store).get(stored.id)
    assert kept is not None and kept.status == "running"
    await store.close()
