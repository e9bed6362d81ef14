"""The state store's contract, on both engines: SQLite in a directory, PostgreSQL on the
session's server (a fresh database per test)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from nexla_mcp.state import OpenWrite, RateKey, Sealed, StateError, StateStore, store_for
from nexla_mcp.state.postgres import PostgresStore, redacted_url
from nexla_mcp.state.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

Factory = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """Makes stores on one shared location (each is a separate connection, as a replica's)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path)
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url)


@pytest.fixture
async def store(new_store: Factory) -> AsyncIterator[StateStore]:
    opened = new_store()
    await opened.open()
    yield opened
    await opened.close()


def sealer(tag: str) -> Callable[[int, str], Sealed]:
    """A stand-in for the audit log's sealing: the record names its place and predecessor."""
    return lambda seq, previous: Sealed(f"h{seq}", f"{tag}|{seq}|{previous}", f"m{seq}")


async def test_a_nonce_is_spent_once_even_by_fifty_concurrent_callers(
    new_store: Factory,
) -> None:
    """Fifty tasks over three connections: exactly one spends it; the rest see it spent."""
    stores = [new_store() for _ in range(3)]
    results: list[bool] = []

    async def spend(n: int) -> None:
        results.append(await stores[n % 3].spend_nonce("n1", expires_at=2_000_000_000, now=1.0))

    async with anyio.create_task_group() as group:
        for n in range(50):
            group.start_soon(spend, n)
    assert sorted(results) == [False] * 49 + [True]
    assert await stores[1].nonce_spent("n1") and not await stores[2].nonce_spent("n2")
    for store in stores:
        await store.close()


async def test_expired_nonces_are_forgotten(store: StateStore) -> None:
    """A nonce is kept until its token's expiry has passed, then dropped on the next spend."""
    assert await store.spend_nonce("old", expires_at=100, now=50)
    assert await store.spend_nonce("new", expires_at=500, now=200)
    assert not await store.nonce_spent("old")


async def test_the_rate_window_holds_across_connections_under_concurrency(
    new_store: Factory,
) -> None:
    """Twenty concurrent takes on a limit of five over two connections: five succeed."""
    stores = [new_store() for _ in range(2)]
    key = RateKey("server", 5, 60)
    waits: list[float | None] = []

    async def take(n: int) -> None:
        waits.append(await stores[n % 2].take_write_slot([key], now=1000.0 + n / 100))

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(take, n)
    assert waits.count(None) == 5
    assert await stores[0].write_wait([key], now=1001.0) is not None
    assert await stores[1].write_wait([key], now=1061.0) is None
    for store in stores:
        await store.close()


async def test_a_write_is_counted_under_every_key_or_none(store: StateStore) -> None:
    """A take refused by one key (the user's) is not counted under the other (the server's)."""
    server, user = RateKey("server", 10, 60), RateKey("principal:a", 1, 60)
    assert await store.take_write_slot([server, user], now=0.0) is None
    assert await store.take_write_slot([server, user], now=1.0) == pytest.approx(59)
    for n in range(9):
        assert await store.take_write_slot([server], now=2.0 + n) is None
    assert await store.take_write_slot([server], now=20.0) is not None


async def test_concurrent_audit_appends_make_one_gapless_chain(new_store: Factory) -> None:
    """Thirty appends over three connections at once: seq 1..30, each sealed with its
    predecessor's hash, and the head on the last."""
    stores = [new_store() for _ in range(3)]
    async with anyio.create_task_group() as group:
        for n in range(30):
            group.start_soon(stores[n % 3].append_audit, sealer(f"t{n}"))
    rows = await stores[0].audit_rows()
    assert [row.seq for row in rows] == list(range(1, 31))
    assert [row.record.split("|")[2] for row in rows] == ["", *(f"h{n}" for n in range(1, 30))]
    head = await stores[1].audit_head()
    assert head is not None and (head.count, head.hash, head.mac) == (30, "h30", "m30")
    assert [row.seq for row in await stores[2].audit_rows(after_seq=28, limit=5)] == [29, 30]
    for store in stores:
        await store.close()


async def test_the_schema_is_created_once_and_reopening_keeps_the_data(
    new_store: Factory,
) -> None:
    """Opening again (a restart) migrates nothing away."""
    first = new_store()
    await first.append_audit(sealer("a"))
    await first.close()
    again = new_store()
    await again.open()
    assert [row.seq for row in await again.audit_rows()] == [1]
    await again.ping()
    await again.close()


def _open_sqlite(state_dir: str) -> str | None:
    """Open the SQLite store in ``state_dir`` (in a pool process); the error, if any."""
    try:
        SQLiteStore(Path(state_dir))._connect()
    except StateError as error:
        return str(error)
    return None


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Six processes open each of 150 new stores together, as replicas sharing a directory do
    when they start: SQLite refuses a second switch to WAL at once, without waiting, and
    before the store waited for it, this failed "database is locked" in three runs of three
    on two cores (and the suite's concurrency tests now and then, under load)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(6) as pool:
        errors = [
            error
            for n in range(150)
            for error in pool.map(_open_sqlite, [str(tmp_path / str(n))] * 6)
            if error
        ]
    assert errors == []


async def test_an_unreachable_store_is_a_state_error(tmp_path: Path) -> None:
    """No server on the port, or a directory that cannot be made: StateError, with the
    password kept out of the message."""
    with pytest.raises(StateError) as raised:
        await PostgresStore("postgresql://u:hunter2@127.0.0.1:9/db", connect_timeout_s=0.5).open()
    assert "hunter2" not in str(raised.value) and "u:***@" in str(raised.value)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError):
        await SQLiteStore(blocker / "state").ping()


def test_the_engine_follows_the_settings(tmp_path: Path) -> None:
    """SQLite in the state directory by default; PostgreSQL for a URL."""
    assert store_for(tmp_path).location == str(tmp_path / "state.db")
    assert store_for(tmp_path, "postgresql://x@h/db").engine == "postgresql"
    assert redacted_url("postgresql://me:pw@h:5432/db") == "postgresql://me:***@h:5432/db"


def test_a_stdio_server_on_sqlite_never_imports_psycopg(tmp_path: Path) -> None:
    """The driver stays out of the default start-up path: build a server, open its store."""
    code = (
        "import sys, anyio\n"
        "from nexla_mcp.settings import Settings\n"
        "from nexla_mcp.server.app import build_server\n"
        f"server = build_server(Settings(sandbox=True, state_dir={str(tmp_path)!r}))\n"
        "anyio.run(server.state_store.open)\n"
        "print('psycopg' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


async def test_an_open_write_is_kept_for_its_window_and_settled_by_exactly_one_caller(
    new_store: Factory,
) -> None:
    """Remembered under its key until settled or too old; of ten concurrent settlements over
    two connections, one removes it."""
    stores = [new_store() for _ in range(2)]
    await stores[0].remember_open_write("pause_flow:a", OpenWrite("d1", "it timed out", 100.0), 0)
    await stores[0].remember_open_write("pause_flow:old", OpenWrite("d0", "lost", 10.0), 0)
    assert await stores[1].open_write("pause_flow:a", since=50.0) == OpenWrite(
        "d1", "it timed out", 100.0
    )
    assert await stores[1].open_write("pause_flow:a", since=150.0) is None  # too old to count
    await stores[1].remember_open_write("pause_flow:b", OpenWrite("d2", "lost", 200.0), 50.0)
    assert await stores[0].open_write("pause_flow:old", since=0.0) is None  # forgotten
    settled: list[bool] = []

    async def settle(n: int) -> None:
        settled.append(await stores[n % 2].settle_open_write("pause_flow:a"))

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(settle, n)
    assert sorted(settled) == [False] * 9 + [True]
    assert await stores[0].open_write("pause_flow:a", since=0.0) is None
    assert await stores[0].open_write("pause_flow:b", since=0.0) is not None
    for store in stores:
        await store.close()
